import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import geometry
from posediff_jax.guidance import (
    bone_length_energy,
    bone_lengths,
    completion_energy,
    compose,
    heatmap_energy,
    heatmap_evidence_from_keypoints,
    keypoint_energy,
    make_bone_length_evidence,
    make_completion_evidence,
    make_keypoint_evidence,
    zero_energy,
)
from posediff_jax.guidance.heatmap import heatmap_joint_energies, root_translation_for
from posediff_jax.prior.gaussian import STANDING_POSE_MM
from posediff_jax.validation import PoseDiffError

heatmap_energy = jax.jit(heatmap_energy)

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
ROOT = np.array([100.0, 200.0, 5000.0], np.float32)
POSE = jnp.asarray(STANDING_POSE_MM)


def project(pose, root=ROOT):
    return np.asarray(geometry.project_to_pixels(jnp.asarray(pose) + root, K))


def test_heatmap_energy_is_lowest_at_the_true_pose():
    evidence = heatmap_evidence_from_keypoints(project(POSE), K)
    at_truth = float(heatmap_energy(POSE, evidence))
    rng = np.random.default_rng(0)
    for _ in range(5):
        noise = rng.normal(0, 40, (17, 3)).astype(np.float32)
        noise[0] = 0
        assert float(heatmap_energy(POSE + noise, evidence)) > at_truth + 0.5
    # the closed-form root recovers the true translation for the true pose
    np.testing.assert_allclose(root_translation_for(POSE, evidence), ROOT, rtol=1e-3)


def test_heatmap_energy_gradient_is_finite_and_points_downhill():
    evidence = heatmap_evidence_from_keypoints(project(POSE), K)
    moved = POSE.at[13].add(jnp.array([60.0, -40.0, 0.0]))
    gradient = jax.grad(heatmap_energy)(moved, evidence)
    assert np.all(np.isfinite(gradient))
    stepped = moved - 50.0 * gradient / jnp.linalg.norm(gradient)
    assert float(heatmap_energy(stepped, evidence)) < float(heatmap_energy(moved, evidence))


def test_joint_weight_zero_skips_the_joint_and_given_root_is_used():
    weights = np.ones(17, np.float32)
    weights[13] = 0.0
    evidence = heatmap_evidence_from_keypoints(project(POSE), K, joint_weights=weights, root_translation=ROOT)
    far = POSE.at[13].add(jnp.array([500.0, 500.0, 0.0]))
    np.testing.assert_allclose(heatmap_energy(far, evidence), heatmap_energy(POSE, evidence), rtol=1e-5)
    assert float(heatmap_joint_energies(far, evidence)[13]) > 5.0
    shifted = heatmap_evidence_from_keypoints(project(POSE), K, root_translation=ROOT + np.array([0, 0, 800.0]))
    assert float(heatmap_energy(POSE, shifted)) > float(heatmap_energy(POSE, evidence)) + 1.0


def test_heatmap_energy_pulls_back_joints_projected_outside_the_crop():
    evidence = heatmap_evidence_from_keypoints(project(POSE), K, root_translation=ROOT)
    outside = POSE.at[16].add(jnp.array([-3000.0, 0.0, 0.0]))
    gradient = jax.grad(heatmap_energy)(outside, evidence)
    assert float(gradient[16, 0]) < 0.0  # moving right (+x) lowers the energy


def test_keypoint_energy_is_zero_at_truth_and_robust():
    evidence = make_keypoint_evidence(project(POSE), K)
    assert float(keypoint_energy(POSE, evidence)) < 1e-3
    near = keypoint_energy(POSE.at[13].add(jnp.array([20.0, 0.0, 0.0])), evidence)
    far = keypoint_energy(POSE.at[13].add(jnp.array([2000.0, 0.0, 0.0])), evidence)
    # 100x the displacement: a quadratic cost would grow ~10,000x, the pseudo-Huber grows ~linearly.
    assert 0 < float(near) < float(far) < 2000 * float(near)
    with pytest.raises(PoseDiffError, match="intrinsics"):
        make_keypoint_evidence(project(POSE), None)


def test_completion_energy_counts_only_known_joints():
    mask = np.zeros(17)
    mask[[1, 2, 3]] = 1
    known = np.full((17, 3), np.nan, np.float32)
    known[[1, 2, 3]] = STANDING_POSE_MM[[1, 2, 3]]
    evidence = make_completion_evidence(known, mask)
    assert float(completion_energy(POSE, evidence)) == 0.0
    assert float(completion_energy(POSE.at[10].add(300.0), evidence)) == 0.0
    np.testing.assert_allclose(completion_energy(POSE.at[2, 0].add(10.0), evidence, sigma=10.0), 0.5, rtol=1e-5)
    with pytest.raises(PoseDiffError, match="known_joints"):
        make_completion_evidence(np.full((17, 3), np.nan), mask)


def test_bone_length_energy_and_compose():
    lengths = bone_lengths(POSE)
    assert lengths.shape == (16,)
    evidence = make_bone_length_evidence(np.asarray(lengths))
    assert float(bone_length_energy(POSE, evidence)) < 1e-6
    assert float(bone_length_energy(POSE * 1.1, evidence)) > 1.0
    keypoints = make_keypoint_evidence(project(POSE), K)
    pose = POSE * 1.1
    combined = compose([(2.0, keypoint_energy), (0.5, bone_length_energy)])
    expected = 2.0 * keypoint_energy(pose, keypoints) + 0.5 * bone_length_energy(pose, evidence)
    np.testing.assert_allclose(combined(pose, (keypoints, evidence)), expected, rtol=1e-5)
    shared = compose([(1.0, zero_energy), (3.0, bone_length_energy)])
    np.testing.assert_allclose(shared(pose, evidence), 3.0 * bone_length_energy(pose, evidence), rtol=1e-6)
    with pytest.raises(PoseDiffError, match="2 energy terms"):
        combined(pose, (keypoints,))
