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
