"""tools/bench_train.py: a one-device run of training's loop records the machine and its row."""

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_bench_train_records_machine_and_rows(tmp_path):
    output = tmp_path / "bench_train.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "bench_train.py"), "--devices", "1", "--steps", "2",
         "--global-batch-size", "16", "--width", "32", "--depth", "1", "--steps-per-call", "2",
         "--output", str(output)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(output.read_text())
    assert record["machine"]["cpu_model"] and record["machine"]["cpu_count"] >= 1
    assert record["machine"]["versions"]["jax"] and record["date"] and "--devices 1" in record["command"]
    assert len(record["load_average_end"]) == 3
    (row,) = record["rows"]
    assert row["devices"] == 1 and row["global_batch_size"] == 16 and row["examples_per_second"] > 0
    assert row["steps_per_call"] == 2 and row["steps"] == 2  # whole calls
