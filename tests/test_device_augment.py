"""The on-device training augmentation equals the NumPy one for the same draws and keeps what it must keep."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import skeleton
from posediff_jax.data.augment import augment_poses
from posediff_jax.data.device_augment import augment_poses_from_draws, augment_poses_on_device
from posediff_jax.data.synthetic import synthetic_poses

POSES = synthetic_poses(64, seed=11)
_tilt = np.random.default_rng(3)
UP = np.stack([_tilt.normal(0.0, 0.05, 64), -np.ones(64), _tilt.normal(-0.2, 0.05, 64)], -1)
UP /= np.linalg.norm(UP, axis=-1, keepdims=True)


@pytest.mark.parametrize("flip_probability", [0.0, 0.5, 1.0])
def test_same_draws_give_the_numpy_augmentation(flip_probability):
    expected = augment_poses(POSES, np.random.default_rng(4), flip_probability=flip_probability, up=UP)
    draws = np.random.default_rng(4)  # the same generator: the flips are drawn first, then the angles
    flip = draws.random(len(POSES)) < flip_probability
    angles = draws.uniform(-1.0, 1.0, len(POSES)) * np.pi
    got = augment_poses_from_draws(jnp.asarray(POSES), jnp.asarray(UP, jnp.float32), jnp.asarray(flip),
                                   jnp.asarray(angles, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), expected, atol=2e-3)  # float32 rounding of ~1000 mm coordinates
    assert not np.allclose(np.asarray(got), POSES, atol=1.0)


def test_keeps_bones_root_and_heights_and_is_a_function_of_the_key():
    augment = jax.jit(lambda poses, up, key: augment_poses_on_device(poses, up, key))
    key = jax.random.PRNGKey(0)
    first = np.asarray(augment(POSES, UP.astype(np.float32), key))
    np.testing.assert_array_equal(first, np.asarray(augment(POSES, UP.astype(np.float32), key)))
    other = np.asarray(augment(POSES, UP.astype(np.float32), jax.random.PRNGKey(1)))
    assert not np.allclose(first, other, atol=1.0)
    np.testing.assert_allclose(skeleton.bone_lengths(first), skeleton.bone_lengths(POSES), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(first[:, 0], 0.0, atol=1e-3)
    # A mirror swaps left and right joints, so heights are compared as a set per pose; sorted they must agree.
    heights_before = np.sort(np.einsum("njk,nk->nj", POSES, UP), axis=-1)
    heights_after = np.sort(np.einsum("njk,nk->nj", first, UP), axis=-1)
    np.testing.assert_allclose(heights_after, heights_before, atol=1e-2)


def test_camera_y_ignores_the_up_vectors_and_stands_bodies_upright():
    key = jax.random.PRNGKey(2)
    camera_y = np.asarray(augment_poses_on_device(POSES, UP.astype(np.float32), key, rotation_axis="camera_y"))
    # Rotations about the camera's y keep each joint's y (the mirror is a plain x flip with joints swapped).
    np.testing.assert_allclose(np.sort(camera_y[..., 1], -1), np.sort(POSES[..., 1], -1), atol=1e-2)
    # ... where rotations about the tilted world vertical do not.
    vertical = np.asarray(augment_poses_on_device(POSES, UP.astype(np.float32), key))
    assert np.abs(np.sort(vertical[..., 1], -1) - np.sort(POSES[..., 1], -1)).max() > 10.0


def test_bone_groups_scale_their_bones_and_keep_directions():
    from posediff_jax.data.device_augment import rescale_bone_groups

    groups = list(skeleton.BONE_GROUPS)
    factors = np.ones((len(POSES), len(groups)), np.float32)
    factors[:, groups.index("thigh")] = 1.2
    factors[:, groups.index("shoulder_width")] = 0.9
    scaled = np.asarray(rescale_bone_groups(jnp.asarray(POSES), jnp.asarray(factors)))
    expected = np.ones(len(skeleton.BONES))
    for child in skeleton.BONE_GROUPS["thigh"]:
        expected[skeleton.BONES.index((child, skeleton.PARENTS[child]))] = 1.2
    for child in skeleton.BONE_GROUPS["shoulder_width"]:
        expected[skeleton.BONES.index((child, skeleton.PARENTS[child]))] = 0.9
    np.testing.assert_allclose(skeleton.bone_lengths(scaled) / skeleton.bone_lengths(POSES), expected[None].repeat(
        len(POSES), 0), rtol=1e-4)
    direction = lambda poses: np.stack([poses[:, c] - poses[:, p] for c, p in skeleton.BONES], 1)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    np.testing.assert_allclose(unit(direction(scaled)), unit(direction(POSES)), atol=1e-5)
    np.testing.assert_allclose(scaled[:, 0], POSES[:, 0])
    # Through the augmentation: sigma 0.1 spreads the bone lengths by about that much in log, head bone excepted.
    key = jax.random.PRNGKey(7)
    plain = np.asarray(augment_poses_on_device(POSES, UP.astype(np.float32), key))
    rescaled = np.asarray(augment_poses_on_device(POSES, UP.astype(np.float32), key, bone_scale_sigma=0.1))
    ratio = skeleton.bone_lengths(rescaled) / skeleton.bone_lengths(plain)
    assert 0.02 < np.std(np.log(ratio)) < 0.2
    head = skeleton.BONES.index((10, 9))
    np.testing.assert_allclose(ratio[:, head], 1.0, rtol=1e-4)  # the neck -> head bone is in no group


def test_unknown_rotation_axis_and_bad_settings_are_errors_not_world_vertical():
    """An unknown rotation axis is refused, not silently read as a rotation about the world vertical."""
    from posediff_jax.validation import PoseDiffError

    key = jax.random.PRNGKey(0)
    with pytest.raises(PoseDiffError, match="rotation_axis: expected one of .*'foo'"):
        augment_poses_on_device(POSES, UP.astype(np.float32), key, rotation_axis="foo")
    with pytest.raises(PoseDiffError, match="flip_probability"):
        augment_poses_on_device(POSES, UP.astype(np.float32), key, flip_probability=2.0)
