"""tools/bench_first_result.py: the frame it times is a real estimate input, the table and JSON it reports, and
(slow) a whole run of the CLI with and without stored samplers."""

import json
import pathlib
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_tool):
    return load_tool("bench_first_result")


def test_example_frame_is_a_keypoint_input_with_the_missing_joint_skipped(bench, tmp_path):
    from posediff_jax.commands.estimate import evidence_from_npz
    from posediff_jax.skeleton import JOINT_NAMES

    frame = bench.write_example_frame(tmp_path / "frame.npz")
    evidence, energy, _ = evidence_from_npz(frame, "heatmap", 2.0, 2.0)
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


def test_baseline_checkout_is_timed_interleaved_in_its_own_cache(bench, tmp_path, monkeypatch):
    calls = []

    def fake_run(command, cache_dir, export, source=None, cwd=None):
        assert cwd == tmp_path  # the work folder, never a checkout (see test_baseline_source_package_is_the_one_run)
        calls.append((pathlib.Path(cache_dir), export, source))
        return {None: 3.0, "old": 4.0}[source] + (0.0 if export else 1.0)

    monkeypatch.setattr(bench, "timed_run", fake_run)
    (row,) = bench.run_benchmark([1], 2, 2, 2, tmp_path / "cache", tmp_path, log=lambda _: None,
                                 baseline_source="old")
    settings = [(tmp_path / "cache", False, None), (tmp_path / "cache", True, None),
                (tmp_path / "cache" / "baseline", True, "old")]
    assert calls == settings * 3  # one warm-up, then two rounds, each running every setting once
    assert row["baseline_seconds"] == [4.0, 4.0] and row["stored_median"] == 3.0 and row["traced_median"] == 4.0
    assert "| 1 | 4.00 / 4.00 | 3.00 / 3.00 | 4.00 -> 3.00 s | 4.00 / 4.00 | 4.00 -> 3.00 s |" in bench.format_table(
        [row])


def test_baseline_source_package_is_the_one_run(bench, tmp_path, repo_root, monkeypatch):
    """Started from this checkout (where `python -m` would find its own package first), a run with `source`
    imports the package in `source`: here a stand-in whose `python -m posediff_jax` fails on purpose."""
    package = tmp_path / "other" / "posediff_jax"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("raise SystemExit('the other checkout ran')")
    monkeypatch.chdir(repo_root)
    command = [sys.executable, "-m", "posediff_jax", "--help"]
    assert bench.timed_run(command, tmp_path / "cache", export=True, cwd=tmp_path) > 0  # the installed package
    with pytest.raises(RuntimeError, match="the other checkout ran"):
        bench.timed_run(command, tmp_path / "cache", export=True, source=tmp_path / "other", cwd=tmp_path)


def test_baseline_source_without_a_package_is_refused(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--baseline-source", str(tmp_path)])


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
