import os
import subprocess
import sys

from posediff_jax import cli


def test_help_lists_the_available_commands(capsys):
    assert cli.main([]) == 0
    assert "usage: posediff" in capsys.readouterr().out


def test_console_entry_point_help_runs_in_a_fresh_process():
    result = subprocess.run([sys.executable, "-m", "posediff_jax", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "guided diffusion" in result.stdout


def test_xla_cpu_defaults_only_for_measured_versions_and_never_over_the_user():
    from posediff_jax import cli

    flag = "--xla_cpu_experimental_ynn_fusion_type=-reduce"
    assert cli.xla_cpu_default_flags("0.10.2", {}) == (flag,)
    assert cli.xla_cpu_default_flags("0.11.0", {}) == ()  # not measured there: an unknown flag aborts XLA
    assert cli.xla_cpu_default_flags("0.10.2", {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"}) == ()
    assert cli.xla_cpu_default_flags("0.10.2", {cli.XLA_DEFAULTS_ENV: "0"}) == ()
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    added = cli.apply_xla_cpu_defaults(environ)
    import jaxlib

    assert added == cli.xla_cpu_default_flags(jaxlib.__version__, {})
    assert environ["XLA_FLAGS"].split() == ["--xla_force_host_platform_device_count=4", *added]
    assert cli.apply_xla_cpu_defaults(environ) == ()  # idempotent


def test_xla_cpu_defaults_are_accepted_by_the_installed_jaxlib():
    """XLA aborts the process on a flag it does not know: the defaults for this jaxlib must run a computation."""
    from posediff_jax import cli

    environ = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    code = ("from posediff_jax import cli; import os; added = cli.apply_xla_cpu_defaults(); "
            "import jax.numpy as jnp; x = jnp.ones((8, 32)); print(float(((x - x.mean(-1, keepdims=True))**2).sum()), "
            "os.environ.get('XLA_FLAGS', ''))")
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "0.0"
    import jaxlib

    for flag in cli.xla_cpu_default_flags(jaxlib.__version__, {}):
        assert flag in result.stdout



def test_sampling_commands_get_one_single_threaded_cpu_device_per_core(monkeypatch, tmp_path, capsys):
    import pytest

    pair = ("--xla_force_host_platform_device_count=2", "--xla_cpu_multi_thread_eigen=false")
    assert cli.cpu_device_flags({}, cpu_count=2) == pair
    assert cli.cpu_device_flags({}, cpu_count=1) == ()  # one core: XLA's default
    assert cli.cpu_device_flags({}, cpu_count=64)[0] == f"--xla_force_host_platform_device_count={cli.MAX_CPU_DEVICES}"
    assert cli.cpu_device_flags({cli.CPU_DEVICES_ENV: "3"}, cpu_count=4)[0].endswith("=3")
    assert cli.cpu_device_flags({cli.CPU_DEVICES_ENV: "1"}, cpu_count=4) == ()
    # the user's own choices win: a device count, a threading setting, the switch for all XLA defaults
    assert cli.cpu_device_flags({"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}, cpu_count=2) == ()
    assert cli.cpu_device_flags({"JAX_NUM_CPU_DEVICES": "4"}, cpu_count=2) == ()
    assert cli.cpu_device_flags({"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"}, cpu_count=2) == pair[:1]
    assert cli.cpu_device_flags({cli.XLA_DEFAULTS_ENV: "0"}, cpu_count=2) == ()
    environ = {}
    added = cli.apply_xla_cpu_defaults(environ, one_device_per_core=True)
    assert (pair[1] in added) == (min(cli.usable_cpu_count(), cli.MAX_CPU_DEVICES) >= 2)
    assert cli.apply_xla_cpu_defaults({}) == cli.apply_xla_cpu_defaults({}, one_device_per_core=False)
    assert "train" not in cli.SAMPLING_COMMANDS
    assert cli.SAMPLING_COMMANDS == set(cli.COMMAND_MODULES) - {"train"}
    for value in ("two", "0", "-1"):
        with pytest.raises(cli.PoseDiffError, match=cli.CPU_DEVICES_ENV):
            cli.cpu_device_flags({cli.CPU_DEVICES_ENV: value})
    # at the command line a bad value is a one-line error, before anything runs
    monkeypatch.setenv(cli.CPU_DEVICES_ENV, "many")
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda *args: None)
    argv = ["estimate", "--input", str(tmp_path / "frame.npz"), "--output", str(tmp_path / "out.npz")]
    assert cli.main(argv, compilation_cache=True) == 2
    assert "POSEDIFF_JAX_CPU_DEVICES: expected a whole number" in capsys.readouterr().err


EXIT_SCRIPT = """
import atexit, pathlib, sys, threading, time
from posediff_jax import cli
folder = pathlib.Path(sys.argv[1])
atexit.register(lambda: (folder / "atexit").write_text("ran"))
def finish_late():
    time.sleep(0.3)
    (folder / "thread").write_text("done")
threading.Thread(target=finish_late).start()
sys.stdout.write("buffered, no newline")
cli.main = lambda: 3
cli.run_program()
(folder / "after").write_text("must not run")
"""


def test_the_program_exits_as_python_does(tmp_path):
    """`run_program` ends through Python's own exit: non-daemon threads (Orbax's, say) finish, atexit handlers run,
    buffered output is flushed, the exit code is kept."""
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "buffered, no newline"
    assert (tmp_path / "thread").read_text() == "done" and (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "after").exists()


def test_program_exit_codes_of_a_user_error_and_of_a_profiled_run(tmp_path):
    """`python -m posediff_jax` keeps main()'s exit code; under cProfile (which ends with code 0 after any
    SystemExit) the profile is still written."""
    missing = [sys.executable, "-m", "posediff_jax", "estimate", "--input", str(tmp_path / "missing.npz")]
    result = subprocess.run(missing, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "not found" in result.stderr
    profile = tmp_path / "profile.out"
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), *missing[1:]], capture_output=True,
                            text=True, timeout=120)
    assert "not found" in result.stderr and profile.stat().st_size > 0


def test_the_projects_own_warnings_are_one_line_and_others_keep_pythons_format(capsys):
    import warnings

    from posediff_jax.data.videopose3d import DatasetWarning
    from posediff_jax.evaluation.results_store import DamagedBatchWarning
    from posediff_jax.prior.workdir import CheckpointWarning

    import pytest

    with pytest.warns(RuntimeWarning, match="not ours"), cli.one_line_warnings("posediff evaluate"):
        for category in (CheckpointWarning, DatasetWarning, DamagedBatchWarning):
            warnings.warn(f"{category.__name__} says so", category)
        warnings.warn("not ours", RuntimeWarning)  # handed on to the warnings machinery outside (here pytest's)
    err = capsys.readouterr().err.splitlines()
    for name in ("CheckpointWarning", "DatasetWarning", "DamagedBatchWarning"):
        assert f"posediff evaluate: warning: {name} says so" in err
    assert not any("not ours" in line for line in err if line.startswith("posediff"))  # left to Python / pytest


def test_more_cpu_devices_than_cores_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    """Far more devices than cores stall in XLA's rendezvous for minutes, then abort with pages of C++ log."""
    import pytest

    with pytest.raises(cli.PoseDiffError, match="POSEDIFF_JAX_CPU_DEVICES=3: more devices than the 2 cores"):
        cli.cpu_device_flags({cli.CPU_DEVICES_ENV: "3"}, cpu_count=2)
    assert cli.cpu_device_flags({cli.CPU_DEVICES_ENV: "2"}, cpu_count=2)[0].endswith("=2")
    monkeypatch.setenv(cli.CPU_DEVICES_ENV, "1000")
    monkeypatch.setattr(cli, "usable_cpu_count", lambda: 2)
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda *args: None)
    argv = ["generate", "--output", str(tmp_path / "out.npz")]
    assert cli.main(argv, compilation_cache=True) == 2
    assert capsys.readouterr().err.strip() == ("posediff generate: error: $POSEDIFF_JAX_CPU_DEVICES=1000: more devices "
                                               "than the 2 cores this process may use; set 1 to 2, or unset it for one "
                                               "per core")
    assert not list(tmp_path.iterdir())


def test_a_backend_that_is_not_here_is_one_line(tmp_path):
    """JAX_PLATFORMS=cuda on a machine without a GPU: JAX raises a bare AssertionError deep in its dispatch."""
    import pytest

    environ = dict(os.environ, JAX_PLATFORMS="cuda", POSEDIFF_JAX_CACHE_DIR="off")
    result = subprocess.run([sys.executable, "-m", "posediff_jax", "generate", "--prior", "gaussian", "--steps", "2",
                             "--num-hypotheses", "2", "--no-plot", "--quiet", "--output", str(tmp_path / "out.npz")],
                            env=environ, capture_output=True, text=True, timeout=120)
    if result.returncode == 0:
        pytest.skip("this machine has a CUDA backend")
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("posediff generate: error: JAX_PLATFORMS=cuda: no such backend here (available: ") and (
        "cpu" in last and last.endswith("); unset it or name one of those")), last
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())
