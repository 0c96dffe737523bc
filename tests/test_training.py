"""Training: sharded == single-device step, kill + resume == uninterrupted, 4-device checkpoint -> 1 device."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import prior as prior_lib
from posediff_jax.training import checkpoint
from posediff_jax.training.config_schema import ConfigError, apply_overrides, default_config, load_config
from posediff_jax.training.train import train_and_evaluate  # noqa: F401  (in-process error checks)

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "tiny.py")


def run_python(code: str, devices: int, timeout: int = 300) -> str:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO), JAX_DISABLE_MOST_OPTIMIZATIONS="1",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    if os.environ.get("POSEDIFF_JAX_TEST_XLA_CACHE"):  # the run's shared XLA cache (conftest.py)
        env.update(JAX_COMPILATION_CACHE_DIR=os.environ["POSEDIFF_JAX_TEST_XLA_CACHE"],
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env=env, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def flat_params(params):
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(params)])


def test_sharded_step_matches_single_device_step():
    output = run_python("""
        import jax, json, numpy as np
        from posediff_jax.training.config_schema import load_config
        from posediff_jax.training import sharding, train_state
        from posediff_jax.training.train import make_train_step
        from posediff_jax.diffusion.losses import make_denoising_loss
        from posediff_jax.diffusion.schedules import VPSchedule
        from posediff_jax.normalization import compute_normalization_stats
        from posediff_jax.data.synthetic import synthetic_poses
        assert jax.device_count() == 4
        config = load_config('configs/tiny.py')
        poses = synthetic_poses(64, seed=3)
        network = train_state.make_network(config.model)
        optimizer = train_state.make_optimizer(config.training)
        loss_fn = make_denoising_loss(VPSchedule('cosine'))
        step = make_train_step(network, optimizer, loss_fn, compute_normalization_stats(poses), 0.99)
        state = train_state.create_train_state(network, optimizer, jax.random.PRNGKey(0))
        key = jax.random.PRNGKey(5)
        single_state, single_loss = jax.jit(step)(state, {'pose': poses[:32]}, key)
        mesh = sharding.make_data_mesh()
        rep, bat = sharding.replicated(mesh), sharding.batch_sharded(mesh)
        sharded = jax.jit(step, in_shardings=(rep, bat, rep), out_shardings=(rep, rep))
        batch = sharding.make_global_batch({'pose': poses[:32]}, mesh)
        assert len(batch['pose'].sharding.device_set) == 4
        sharded_state, sharded_loss = sharded(jax.device_put(state, rep), batch, key)
        flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])
        print(json.dumps({'loss': [float(single_loss), float(sharded_loss)],
                          'max_param_diff': float(np.abs(flat(single_state.params) - flat(sharded_state.params)).max()),
                          'max_update': float(np.abs(flat(single_state.params) - flat(state.params)).max())}))
    """, devices=4)
    result = json.loads(output.strip().splitlines()[-1])
    assert result["loss"][0] == pytest.approx(result["loss"][1], rel=1e-5)
    assert result["max_update"] > 1e-5  # the step changed the parameters
    assert result["max_param_diff"] < 1e-6 + 1e-3 * result["max_update"]


def test_killed_run_resumes_to_the_same_parameters_even_on_another_device_count(tmp_path):
    reference_dir, resumed_dir = tmp_path / "reference", tmp_path / "resumed"
    # On 4 devices: an uninterrupted reference run, and a run pre-empted after 7 steps (checkpoint at step 7).
    run_python(f"""
        import jax
        from posediff_jax.training.config_schema import load_config
        from posediff_jax.training.train import train_and_evaluate
        assert jax.device_count() == 4
        metrics = train_and_evaluate(load_config({TINY!r}), {str(reference_dir)!r})
        assert metrics['step'] == 20 and not metrics['stopped_early'], metrics
        metrics = train_and_evaluate(load_config({TINY!r}), {str(resumed_dir)!r}, stop_after_steps=7)
        assert metrics['step'] == 7 and metrics['stopped_early'], metrics
    """, devices=4)
    assert not (resumed_dir / "export").exists()
    assert max(int(p.name) for p in (resumed_dir / "checkpoints").iterdir() if p.name.isdigit()) == 7
    # Resumed on 1 device from the 4-device checkpoint.
    run_python(f"""
        import jax
        from posediff_jax.training.config_schema import load_config
        from posediff_jax.training.train import train_and_evaluate
        assert jax.device_count() == 1
        metrics = train_and_evaluate(load_config({TINY!r}), {str(resumed_dir)!r})
        assert metrics['step'] == 20 and not metrics['stopped_early'], metrics
    """, devices=1)
    reference = prior_lib.load_prior(reference_dir / "export")
    resumed = prior_lib.load_prior(resumed_dir / "export")
    np.testing.assert_allclose(flat_params(resumed.params), flat_params(reference.params), rtol=1e-4, atol=1e-6)
    initial = np.concatenate([np.ravel(v) for v in jax.tree.leaves(prior_lib.load_prior(resumed_dir).params)])
    assert np.abs(flat_params(reference.params)).max() > 0 and initial.size == flat_params(reference.params).size
    # The training workdir itself loads as a prior (latest Orbax checkpoint), same weights as the export.
    np.testing.assert_allclose(initial, flat_params(resumed.params), rtol=1e-6)
    records = [json.loads(line) for line in (resumed_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("examples_per_second" in record for record in records)
    evaluation = [record for record in records if "bone_length_deviation_mm" in record]
    assert evaluation and evaluation[-1]["step"] == 20 and np.isfinite(evaluation[-1]["eval_loss"])
    assert evaluation[-1]["data_asymmetry_mm"] < 1e-3  # synthetic skeletons are exactly symmetric


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_a_checkpoint_and_exits_128_plus_its_number(tmp_path, signum, code):
    """A pre-empted run is not a finished one to a scheduler: it saves its checkpoint, says in one line that it
    stopped early and that rerunning resumes, and exits 128 + the signal's number."""
    workdir = tmp_path / "run"
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO), JAX_DISABLE_MOST_OPTIMIZATIONS="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "posediff_jax", "train", "--config", TINY, "--workdir", str(workdir),
         "--config.training.num_steps=100000", "--config.training.log_every=1"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics_file = workdir / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics_file.exists() and metrics_file.read_text().count("\n") >= 3):
        time.sleep(0.2)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr[-2000:]
    result = json.loads(stdout[stdout.index("{"):])
    assert result["stopped_early"] and result["step"] >= 3 and result["stopped_by"] == signal.Signals(signum).name
    assert stderr.splitlines() == [f"posediff train: stopped early by {result['stopped_by']} at step {result['step']} "
                                   "of 100000, checkpoint saved; run the same command again to resume"]
    saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert saved[-1] == result["step"]


def test_unknown_config_keys_and_bad_overrides_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'training.num_step'"):
        load_config(TINY, ["--config.training.num_step=5"])
    with pytest.raises(ConfigError, match="unknown group 'trainig'"):
        load_config(TINY, ["trainig.num_steps=5"])
    bad_file = tmp_path / "bad.py"
    bad_file.write_text("from posediff_jax.training.config_schema import default_config\n"
                        "def get_config():\n    c = default_config()\n    c.training.learnin_rate = 1.0\n    return c\n")
    with pytest.raises(ConfigError, match="learnin_rate"):
        load_config(str(bad_file))
    config = apply_overrides(default_config(), ["training.num_steps=7", "data.train_subjects=['S1']",
                                                "training.learning_rate=1"])
    assert config.training.num_steps == 7 and config.data.train_subjects == ("S1",)
    assert isinstance(config.training.learning_rate, float)
    with pytest.raises(ConfigError, match="config file"):
        load_config(str(tmp_path / "missing.py"))
    with pytest.raises(ConfigError, match="steps_per_call: must be >= 1, got 0"):
        load_config(TINY, ["training.steps_per_call=0"])
    with pytest.raises(ConfigError, match="bone_scale_sigma"):
        load_config(TINY, ["data.bone_scale_sigma=-0.1"])
    assert load_config(TINY, ["--config.model.normalization=none"]).model.normalization == "none"
    with pytest.raises(ConfigError, match="config.model: .*normalization 'batch'"):
        load_config(TINY, ["--config.model.normalization=batch"])


def test_missing_data_dir_is_a_clear_error(tmp_path):
    config = load_config(TINY, ["data.source='h36m'", "data.manual_dir=''"])
    from posediff_jax.validation import PoseDiffError

    with pytest.raises(PoseDiffError, match="manual_dir"):
        train_and_evaluate(config, tmp_path / "run")
    config = load_config(TINY, ["data.source='h36m'", f"data.manual_dir='{tmp_path}'"])
    with pytest.raises(PoseDiffError, match="data_3d_h36m.npz"):
        train_and_evaluate(config, tmp_path / "run")


def _train_cli(capsys, workdir, *overrides):
    from posediff_jax import cli

    code = cli.main(["train", "--config", TINY, "--workdir", str(workdir), "--config.training.checkpoint_every=2",
                     "--config.eval.num_samples=8", "--config.eval.sampler_steps=2", *overrides])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_resume_progress_changed_config_and_corrupt_checkpoints(tmp_path, capsys, fast_compile):
    workdir = tmp_path / "run"
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=4")
    assert code == 0, err
    assert "resuming" not in out and "already finished" not in out  # a new run
    checkpoints = workdir / checkpoint.CHECKPOINT_DIR
    assert sorted(p.name for p in checkpoints.iterdir()) == ["2", "4"]  # each call of 2 steps ends at a save
    before = {path: path.read_bytes() for path in workdir.rglob("*") if path.is_file()}

    # A changed model or diffusion: exit 2 naming the keys, before anything in the workdir is written.
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=6", "--config.model.width=64",
                                "--config.diffusion.prediction_type=v")
    assert code == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert f"workdir {workdir} was trained with model.width=32, diffusion.prediction_type='epsilon'" in err
    assert "this config says model.width=64, diffusion.prediction_type='v'" in err and "new --workdir" in err
    # Other training data (another normalisation): also refused.
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=6",
                                "--config.data.synthetic_count=500")
    assert code == 2 and "normalisation" in err and "config.data" in err
    assert {path: path.read_bytes() for path in workdir.rglob("*") if path.is_file()} == before

    # Corrupt latest checkpoint: one warning naming it, set aside, resumed from step 2 and continued.
    (checkpoints / "4" / "default" / "_METADATA").write_text("junk{")
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=6")
    assert code == 0, err
    warnings_lines = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings_lines) == 1 and "checkpoint step 4" in warnings_lines[0] and "4.corrupt" in err
    assert f"{workdir}: resuming from step 2 of 6" in out
    assert json.loads(out[out.index("{"):])["step"] == 6
    assert sorted(p.name for p in checkpoints.iterdir()) == ["2", "4", "4.corrupt", "6"]
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=6")
    assert code == 0 and f"{workdir}: already finished at step 6" in out

    # No restorable checkpoint left: one line, exit 2.
    for step in ("2", "4", "6"):
        (checkpoints / step / "default" / "_METADATA").write_text("junk{")
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=8")
    assert code == 2 and "no checkpoint can be restored" in err and err.strip().count("\n") == 0


def test_distributed_arguments_come_from_the_environment():
    from posediff_jax.training import sharding
    from posediff_jax.validation import PoseDiffError

    assert sharding.distributed_arguments({}) == {}  # left to JAX's cluster detection (TPU pod, SLURM)
    assert sharding.distributed_arguments({"JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "2"}) == {
        "num_processes": 4, "process_id": 2}
    with pytest.raises(PoseDiffError, match="JAX_PROCESS_ID: expected an integer"):
        sharding.distributed_arguments({"JAX_PROCESS_ID": "first"})


def test_steps_per_call_changes_nothing_but_speed(tmp_path, fast_compile):
    """One step per compiled call and several (`lax.scan`) train on the same examples, augmentation and noise."""
    from posediff_jax.training.train import steps_until_next_event

    results = {}
    for steps_per_call in (1, 4):
        workdir = tmp_path / f"per_call_{steps_per_call}"
        config = load_config(TINY, ["training.num_steps=9", f"training.steps_per_call={steps_per_call}",
                                    "eval.num_samples=8", "eval.sampler_steps=2"])
        train_and_evaluate(config, workdir)
        records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        results[steps_per_call] = ({r["step"]: r["loss"] for r in records if "loss" in r},
                                   flat_params(prior_lib.load_prior(workdir / "export").params))
    (losses_one, params_one), (losses_four, params_four) = results[1], results[4]
    assert sorted(losses_one) == sorted(losses_four) == [5, 9]  # log_every 5 and the last step
    np.testing.assert_allclose([losses_four[s] for s in (5, 9)], [losses_one[s] for s in (5, 9)], rtol=1e-6)
    np.testing.assert_allclose(params_four, params_one, rtol=1e-5, atol=1e-7)
    # Calls end at every logging / evaluation / checkpoint step and at the end.
    assert steps_until_next_event(0, 9, 4, (5, 20, 10)) == 4
    assert steps_until_next_event(4, 9, 4, (5, 20, 10)) == 1
    assert steps_until_next_event(5, 9, 50, (5, 20, 10)) == 4
    assert steps_until_next_event(8, 100, 50, (5, 20, 3)) == 1


def test_bfloat16_training_step_rounds_products_and_keeps_float32_state(fast_compile):
    """`config.training.matmul_dtype='bfloat16'`: the step's products (forward, input and kernel gradients) take
    bfloat16 operands; parameters, optimizer state and loss stay float32, and one step moves the parameters as the
    float32 step does up to rounding. An unknown value is a config error."""
    from posediff_jax.data.synthetic import synthetic_poses
    from posediff_jax.diffusion.losses import make_denoising_loss
    from posediff_jax.diffusion.schedules import VPSchedule
    from posediff_jax.normalization import compute_normalization_stats
    from posediff_jax.training import train_state
    from posediff_jax.training.train import make_train_step

    config = load_config("configs/tiny.py")
    poses = synthetic_poses(32, seed=4)
    network = train_state.make_network(config.model)
    optimizer = train_state.make_optimizer(config.training)
    state = train_state.create_train_state(network, optimizer, jax.random.PRNGKey(0))
    steps = {dtype: jax.jit(make_train_step(network, optimizer, make_denoising_loss(VPSchedule("cosine")),
                                            compute_normalization_stats(poses), 0.99, matmul_dtype=dtype))
             for dtype in ("float32", "bfloat16")}
    arguments = (state, {"pose": poses}, jax.random.PRNGKey(1))
    text = steps["bfloat16"].lower(*arguments).as_text()
    dots = [line.split(":")[-1] for line in text.splitlines() if "dot_general" in line]
    assert dots and all("bf16>" in types for types in dots), dots  # every product of the network, both ways
    assert "bf16" not in steps["float32"].lower(*arguments).as_text()
    (new_float32, loss_float32), (new_bfloat16, loss_bfloat16) = (steps[d](*arguments) for d in steps)
    assert loss_bfloat16.dtype == jnp.float32
    assert float(loss_bfloat16) == pytest.approx(float(loss_float32), rel=2e-2)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves((new_bfloat16.params, new_bfloat16.opt_state))
               if jnp.issubdtype(leaf.dtype, jnp.floating))
    update_float32 = flat_params(new_float32.params) - flat_params(state.params)
    update_bfloat16 = flat_params(new_bfloat16.params) - flat_params(state.params)
    assert np.abs(update_float32).max() > 1e-5
    # Adam normalises each update, so rounding flips at most a small share of the tiny ones.
    assert np.corrcoef(update_float32, update_bfloat16)[0, 1] > 0.9
    with pytest.raises(ConfigError, match="matmul_dtype"):
        load_config("configs/tiny.py", ["--config.training.matmul_dtype=float16"])


def test_bfloat16_training_runs_sharded_over_devices(tmp_path):
    """The training loop's batch is split over the 'data' axis (explicit shardings): the bfloat16 kernel gradient,
    summed over that axis, comes out replicated like the parameters, and the run finishes with finite losses."""
    output = run_python(f"""
        import jax, json, numpy as np
        from posediff_jax.training.config_schema import load_config
        from posediff_jax.training.train import train_and_evaluate
        assert jax.device_count() == 2
        config = load_config({TINY!r}, ["--config.training.matmul_dtype=bfloat16",
                                        "--config.training.progress_bar=False"])
        metrics = train_and_evaluate(config, {str(tmp_path / 'run')!r}, stop_after_steps=6)
        print(json.dumps({{"step": metrics["step"], "loss": metrics["loss"]}}))
    """, devices=2)
    result = json.loads(output.strip().splitlines()[-1])
    assert result["step"] == 6 and np.isfinite(result["loss"])


def test_a_run_that_failed_before_training_leaves_no_prior_json(tmp_path, capsys, monkeypatch, fast_compile):
    """prior.json is written once the workdir holds this model's weights, so a failed first run does not lock
    the workdir to its config, and restoring checkpoints of another model does not leave a wrong prior.json."""
    from posediff_jax.training import train as train_module

    workdir = tmp_path / "run"

    def broken_build(*args, **kwargs):
        raise train_module.PoseDiffError("the network failed to build")

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "jit_train_steps", broken_build)
        code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=2", "--config.model.width=16")
    assert code == 2 and "failed to build" in err
    assert not (workdir / prior_lib.PRIOR_JSON).exists()
    # The corrected config trains in the same workdir: the failed run did not lock it to its model.width.
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=2")
    assert code == 0, err
    assert (workdir / prior_lib.PRIOR_JSON).is_file()

    # Checkpoints without their prior.json, resumed with another width: nothing restores, no prior.json is left.
    (workdir / prior_lib.PRIOR_JSON).unlink()
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=4", "--config.model.width=64")
    assert code == 2 and "no checkpoint can be restored" in err
    assert not (workdir / prior_lib.PRIOR_JSON).exists()
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=4")
    assert code == 0 and f"{workdir}: resuming from step 2 of 4" in out
    assert prior_lib.read_prior_description(workdir)["model"]["width"] == 32


def test_a_second_trainer_on_a_held_workdir_is_refused_in_one_line(tmp_path, capsys, fast_compile):
    """While a `posediff train` runs in a workdir (it holds the workdir's lock), a second one there is refused in
    one line; once the first is gone, crashed included (SIGKILL: no cleanup runs), the workdir trains again."""
    workdir = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "posediff_jax", "train", "--config", TINY, "--workdir", str(workdir),
         "--config.training.num_steps=100000", "--config.training.log_every=1"], cwd=REPO,
        env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO), JAX_DISABLE_MOST_OPTIMIZATIONS="1"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (workdir / "metrics.jsonl").exists():
            time.sleep(0.2)
        assert first.poll() is None
        code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=3")
        assert code == 2
        assert err == (f"posediff train: error: --workdir {workdir}: another `posediff train` is running in it "
                       f"({checkpoint.LOCK_FILE} is locked); wait for it to end, or use another --workdir\n")
    finally:
        first.kill()
        first.wait()
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=2")
    assert code == 0, err


def test_an_evaluation_results_folder_is_refused_as_a_workdir(tmp_path, capsys):
    workdir = tmp_path / "evaluation"
    workdir.mkdir()
    (workdir / "results.json").write_text("{}")
    (workdir / "run.json").write_text("{}")
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=2")
    assert code == 2
    assert err == (f"posediff train: error: --workdir {workdir}: holds an evaluation's results (results.json, "
                   "run.json), not a training run; use another --workdir\n")
    assert sorted(path.name for path in workdir.iterdir()) == ["results.json", "run.json"]


def _tmpfs_available(mount_point) -> bool:
    """Whether this user may mount a small tmpfs in a private user and mount namespace (`unshare -rm`)."""
    try:
        return subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


FULL_DISK_SCRIPT = """
    import hashlib, json, os, pathlib, shutil, subprocess, sys
    disk, copy = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], check=True)
    workdir, checkpoints = disk / "run", disk / "run" / "checkpoints"

    def train(num_steps):
        result = subprocess.run([sys.executable, "-m", "posediff_jax", "train", "--config", {tiny!r}, "--workdir",
                                 str(workdir), *{overrides!r}, f"--config.training.num_steps={{num_steps}}"],
                                capture_output=True, text=True)
        return result.returncode, result.stdout, result.stderr

    def digest(folder):
        return {{str(path.relative_to(folder)): hashlib.sha1(path.read_bytes()).hexdigest()
                for path in sorted(folder.rglob("*")) if path.is_file()}}

    report = {{"first": train(2)[0]}}
    step_2 = digest(checkpoints / "2")
    with open(disk / "filler", "wb") as filler:  # leaves ~100 kB: too little for the next checkpoint
        filler.write(bytes(shutil.disk_usage(disk).free - 100 * 1024))
    report["full"] = train(6)
    report["left"] = sorted(path.name for path in checkpoints.iterdir())
    report["step_2_intact"] = digest(checkpoints / "2") == step_2
    (disk / "filler").unlink()
    report["resumed"] = train(6)
    shutil.copytree(workdir / "export", copy)
    print(json.dumps(report))
"""


FULL_DISK_OVERRIDES = ["--config.training.checkpoint_every=2", "--config.training.log_every=2",
                       "--config.eval.num_samples=8", "--config.eval.sampler_steps=2",
                       "--config.training.eval_every=1000"]
FULL_DISK_ENV = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO), JAX_DISABLE_MOST_OPTIMIZATIONS="1")


@pytest.fixture(scope="module")
def trained_2_then_6_steps(tmp_path_factory):
    """The export of 2 steps trained, then resumed to 6 with nothing failing (the schedule follows num_steps)."""
    workdir = tmp_path_factory.mktemp("reference") / "run"
    for num_steps in (2, 6):
        subprocess.run([sys.executable, "-m", "posediff_jax", "train", "--config", TINY, "--workdir", str(workdir),
                        *FULL_DISK_OVERRIDES, f"--config.training.num_steps={num_steps}"], check=True,
                       capture_output=True, env=FULL_DISK_ENV, cwd=REPO)
    return workdir / "export"


@pytest.mark.parametrize("async_checkpointing", [True, False])
def test_a_full_disk_ends_training_in_one_line_and_the_rerun_resumes_exactly(tmp_path, async_checkpointing,
                                                                             trained_2_then_6_steps):
    """On a real full filesystem (a 3 MB tmpfs in a private namespace, where the platform allows): one error line
    naming the problem, exit 2, no unfinished `*.orbax-checkpoint-tmp` folder, the previous checkpoint unchanged;
    once space is freed the rerun resumes from it to the parameters of a run that never failed."""
    if not _tmpfs_available(tmp_path):
        pytest.skip("no tmpfs mount in a user namespace here (test_a_simulated_full_disk covers the handling)")
    (tmp_path / "disk").mkdir()
    overrides = [*FULL_DISK_OVERRIDES, f"--config.training.async_checkpointing={async_checkpointing}"]
    script = textwrap.dedent(FULL_DISK_SCRIPT).format(tiny=TINY, overrides=overrides)
    env = FULL_DISK_ENV
    result = subprocess.run(["unshare", "-rm", sys.executable, "-c", script, str(tmp_path / "disk"),
                             str(tmp_path / "resumed")], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["first"] == 0
    code, _, err = report["full"]
    assert code == 2 and err == (f"posediff train: error: --workdir {tmp_path / 'disk' / 'run'}: no space left on "
                                 "device; checkpoint step 2 is intact: free some space and run the same command "
                                 "again to resume\n"), err[-3000:]
    assert report["left"] == ["2"] and report["step_2_intact"]
    code, out, err = report["resumed"]
    assert code == 0 and "resuming from step 2 of 6" in out, err[-3000:]
    np.testing.assert_array_equal(flat_params(prior_lib.load_prior(tmp_path / "resumed").params),
                                  flat_params(prior_lib.load_prior(trained_2_then_6_steps).params))


def test_a_simulated_full_disk_ends_training_in_one_line_without_leftovers(tmp_path, capsys, monkeypatch,
                                                                           fast_compile):
    """The same handling where no tmpfs can be mounted: TensorStore's full-disk error (a `ValueError` saying errno
    28) in a checkpoint save, and a full-disk `OSError` in a plain write, each end the run in one line with the
    unfinished step removed and the previous one kept."""
    import errno

    from posediff_jax.training import train as train_module

    workdir = tmp_path / "run"
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=2")
    assert code == 0, err
    real_save = checkpoint.save_state

    def save_on_a_full_disk(manager, step, state, **kwargs):
        if step < 4:
            return real_save(manager, step, state, **kwargs)
        (workdir / "checkpoints" / f"{step}{checkpoint.TMP_SUFFIX}" / "default").mkdir(parents=True)
        raise ValueError(f'RESOURCE_EXHAUSTED: Error writing local file "{workdir}/checkpoints/{step}": '
                         "Failed to write 487 bytes to file 14: No space left on device [os_error_code='28']")

    def metrics_on_a_full_disk(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for name, replacement, kept in (("save_state", save_on_a_full_disk, ["2"]),
                                    ("write_metrics", metrics_on_a_full_disk, ["2", "4"])):  # fails at step 5
        with monkeypatch.context() as patch:
            patch.setattr(checkpoint if name == "save_state" else train_module, name, replacement)
            code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=6")
        assert code == 2 and err == (f"posediff train: error: --workdir {workdir}: no space left on device; checkpoint "
                                     f"step {kept[-1]} is intact: free some space and run the same command again to "
                                     "resume\n"), err
        assert sorted(path.name for path in (workdir / "checkpoints").iterdir()) == kept
    code, out, err = _train_cli(capsys, workdir, "--config.training.num_steps=6")
    assert code == 0 and f"{workdir}: resuming from step 4 of 6" in out, err
