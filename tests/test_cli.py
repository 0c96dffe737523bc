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
