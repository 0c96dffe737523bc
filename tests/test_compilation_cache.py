"""The CLI's persistent XLA compilation cache: where it lives, how it is switched off, and that it is used."""

import os
import subprocess
import sys

import pytest

from posediff_jax import cli


def test_cache_dir_default_xdg_and_override(tmp_path):
    home = os.path.expanduser("~")
    assert cli.compilation_cache_dir({}) == os.path.join(home, ".cache", "posediff_jax", "xla")
    assert cli.compilation_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == str(tmp_path / "posediff_jax" / "xla")
    assert cli.compilation_cache_dir({cli.CACHE_DIR_ENV: str(tmp_path / "c"), "XDG_CACHE_HOME": "/x"}) == str(
        tmp_path / "c")


@pytest.mark.parametrize("value", ["", "off", "0", "none", "FALSE"])
def test_cache_can_be_switched_off(value):
    assert cli.compilation_cache_dir({cli.CACHE_DIR_ENV: value}) is None


def test_in_process_calls_leave_no_cache(monkeypatch, tmp_path):
    """`cli.main([...])` (tests, notebooks) does not turn the cache on unless asked; the program entry point
    (`argv=None`) does."""
    called = []
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda *args: called.append(args))
    monkeypatch.setattr(cli, "apply_xla_cpu_defaults", lambda *args, **kwargs: ())  # keep this process's XLA_FLAGS
    argv = ["estimate", "--input", str(tmp_path / "missing.npz"), "--output", str(tmp_path / "out.npz")]
    assert cli.main(argv) == 2  # a user error, after the cache decision
    assert not called
    assert cli.main(argv, compilation_cache=True) == 2
    assert len(called) == 1
    monkeypatch.setattr(sys, "argv", ["posediff", *argv])
    assert cli.main() == 2
    assert len(called) == 2


def test_program_run_writes_and_reuses_the_cache(tmp_path):
    """A fresh process with the cache on stores the compiled program; the next process loads it."""
    cache = tmp_path / "xla"
    script = (
        "import jax, jax.numpy as jnp\n"
        "from posediff_jax import cli\n"
        "print(cli.enable_compilation_cache())\n"
        "f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum())\n"
        "print(float(f(jnp.ones((64, 64)))))\n"
    )
    environment = dict(os.environ, POSEDIFF_JAX_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu")
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    first = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == str(cache)
    entries = sorted(path.name for path in cache.iterdir())
    assert entries, "nothing was written to the compilation cache"
    second = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert sorted(path.name for path in cache.iterdir()) == entries  # reused, not recompiled into new entries
