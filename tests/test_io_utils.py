import numpy as np
import pytest

from posediff_jax.io_utils import atomic_path, save_npz_atomic, write_text_atomic


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "result.npz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_npz_and_text_round_trip_and_object_arrays_refused(tmp_path):
    path = save_npz_atomic(tmp_path / "a.npz", poses=np.ones((2, 17, 3)), names=np.array(["x", "y"]))
    with np.load(path) as data:
        assert data["poses"].shape == (2, 17, 3) and list(data["names"]) == ["x", "y"]
    with pytest.raises(TypeError, match="pickle"):
        save_npz_atomic(tmp_path / "b.npz", bad=np.array([{"a": 1}], dtype=object))
    assert not (tmp_path / "b.npz").exists()
    assert write_text_atomic(tmp_path / "t.md", "hello").read_text() == "hello"


def test_make_writable_folder_creates_it_or_names_the_problem(tmp_path):
    from posediff_jax.io_utils import make_writable_folder
    from posediff_jax.validation import PoseDiffError

    assert make_writable_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(PoseDiffError, match="--workdir .*file: is a file, not a folder"):
        make_writable_folder(tmp_path / "file")
    with pytest.raises(PoseDiffError, match="--out .*cannot create it \\(a file is in the way"):
        make_writable_folder(tmp_path / "file" / "sub", "--out")


def test_check_folder_can_be_made_refuses_as_make_writable_folder_but_creates_nothing(tmp_path):
    from posediff_jax.io_utils import check_folder_can_be_made
    from posediff_jax.validation import PoseDiffError

    assert check_folder_can_be_made(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(PoseDiffError, match="--output .*file: is a file, not a folder"):
        check_folder_can_be_made(tmp_path / "file")
    with pytest.raises(PoseDiffError, match="--out .*cannot create it \\(a file is in the way"):
        check_folder_can_be_made(tmp_path / "file" / "sub" / "deeper", "--out")


def test_a_full_disk_names_the_target_and_leaves_no_temporary(tmp_path, monkeypatch):
    """A write to an open handle fails with an OSError naming no file (or, from os calls, the hidden temporary):
    the atomic writes name the target instead, so the CLI can say which file did not fit, and remove the rest."""
    import errno

    from posediff_jax.io_utils import create_text_exclusively

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError) as raised:
        save_npz_atomic(tmp_path / "a.npz", x=np.zeros(3))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "a.npz")
    monkeypatch.setattr("pathlib.Path.write_text", full)
    for write in (lambda path: write_text_atomic(path, "x"), lambda path: create_text_exclusively(path, "x")):
        with pytest.raises(OSError) as raised:
            write(tmp_path / "t.json")
        assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "t.json")
    with pytest.raises(OSError) as raised:  # a nested write keeps the name of the file that did not fit
        with atomic_path(tmp_path / "outer.npz"), atomic_path(tmp_path / "inner.png") as temporary:
            full(temporary)
    assert raised.value.filename == str(tmp_path / "inner.png")
    with pytest.raises(OSError, match="Permission denied") as raised:  # other errors pass unchanged
        with atomic_path(tmp_path / "b.npz"):
            raise PermissionError(errno.EACCES, "Permission denied", "elsewhere")
    assert raised.value.filename == "elsewhere"
    assert list(tmp_path.iterdir()) == []
