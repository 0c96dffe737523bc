"""Sharded evaluation: several processes share one workdir, each computing its own batches
(`config.num_shards`, `config.shard_index`; evaluation/evaluate.py, results_store.py)."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from posediff_jax import io_utils
from posediff_jax.evaluation import evaluate, results_store
from posediff_jax.prior.gaussian import make_gaussian_prior

from test_evaluation import synthetic_frames, tiny_config


def sharded(index, count):
    config = tiny_config()
    config.num_shards, config.shard_index = count, index
    return config


def test_shards_compute_their_own_batches_and_the_last_one_writes_the_unsharded_result(tmp_path, fast_compile):
    frames, prior, lines = synthetic_frames(), make_gaussian_prior(), []
    whole = evaluate.evaluate(tiny_config(), workdir=tmp_path / "whole", prior=prior, frames=frames, progress=False,
                              log=lines.append)
    workdir = tmp_path / "shared"
    first = evaluate.evaluate(sharded(0, 2), workdir=workdir, prior=prior, frames=frames, progress=False,
                              log=lines.append)
    # 5 frames in batches of 2: batches 0 and 2 are shard 0's; batch 1 is missing, so no report yet.
    assert first["batches_computed"] == 2 and first["missing_batches"] == [1] and first["summary"] is None
    assert sorted(path.name for path in (workdir / "batches").iterdir()) == ["batch_000000.npz", "batch_000002.npz"]
    assert not (workdir / "results.json").exists() and "no report was written" in lines[-1]
    second = evaluate.evaluate(sharded(1, 2), workdir=workdir, prior=prior, frames=frames, progress=False,
                               log=lines.append)
    assert second["batches_computed"] == 1 and (workdir / "results.json").exists()
    for name, values in whole["per_frame"].items():  # keys per batch index: equal to the bit
        np.testing.assert_array_equal(second["per_frame"][name], values, err_msg=name)
    assert second["markdown"] == whole["markdown"]
    # Any later run on the workdir (other shard settings included) recomputes nothing and reports.
    again = evaluate.evaluate(sharded(0, 3), workdir=workdir, prior=prior, frames=frames, progress=False,
                              log=lines.append)
    assert again["batches_computed"] == 0 and again["summary"]["overall"] == whole["summary"]["overall"]
    # The shard settings are not part of what is compared on resume; the sampler settings still are.
    changed = sharded(1, 2)
    changed.sampler.num_steps = 3
    with pytest.raises(results_store.WorkdirMismatchError, match=r"config\.sampler\.num_steps"):
        evaluate.evaluate(changed, workdir=workdir, prior=prior, frames=frames, progress=False, log=lines.append)


def test_run_file_is_created_by_exactly_one_of_several_simultaneous_starts(tmp_path):
    path = tmp_path / "run.json"
    barrier, outcomes = threading.Barrier(8), {}

    def start(index):
        barrier.wait()
        outcomes[index] = io_utils.create_text_exclusively(path, f"writer {index}\n" * 1000)

    threads = [threading.Thread(target=start, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [index for index, created in outcomes.items() if created]
    assert len(winners) == 1 and path.read_text() == f"writer {winners[0]}\n" * 1000  # whole, never mixed
    assert io_utils.create_text_exclusively(path, "later") is False and path.read_text().startswith("writer")
    assert [entry.name for entry in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind
    assert path.stat().st_mode & 0o044 == 0o044  # the user's umask, not mkstemp's 0600


def test_two_processes_evaluate_one_workdir_and_one_writes_the_report(tmp_path, repo_root):
    """The command as a cluster would run it: two shards started together on one workdir."""
    from posediff_jax.data.fixtures import write_h36m_fixture

    manual = write_h36m_fixture(tmp_path / "manual", subjects=("S9",))
    workdir = tmp_path / "eval"
    common = [sys.executable, "-m", "posediff_jax.cli", "evaluate", "--config",
              str(repo_root / "configs" / "eval_h36m.py"), "--prior", "gaussian", "--workdir", str(workdir),
              "--no-progress", "--set", f"data.manual_dir={manual}", "--set", "data.cameras=()",
              "--set", "data.max_frames=12", "--set", "batch_size=2", "--set", "num_hypotheses=(1, 3)",
              "--set", "sampler.num_steps=2", "--set", "figure=False", "--set", "num_shards=2"]
    environment = dict(os.environ, JAX_PLATFORMS="cpu", POSEDIFF_JAX_CPU_DEVICES="1",
                       XLA_FLAGS="--xla_backend_optimization_level=0")
    processes = [subprocess.Popen(common + ["--set", f"shard_index={index}"], cwd=tmp_path, env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in (0, 1)]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
    reports = [out for out, _ in outputs if "wrote " in out]
    assert reports, outputs  # the shard that finished last (or both, finishing together)
    assert len(list((workdir / "batches").glob("batch_*.npz"))) == 6
    summary = json.loads((workdir / "results.json").read_text())["summary"]
    assert summary["num_frames"] == 12


@pytest.mark.parametrize("overrides, message", [
    ({"num_shards": 0}, "config.num_shards: expected a whole number >= 1"),
    ({"num_shards": 2, "shard_index": 2}, r"config.shard_index: expected 0..1 \(num_shards is 2\), got 2"),
    ({"shard_index": -1}, "config.shard_index: expected a whole number >= 0"),
    ({"num_shards": 2, "evaluator": "completion"}, "only the benchmark evaluator"),
])
def test_impossible_shard_settings_are_refused(overrides, message):
    from posediff_jax.config_files import ConfigError
    from posediff_jax.evaluation.config_schema import default_eval_config, validate_eval_config

    config = default_eval_config()
    config.update(overrides)
    with pytest.raises(ConfigError, match=message):
        validate_eval_config(config)
