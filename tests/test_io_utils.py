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
