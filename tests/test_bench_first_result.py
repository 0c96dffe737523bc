"""tools/bench_first_result.py: the frame it times is a real estimate input, the table and JSON it reports, and
(slow) a whole run of the CLI with and without stored samplers."""

import importlib.util
import json
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(repo_root):
    sys.path.insert(0, str(repo_root / "tools"))  # the tool imports bench_sampler as the script would
    try:
        path = repo_root / "tools" / "bench_first_result.py"
        spec = importlib.util.spec_from_file_location("bench_first_result", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(repo_root / "tools"))
    return module


def test_example_frame_is_a_keypoint_input_with_the_missing_joint_skipped(bench, tmp_path):
    from posediff_jax.commands.estimate import evidence_from_npz
    from posediff_jax.skeleton import JOINT_NAMES

    frame = bench.write_example_frame(tmp_path / "frame.npz")
    evidence, energy = evidence_from_npz(frame, "heatmap", 2.0, 2.0)
    assert energy == "heatmap"
    weights = np.asarray(evidence.joint_weights)
    assert weights.shape == (1, 17)
    assert weights[0, JOINT_NAMES.index("Spine")] == 0.0  # MPII detections have no spine
    assert np.all(np.delete(weights[0], JOINT_NAMES.index("Spine")) == 1.0)


def test_table_reports_both_settings_and_their_medians(bench):
    rows = [{"guidance_repeats": 3, "traced_seconds": [8.0, 9.0, 7.0], "stored_seconds": [6.0, 6.5, 5.5],
             "traced_median": 8.0, "stored_median": 6.0}]
    table = bench.format_table(rows)
    assert "| 3 | 8.00 / 9.00 / 7.00 | 6.00 / 6.50 / 5.50 | 8.00 -> 6.00 s |" in table


def test_failed_run_raises_with_its_error(bench, tmp_path):
    command = bench.estimate_command(tmp_path / "missing.npz", tmp_path / "out.npz", 2, 2, 1)
    with pytest.raises(RuntimeError, match="not found"):
        bench.timed_run(command, tmp_path / "cache", export=True)


@pytest.mark.slow
def test_whole_run_writes_the_record(bench, tmp_path):
    output = tmp_path / "first_result.json"
    assert bench.main(["--rounds", "1", "--guidance-repeats", "1", "--hypotheses", "2", "--steps", "2",
                       "--output", str(output)]) == 0
    record = json.loads(output.read_text())
    (row,) = record["rows"]
    assert row["guidance_repeats"] == 1 and len(row["traced_seconds"]) == len(row["stored_seconds"]) == 1
    assert row["traced_median"] > 0 and row["stored_median"] > 0
    assert record["machine"]["cpu_count"] >= 1 and record["date_utc"]
