import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.validation import NonFiniteError, ShapeError, check_array, format_shape


def test_wrong_joint_count_names_array_and_expected_shape():
    with pytest.raises(ShapeError, match=r"poses: expected shape \[\.\.\., 17, 3\], got \[5, 16, 3\]"):
        check_array("poses", np.zeros((5, 16, 3)), ("...", 17, 3))


def test_rank_mismatch_and_named_dimensions():
    with pytest.raises(ShapeError, match="keypoints"):
        check_array("keypoints", np.zeros((17,)), (17, 2))
    check_array("a", np.zeros((4, 17, 3)), ("batch", 17, 3))
    with pytest.raises(ShapeError, match="dimension 'n' differs"):
        check_array("pair", np.zeros((3, 4)), ("n", "n"))


def test_nan_is_reported_with_count():
    values = np.zeros((2, 17, 3))
    values[1, 3, 0] = np.nan
    values[0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="pose: contains 2 NaN"):
        check_array("pose", values, (None, 17, 3))
    assert check_array("pose", values, (None, 17, 3), allow_nan=True) is values


def test_integers_accepted_strings_rejected_and_tracers_pass():
    check_array("pixels", np.zeros((17, 2), np.int32), (17, 2))
    with pytest.raises(ShapeError, match="numeric"):
        check_array("pixels", np.array([["a", "b"]]), (1, 2))
    # Inside jit only the static shape is checked.
    jax.jit(lambda x: check_array("x", x, (3,)) * 2)(jnp.ones(3))
    assert format_shape(("...", None, 3)) == "[..., *, 3]"
