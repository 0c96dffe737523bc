"""Plausibility figures of unconditional samples: bone-length deviation, bias and left/right asymmetry."""

import numpy as np
import pytest

from posediff_jax import skeleton
from posediff_jax.plausibility import per_bone_deviation, plausibility_metrics
from posediff_jax.data.synthetic import TEMPLATE, synthetic_poses


def test_synthetic_poses_keep_the_template_skeleton_up_to_scale():
    poses = synthetic_poses(200, seed=1)
    assert poses.shape == (200, 17, 3) and np.all(poses[:, 0] == 0)
    ratios = skeleton.bone_lengths(poses) / skeleton.bone_lengths(TEMPLATE)[None]
    np.testing.assert_allclose(ratios, ratios[:, :1].repeat(16, 1), rtol=1e-4)  # one scale per pose
    assert 0.89 < ratios.min() and ratios.max() < 1.11
    np.testing.assert_array_equal(synthetic_poses(5, seed=1), synthetic_poses(5, seed=1))


def test_data_against_itself_has_no_bias_and_its_own_deviation():
    poses = synthetic_poses(500, seed=0)
    metrics = plausibility_metrics(poses, poses)
    assert metrics["bone_length_error_mm"] == pytest.approx(0.0, abs=1e-3)
    assert metrics["bone_length_deviation_mm"] == pytest.approx(metrics["data_bone_length_deviation_mm"])
    assert metrics["asymmetry_mm"] < 1e-3 and metrics["data_asymmetry_mm"] < 1e-3


def test_a_longer_left_forearm_shows_as_asymmetry_and_per_bone_deviation():
    data = np.repeat(TEMPLATE[None], 10, axis=0)
    samples = data.copy()
    left_wrist, left_elbow = skeleton.JOINT_NAMES.index("LWrist"), skeleton.JOINT_NAMES.index("LElbow")
    direction = samples[:, left_wrist] - samples[:, left_elbow]
    samples[:, left_wrist] += 20.0 * direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    metrics = plausibility_metrics(samples, data)
    assert metrics["bone_length_deviation_mm"] == pytest.approx(20.0 / 16, rel=1e-4)
    assert metrics["asymmetry_mm"] == pytest.approx(20.0 / len(skeleton.SYMMETRIC_BONE_PAIRS), rel=1e-4)
    per_bone = per_bone_deviation(samples, data)
    assert per_bone["LWrist-LElbow"] == pytest.approx(20.0, rel=1e-4)
    assert sum(per_bone.values()) == pytest.approx(20.0, rel=1e-4)
