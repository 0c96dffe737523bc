"""Files that are not .npz archives given as command inputs: one line naming the file, exit code 2, no output."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from posediff_jax import cli


def junk_files(folder: pathlib.Path) -> dict:
    """Inputs that must each be rejected as 'not a valid .npz': random bytes, empty, a broken zip, a lone .npy."""
    files = {
        "random": np.random.default_rng(0).bytes(4096),
        "empty": b"",
        "broken_zip": b"PK\x03\x04" + np.random.default_rng(1).bytes(200),
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.npz"
        paths[name].write_bytes(content)
    np.save(folder / "array.npy", np.zeros((17, 2)))
    paths["npy_renamed"] = folder / "npy_renamed.npz"
    os.replace(folder / "array.npy", paths["npy_renamed"])
    return paths


def test_random_bytes_through_the_installed_program(tmp_path):
    """`posediff estimate --input junk.npz` as a user runs it: one line on stderr, exit 2, nothing written."""
    (tmp_path / "junk.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    script = pathlib.Path(sys.executable).parent / "posediff"
    program = [str(script)] if script.is_file() else [sys.executable, "-P", "-m", "posediff_jax"]
    environment = dict(os.environ, JAX_PLATFORMS="cpu", POSEDIFF_JAX_CACHE_DIR="off")
    completed = subprocess.run(program + ["estimate", "--input", "junk.npz"], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=300)
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert completed.returncode == 2, completed.stderr
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("posediff estimate: error: --input: 'junk.npz' is not a valid .npz file"), lines
    assert sorted(path.name for path in tmp_path.iterdir()) == ["junk.npz"]


@pytest.mark.parametrize("kind", ["random", "empty", "broken_zip", "npy_renamed"])
@pytest.mark.parametrize("command, flag", [("estimate", "--input"), ("complete", "--input"),
                                           ("generate", "--bone-lengths")])
def test_non_npz_inputs_are_one_line_errors(tmp_path, capsys, kind, command, flag):
    path = junk_files(tmp_path)[kind]
    output = tmp_path / "out.npz"
    assert cli.main([command, flag, str(path), "--output", str(output), "--prior", "gaussian", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert f"{flag}: {str(path)!r} is not a valid .npz file" in error, error
    assert not output.exists() and not output.with_suffix(".png").exists()
