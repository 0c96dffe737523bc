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


def test_results_behind_the_camera_are_refused_and_odd_skeletons_warned(capsys):
    """`check_finite_results`' physical plausibility: a root nearer than a given one may be (100 mm) or a joint the
    evidence sees at or behind the lens refuses the result (an unseen one may be there: the hand holding a phone);
    hypotheses whose skeleton is over 2x from a person's warn in one line; the tiny prior (`physical=False`) and
    generation from the user's bone lengths are not judged."""
    from posediff_jax.commands.common import check_finite_results
    from posediff_jax.validation import PoseDiffError

    poses = synthetic_poses(8, seed=0).reshape(2, 4, 17, 3)
    seen = np.ones((2, 17))
    root = np.array([[0.0, 0.0, 4000.0], [0.0, 0.0, 1000.0]])
    check_finite_results("estimate", poses, placed=(poses[:, 0], root, seen))  # a person 1 m from the lens: fine
    assert capsys.readouterr().err == ""
    with pytest.raises(PoseDiffError, match=r"1 of 2 frame\(s\) put the person at or behind the camera \(frame 0: "
                                            r"root depth 0 mm"):
        check_finite_results("estimate", poses, placed=(poses[:, 0], root * [1, 1, -1] + [0, 0, 4000], seen))
    reaching = np.zeros((2, 17, 3))
    reaching[:, 16, 2] = -500.0  # a wrist 500 mm nearer the camera than the pelvis, 200 mm behind the lens
    near = np.array([[0.0, 0.0, 300.0]] * 2)
    with pytest.raises(PoseDiffError, match=r"2 of 2 frame\(s\) .*root depth 300 mm, nearest joint -200 mm"):
        check_finite_results("estimate", poses, placed=(reaching, near, seen))
    check_finite_results("estimate", poses, placed=(reaching, near, np.where(np.arange(17) == 16, 0.0, seen)))
    check_finite_results("estimate", poses, placed=(poses[:, 0], -root, seen), physical=False)
    stretched = poses * np.where(np.arange(4) == 3, 3.0, 1.0)[None, :, None, None]  # one hypothesis per frame 3x
    check_finite_results("complete", stretched)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: 2 of 8 hypotheses have a skeleton"), warning
    for command, physical in (("generate", True), ("complete", False)):
        check_finite_results(command, stretched / 10.0, physical=physical)
    assert capsys.readouterr().err == ""
