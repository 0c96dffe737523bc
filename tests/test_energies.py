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
from posediff_jax.geometry import root_translation_for
from posediff_jax.guidance.heatmap import heatmap_joint_energies
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


@pytest.mark.parametrize("change, message", [
    (lambda pose: pose + np.array([0.0, 0.0, 4500.0]), "root-relative poses"),  # camera coordinates
    (lambda pose: pose / 1000.0, "metres given"),  # metres
    (lambda pose: pose * 1000.0, "expected root-relative millimetres"),  # micrometres
])
def test_completion_evidence_names_unit_mistakes(change, message):
    mask = np.zeros(17)
    mask[[0, 1, 2, 3, 11]] = 1
    make_completion_evidence(np.asarray(STANDING_POSE_MM), mask)  # millimetres, root-relative: accepted
    with pytest.raises(PoseDiffError, match=message):
        make_completion_evidence(change(np.asarray(STANDING_POSE_MM)), mask)


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


def _mpii_keypoints(pose, fraction=0.5):
    """Where an MPII detector marks the pose's joints, `fraction` of the way along each definition segment."""
    from posediff_jax import skeleton

    matrices = skeleton.virtual_joint_matrices("mpii", num_points=5)
    start, end = np.einsum("kij,jd->kid", matrices[[0, -1]], np.asarray(pose))
    return project((1 - fraction) * start + fraction * end)


def test_virtual_joints_explain_a_detector_whose_head_top_is_not_the_h36m_head():
    from posediff_jax.guidance import make_heatmap_energy

    evidence = heatmap_evidence_from_keypoints(_mpii_keypoints(POSE), K, root_translation=ROOT)
    plain = jax.jit(make_heatmap_energy())
    virtual = jax.jit(make_heatmap_energy(virtual_joints="mpii"))
    assert float(virtual(POSE, evidence)) < 0.75 * float(plain(POSE, evidence))
    from posediff_jax import skeleton

    matrices = jnp.asarray(skeleton.virtual_joint_matrices("mpii"))
    per_joint_plain = np.asarray(heatmap_joint_energies(POSE, evidence))
    per_joint_virtual = np.asarray(heatmap_joint_energies(POSE, evidence, virtual_joints=matrices))
    assert np.all(per_joint_virtual[[9, 10]] < 0.6 * per_joint_plain[[9, 10]])  # upper neck, head top
    others = [j for j in range(17) if j not in (8, 9, 10)]
    np.testing.assert_allclose(per_joint_virtual[others], per_joint_plain[others], rtol=1e-4, atol=1e-6)


def test_outlier_probability_sets_the_mixture_floor_from_the_map_mass():
    from posediff_jax.guidance import make_heatmap_energy
    from posediff_jax.guidance.heatmap import outlier_floor

    evidence = heatmap_evidence_from_keypoints(project(POSE), K, sigma=2.0, root_translation=ROOT)
    floor = np.asarray(outlier_floor(evidence.heatmaps, 0.1))
    # a peak-1 Gaussian of sigma 2 sums to 2 pi sigma^2 over the grid: floor = (0.1 / 0.9) * 8 pi / 64^2
    np.testing.assert_allclose(floor, 0.1 / 0.9 * 8 * np.pi / 64**2, rtol=0.1)  # peaks off-grid: mass > 2 pi s^2
    far = POSE.at[13].add(jnp.array([0.0, -400.0, 0.0]))  # inside the crop, far from the wrist's peak
    robust = jax.jit(lambda pose: heatmap_joint_energies(pose, evidence, outlier_probability=0.1))
    np.testing.assert_allclose(float(robust(far)[13]), -np.log(floor[13]), rtol=1e-3)
    assert float(heatmap_joint_energies(far, evidence)[13]) == pytest.approx(-np.log(1e-4), rel=1e-3)
    assert float(robust(POSE)[13]) < 0.05  # at the peak the floor barely matters
    with pytest.raises(ValueError, match="outlier_probability"):
        make_heatmap_energy(outlier_probability=1.0)
    with pytest.raises(TypeError):
        make_heatmap_energy(1e-4)  # options are keyword-only (the energy registry passes names)


def test_reweighted_root_ignores_a_garbled_detection():
    from posediff_jax.guidance.heatmap import outlier_floor, reweighted_root_translation

    keypoints = project(POSE).copy()
    keypoints[13] += np.array([250.0, 200.0])  # the left wrist garbled
    evidence = heatmap_evidence_from_keypoints(keypoints, K)
    floor = outlier_floor(evidence.heatmaps, 0.1)
    plain = np.asarray(root_translation_for(POSE, evidence))
    robust = np.asarray(reweighted_root_translation(POSE, evidence, floor, iterations=2))
    assert np.linalg.norm(robust - ROOT) < 0.2 * np.linalg.norm(plain - ROOT)
    assert np.linalg.norm(robust - ROOT) < 200.0  # (plain: 1.7 m off in depth)
    clean = heatmap_evidence_from_keypoints(project(POSE), K)
    np.testing.assert_allclose(reweighted_root_translation(POSE, clean, floor, iterations=2), ROOT, rtol=1e-3)
    from posediff_jax.guidance import make_heatmap_energy

    energy = jax.jit(make_heatmap_energy(outlier_probability=0.1, root_reweighting=2, virtual_joints="mpii"))
    gradient = jax.grad(energy)(POSE.at[5].add(30.0), evidence)
    assert np.all(np.isfinite(gradient))


def test_evidence_dropout_zeroes_joint_weights_at_the_rate_and_keeps_enough_joints():
    from posediff_jax.guidance.evidence import MIN_JOINTS_KEPT, drop_joint_evidence

    K = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]], np.float32)
    weights = np.ones(17, np.float32)
    weights[7] = 0.0  # a joint the detector does not give stays at 0
    spread = 500.0 + np.stack([np.arange(17) * 10.0, np.arange(17) * 20.0], -1)  # a person's extent in pixels
    keypoints = make_keypoint_evidence(spread, K, joint_weights=weights)
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    dropped = jax.vmap(lambda key: drop_joint_evidence(keypoints, key, 0.25).joint_weights)(keys)
    assert set(np.unique(np.asarray(dropped))) == {0.0, 1.0}
    assert np.all(np.asarray(dropped)[:, 7] == 0.0)
    rate = 1.0 - np.asarray(dropped)[:, weights > 0].mean()
    assert abs(rate - 0.25) < 0.02  # 32,000 draws: the binomial spread is 0.003
    assert np.all(np.asarray(dropped).sum(1) >= MIN_JOINTS_KEPT)
    # A frame with only three weighted joints keeps all of them whatever the draw.
    few = make_keypoint_evidence(spread, K, joint_weights=(np.arange(17) < 3).astype(np.float32))
    kept = jax.vmap(lambda key: drop_joint_evidence(few, key, 0.9).joint_weights)(keys[:50])
    np.testing.assert_array_equal(np.asarray(kept), np.broadcast_to(np.asarray(few.joint_weights), (50, 17)))
    # Composed evidence: the parts with joint weights share one mask, the others are untouched.
    bones = make_bone_length_evidence(np.full(16, 300.0))
    heatmap = heatmap_evidence_from_keypoints(spread, K)
    first, second, third = drop_joint_evidence((keypoints, bones, heatmap), jax.random.PRNGKey(3), 0.5)
    np.testing.assert_array_equal(np.asarray(second.bone_lengths), np.asarray(bones.bone_lengths))
    both = np.asarray(first.joint_weights > 0) & (weights > 0)
    np.testing.assert_array_equal(both, np.asarray(third.joint_weights > 0) & (weights > 0))
    assert 0 < both.sum() < 16
