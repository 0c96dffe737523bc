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
