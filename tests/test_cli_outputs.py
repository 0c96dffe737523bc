"""What the sampling commands write: never over one of their inputs, checked before sampling, never diverged values."""

import os

import numpy as np
import pytest

from posediff_jax import cli
from posediff_jax.commands import common
from posediff_jax.prior.gaussian import STANDING_POSE_MM
from posediff_jax.sampling.sampler import Sampler
from posediff_jax.validation import PoseDiffError

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
FAST = ["--prior", "gaussian", "--steps", "4", "--num-hypotheses", "3", "--quiet"]


def keypoints():
    camera = STANDING_POSE_MM + np.array([0, 0, 5000.0])
    projected = camera @ K.T
    return (projected[:, :2] / projected[:, 2:]).astype(np.float32)


def inputs(folder):
    """{flag: path} of one valid input file per command."""
    np.savez(folder / "evidence.npz", keypoints_2d=keypoints(), intrinsics=K)
    mask = np.zeros(17, np.float32)
    mask[:8] = 1
    np.savez(folder / "known.npz", known_joints=STANDING_POSE_MM, mask=mask)
    np.savez(folder / "bones.npz", bone_lengths=np.full(16, 200.0))
    return {"estimate": ("--input", folder / "evidence.npz"), "complete": ("--input", folder / "known.npz"),
            "generate": ("--bone-lengths", folder / "bones.npz")}


@pytest.fixture
def no_sampling(monkeypatch):
    monkeypatch.setattr(Sampler, "__post_init__", lambda self: pytest.fail("sampled before checking"))


def test_plot_beside_the_output_never_replaces_the_input_photo(tmp_path, capsys, no_sampling, monkeypatch):
    """`--image photo.png --output photo.npz`: the PNG written beside the .npz would be the user's photo."""
    monkeypatch.chdir(tmp_path)
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"the user's photo")
    assert cli.main(["estimate", "--image", "photo.png", "--output", str(tmp_path / "photo.npz"), *FAST]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "photo.png' is the --image file" in error, error
    assert photo.read_bytes() == b"the user's photo" and not (tmp_path / "photo.npz").exists()


@pytest.mark.parametrize("command", ["estimate", "complete", "generate"])
@pytest.mark.parametrize("spelling", ["same", "absolute", "symlink"])
def test_output_that_is_the_input_file_is_refused(tmp_path, capsys, no_sampling, monkeypatch, command, spelling):
    monkeypatch.chdir(tmp_path)
    flag, source = inputs(tmp_path)[command]
    before = source.read_bytes()
    output = {"same": source.name, "absolute": str(source)}.get(spelling)
    if spelling == "symlink":  # another name for the same file
        os.symlink(source.name, tmp_path / "alias.npz")
        output = "alias.npz"
    assert cli.main([command, flag, source.name, "--output", output, "--no-plot", *FAST]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"is the {flag} file" in error, error
    assert source.read_bytes() == before


@pytest.mark.parametrize("command", ["estimate", "complete", "generate"])
def test_plot_path_that_is_a_folder_fails_before_sampling(tmp_path, capsys, no_sampling, command):
    flag, source = inputs(tmp_path)[command]
    (tmp_path / "q.png").mkdir()
    assert cli.main([command, flag, str(source), "--output", str(tmp_path / "q.npz"), *FAST]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "plot PNG" in error and "is a folder" in error, error
    assert not (tmp_path / "q.npz").exists()


def test_diverged_guidance_is_an_error_and_nothing_is_written(tmp_path, capsys):
    """A guidance step of 1e30 throws hypotheses to ~1e30 mm (finite in float32): refused, not written with exit 0."""
    flag, source = inputs(tmp_path)["estimate"]
    output = tmp_path / "out.npz"
    assert cli.main(["estimate", flag, str(source), "--output", str(output), "--guidance-scale", "1e30", *FAST]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "sampling diverged" in error and "--guidance-scale" in error, error
    assert not output.exists() and not output.with_suffix(".png").exists()


@pytest.mark.parametrize("command", ["estimate", "complete", "generate"])
def test_nan_hypotheses_are_an_error_naming_how_many(tmp_path, capsys, monkeypatch, command):
    """Whatever makes the sampler return NaN (a prior's NaN weight, absurd intrinsics), the command says how many
    hypotheses are affected and the likely causes, exits 2 and writes nothing."""
    real_batch, real_sample = Sampler.sample_batch, Sampler.sample

    def nan_first_batch(self, *args, with_energies=False, **kwargs):
        poses, energies = real_batch(self, *args, with_energies=True, **kwargs)
        poses = np.asarray(poses).copy() * np.array([np.nan, 1, 1])[None, :, None, None]
        return (poses, energies) if with_energies else poses

    def nan_first(self, *args, with_energies=False, **kwargs):
        poses, energies = real_sample(self, *args, with_energies=True, **kwargs)
        poses = np.asarray(poses) * np.array([np.nan, 1, 1])[:, None, None]
        return (poses, energies) if with_energies else poses

    monkeypatch.setattr(Sampler, "sample_batch", nan_first_batch)
    monkeypatch.setattr(Sampler, "sample", nan_first)
    flag, source = inputs(tmp_path)[command]
    output = tmp_path / "out.npz"
    assert cli.main([command, flag, str(source), "--output", str(output), *FAST]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "sampling diverged: 1 of 3 hypotheses hold NaN" in error and "prior" in error, error
    assert not output.exists() and not output.with_suffix(".png").exists()


def test_check_finite_results_counts_hypotheses_and_checks_derived_arrays():
    poses = np.zeros((2, 4, 17, 3), np.float32)
    common.check_finite_results("estimate", poses, np.zeros((2, 4)), derived={"root_translation": np.ones((2, 3))})
    poses[0, 1, 3, 0], poses[1, 2, 0, 0] = np.inf, 2e5  # a non-finite and a diverged (200 m) joint
    energies = np.zeros((2, 4))
    energies[1, 3] = np.nan
    with pytest.raises(PoseDiffError, match="3 of 8 hypotheses"):
        common.check_finite_results("estimate", poses, energies)
    with pytest.raises(PoseDiffError, match="root_translation: 1 NaN"):
        common.check_finite_results("estimate", np.zeros((1, 2, 17, 3)),
                                    derived={"root_translation": np.array([[0, np.nan, 1.0]])})


@pytest.mark.parametrize("command", ["estimate", "generate"])
@pytest.mark.parametrize("failing", ["npz", "png"])
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, capsys, monkeypatch, command, failing):
    """ENOSPC while the outputs are written (simulated: a tmpfs needs root): exit 2, one line, no partial or
    temporary file."""
    import errno

    import matplotlib.figure

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    flag, source = inputs(tmp_path)[command]
    before = set(tmp_path.iterdir())
    monkeypatch.setattr(np, "savez", full) if failing == "npz" else monkeypatch.setattr(
        matplotlib.figure.Figure, "savefig", full)
    output = tmp_path / "out.npz"
    assert cli.main([command, flag, str(source), "--output", str(output), *FAST]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    written = output.with_suffix("." + failing)
    assert error[-1] == (f"posediff {command}: error: no space left on device writing {written}; free some space "
                         "and run the command again"), error
    assert not [line for line in error if "Traceback" in line]
    assert set(tmp_path.iterdir()) == before


def test_an_output_inside_a_regular_file_says_the_file_is_in_the_way(tmp_path, capsys, no_sampling):
    (tmp_path / "notes.txt").write_text("keep")
    for output in ("notes.txt/out.npz", "notes.txt/deeper/out.npz"):
        assert cli.main(["generate", "--output", str(tmp_path / output), *FAST]) == 2
        error = capsys.readouterr().err.strip()
        assert error == (f"posediff generate: error: --output: '{tmp_path / 'notes.txt'}' is a file, not a folder, so "
                         f"'{tmp_path / output}' cannot be written"), error
    assert cli.main(["generate", "--output", str(tmp_path / "missing" / "out.npz"), *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err  # a missing folder is still said so
    assert (tmp_path / "notes.txt").read_text() == "keep"


SLOW_WRITE = """
import sys, time, numpy
real_savez = numpy.savez
def slow_savez(file, **arrays):  # the write starts, then stalls: SIGTERM arrives with the temporary file open
    real_savez(file, **arrays)
    print("writing", flush=True)
    time.sleep(120)
numpy.savez = slow_savez
from posediff_jax import cli
cli.run_program()
"""


def test_sigterm_during_the_write_removes_the_temporary_file_and_exits_143(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, JAX_PLATFORMS="cpu", POSEDIFF_JAX_CACHE_DIR="off")
    output = tmp_path / "out" / "poses.npz"
    (tmp_path / "out").mkdir()
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, "generate", "--output", str(output), "--no-plot",
                                *FAST], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
        names = [path.name for path in output.parent.iterdir()]
        assert len(names) == 1 and names[0].startswith(".poses.npz."), names  # the temporary file
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "posediff generate: terminated"
    assert list(output.parent.iterdir()) == []
