"""Multi-process data-parallel training (#13.4): 2 processes x 2 CPU devices through `jax.distributed`.

Each process is a separate Python interpreter that joins a coordinator on 127.0.0.1 (JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID; cross-process collectives on CPU are gloo, JAX's default), exactly as one
process per host would on a pod. What this proves:
- the per-step loss curve (metrics.jsonl) of 2 processes x 2 devices equals that of 1 process x 4 devices: each
  process feeds its slice of the same global batch (`PoseBatchIterator` + `make_array_from_process_local_data`),
  the mean over the global batch is all-reduced across processes, and only process 0 writes files;
- that 2-process run, stopped after k steps (as a pre-emption would: checkpoint written jointly to the shared
  workdir), resumes in 1 process; the resumed steps' losses and the final parameters equal the uninterrupted
  1-process run's.
One 2-process run covers steps 1..k and its 1-process continuation steps k+1..N, which keeps the test to three
interpreters; a persistent compilation cache shared by them saves compiling the same programs twice.
Augmentation is on: its draws are made on the devices for the global batch (`data/device_augment.py`, a
partitionable PRNG), so they do not depend on how many processes or devices share the batch.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "tiny.py")
NUM_STEPS, STOP_AT = 8, 5
OVERRIDES = [f"training.num_steps={NUM_STEPS}", "training.log_every=1", "training.checkpoint_every=4",
             "data.synthetic_count=400", "eval.num_poses=32", "eval.num_samples=8",
             "eval.sampler_steps=2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(code: str, num_processes: int, devices_per_process: int, cache_dir, timeout: int = 240) -> None:
    """Runs `code` in `num_processes` Python processes joined by `jax.distributed` (when more than one)."""
    port = free_port()
    processes = []
    for index in range(num_processes):
        env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO), JAX_DISABLE_MOST_OPTIMIZATIONS="1",
                   XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}",
                   JAX_COMPILATION_CACHE_DIR=str(cache_dir), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
        if num_processes > 1:
            env.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(num_processes),
                       JAX_PROCESS_ID=str(index))
        processes.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [process.communicate(timeout=timeout) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for index, (process, (_, stderr)) in enumerate(zip(processes, outputs)):
        assert process.returncode == 0, f"process {index}/{num_processes}:\n{stderr[-3000:]}"


def train_code(runs, expected_processes: int, expected_devices: int) -> str:
    """Code running `train_and_evaluate` for each `(workdir, stop_after_steps)` in `runs`, in order."""
    return f"""
        from posediff_jax.training.config_schema import load_config
        from posediff_jax.training.train import train_and_evaluate
        config = load_config({TINY!r}, {OVERRIDES!r})
        for workdir, stop_after in {runs!r}:
            metrics = train_and_evaluate(config, workdir, stop_after_steps=stop_after)
            import jax
            assert jax.process_count() == {expected_processes} and jax.device_count() == {expected_devices}
            assert metrics['step'] == ({NUM_STEPS} if stop_after is None else stop_after), metrics
    """


def losses(workdir) -> dict:
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return {record["step"]: record["loss"] for record in records if "loss" in record}


def flat_export(workdir):
    with np.load(workdir / "export" / "params.npz") as data:
        return np.concatenate([np.ravel(data[name]) for name in sorted(data.files)])


def test_two_processes_match_one_process_and_resume_in_one(tmp_path):
    single, resumed = tmp_path / "single", tmp_path / "resumed"
    cache = tmp_path / "xla_cache"
    # 2 processes x 2 devices: stopped after STOP_AT steps (as if killed; the checkpoint is written jointly).
    launch(train_code([(str(resumed), STOP_AT)], 2, 4), num_processes=2, devices_per_process=2, cache_dir=cache)
    assert not (resumed / "export").exists()
    saved = sorted(int(p.name) for p in (resumed / "checkpoints").iterdir() if p.name.isdigit())
    assert saved[-1] == STOP_AT
    two_processes = losses(resumed)
    assert sorted(two_processes) == list(range(1, STOP_AT + 1))  # process 0 alone wrote, once per step
    # 1 process x 4 devices: the uninterrupted reference run, then the 2-process run resumed from step STOP_AT.
    launch(train_code([(str(single), None), (str(resumed), None)], 1, 4), num_processes=1, devices_per_process=4,
           cache_dir=cache)

    reference, after_resume = losses(single), losses(resumed)
    assert sorted(reference) == sorted(after_resume) == list(range(1, NUM_STEPS + 1))
    steps = sorted(reference)
    assert len(set(np.round([reference[s] for s in steps], 6))) > 1  # a curve, not a constant
    # Steps 1..STOP_AT from 2 processes, STOP_AT+1..NUM_STEPS from 1 process after the resume.
    np.testing.assert_allclose([after_resume[s] for s in steps], [reference[s] for s in steps], rtol=1e-5)
    np.testing.assert_allclose(flat_export(resumed), flat_export(single), rtol=1e-4, atol=1e-6)
