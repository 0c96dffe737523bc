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


def inputs_for(folder: pathlib.Path) -> dict:
    """{command: (flag, path)} of a valid input file for each command that reads one."""
    np.savez(folder / "bones.npz", bone_lengths=np.full(16, 200.0))
    from posediff_jax.commands.demo import load_examples

    examples = load_examples()
    np.savez(folder / "evidence.npz", keypoints_2d=examples["keypoints_2d_gt"][0], intrinsics=examples["intrinsics"][0])
    return {"estimate": ("--input", folder / "evidence.npz"), "generate": ("--bone-lengths", folder / "bones.npz")}


@pytest.mark.parametrize("command", ["estimate", "generate"])
def test_unreadable_input_is_a_one_line_error(tmp_path, capsys, monkeypatch, command):
    """No read permission (chmod 000 as a normal user): one line naming the file, not a PermissionError traceback."""
    from posediff_jax.commands import common

    flag, path = inputs_for(tmp_path)[command]

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(common, "open", denied, raising=False)
    assert cli.main([command, flag, str(path), "--output", str(tmp_path / "out.npz"), "--prior", "gaussian",
                     "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert f"{flag}: {str(path)!r} cannot be read (Permission denied)" in error, error


@pytest.mark.parametrize("flag, expected", [
    ("--input", "{flag}: {folder!r} is a folder"),
    # --image takes folders of photos (tests/test_photo_set.py); one without photos is named and refused.
    ("--image", "{flag}: folder {folder!r} holds no image files"),
])
def test_a_folder_as_input_says_it_is_a_folder(tmp_path, capsys, flag, expected):
    (tmp_path / "folder.npz").mkdir()
    assert cli.main(["estimate", flag, str(tmp_path / "folder.npz"), "--output", str(tmp_path / "out.npz"),
                     "--prior", "gaussian", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert expected.format(flag=flag, folder=str(tmp_path / "folder.npz")) in error and "not found" not in error, error
    assert len(error.splitlines()) == 1


@pytest.mark.parametrize("command", ["estimate", "generate"])
def test_too_many_hypotheses_for_memory_is_refused_before_sampling(tmp_path, capsys, monkeypatch, command):
    from posediff_jax.sampling.sampler import Sampler

    monkeypatch.setattr(Sampler, "__post_init__", lambda self: pytest.fail("sampled before checking"))
    flag, path = inputs_for(tmp_path)[command]
    assert cli.main([command, flag, str(path), "--output", str(tmp_path / "out.npz"), "--prior", "gaussian",
                     "--quiet", "--num-hypotheses", "1000000000000"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "208.0 TB for the results alone" in error, error


def test_result_memory_estimate():
    from posediff_jax.commands import common
    from posediff_jax.validation import PoseDiffError

    common.check_result_memory(2, 1000, memory_bytes=2 * 1000 * common.RESULT_BYTES_PER_HYPOTHESIS)
    with pytest.raises(PoseDiffError, match="need 416.4 KB"):
        common.check_result_memory(2, 1001, memory_bytes=2 * 1000 * common.RESULT_BYTES_PER_HYPOTHESIS)


@pytest.mark.parametrize("argv", [["estimate", "--input", "x.npz", "--bogus"], ["demo", "--quiet"]])
def test_unknown_flag_shows_the_commands_usage(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"usage: posediff {argv[0]} ") and "unrecognized arguments" in error, error


def png_header(path: pathlib.Path, width: int, height: int) -> pathlib.Path:
    """A PNG that declares `width x height` RGB pixels and holds none: enough for Pillow to read its size."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size, shown", [((10000, 10000), "10000 x 10000 pixels (100 megapixels)"),
                                         ((14000, 13000), "182 megapixels")])
def test_huge_images_are_refused_with_the_limit_and_no_raw_warning(tmp_path, size, shown):
    """Beyond the limit Pillow warns (~89 MP) or raises DecompressionBombError (~179 MP); we say the limit instead."""
    import warnings

    from posediff_jax.detector.errors import ImageReadError
    from posediff_jax.detector.image_io import MAX_IMAGE_PIXELS, read_image

    path = png_header(tmp_path / "huge.png", *size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageReadError) as raised:
            read_image(path)
    message = str(raised.value)
    assert shown in message and f"{MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit" in message
    assert "downscale" in message


def test_sixteen_bit_greyscale_png_is_scaled_to_eight_bits(tmp_path):
    """Pillow opens a 16-bit greyscale PNG as 'I;16' and its RGB conversion clips at 255: all white."""
    from PIL import Image

    from posediff_jax.detector.image_io import read_image

    values = np.linspace(0, 65535, 32 * 40).reshape(32, 40).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I;16")
    pixels = read_image(tmp_path / "grey16.png")
    assert pixels.shape == (32, 40, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels[..., 0], np.rint(values / 257.0).astype(np.uint8))
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_a_fifo_damaged_member_or_misspelt_array_is_named(tmp_path, capsys):
    """A FIFO is 'not a regular file' (not 'not found'); a member that is no .npy array is named (not 'dtype |S7');
    an array the command does not read is refused with the nearest name it reads (else its evidence is dropped)."""
    import zipfile

    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with zipfile.ZipFile(tmp_path / "damaged.npz", "w") as archive:
        archive.writestr("keypoints_2d.npy", b"garbage")
    valid = dict(np.load(inputs_for(tmp_path)["estimate"][1]))
    np.savez(tmp_path / "typo.npz", **valid, heatmap=np.zeros((17, 8, 8)))
    np.savez(tmp_path / "known.npz", known_joints=np.zeros((17, 3)), masks=np.ones(17))
    for command, name, expected in (
            ("estimate", "pipe.npz", f"{str(fifo)!r} is not a regular file (a FIFO"),
            ("estimate", "damaged.npz", "member 'keypoints_2d' is not a numpy array (a damaged file?)"),
            ("estimate", "typo.npz", "holds 'heatmap' (did you mean 'heatmaps'?), an array this command does not read"),
            ("complete", "known.npz", "holds 'masks' (did you mean 'mask'?)")):
        assert cli.main([command, "--input", str(tmp_path / name), "--output", str(tmp_path / "out.npz"), "--prior",
                         "gaussian", "--quiet"]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and expected in error, error
        assert not (tmp_path / "out.npz").exists()
    np.savez(tmp_path / "bones.npz", bone_length=np.full(16, 200.0))
    assert cli.main(["generate", "--bone-lengths", str(tmp_path / "bones.npz"), "--output", str(tmp_path / "out.npz"),
                     "--prior", "gaussian", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert "holds 'bone_length' (did you mean 'bone_lengths'?)" in error and not (tmp_path / "out.npz").exists()
