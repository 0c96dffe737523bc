import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import geometry
from posediff_jax.guidance import heatmap_evidence_from_keypoints, make_keypoint_evidence
from posediff_jax.sampling import aggregate
from posediff_jax.prior.gaussian import STANDING_POSE_MM
from posediff_jax.validation import PoseDiffError

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)


def test_mean_pose():
    hypotheses = jnp.stack([jnp.zeros((17, 3)), jnp.ones((17, 3)) * 4])
    np.testing.assert_allclose(aggregate.mean_pose(hypotheses), np.full((17, 3), 2.0))
    np.testing.assert_allclose(aggregate.mean_pose(hypotheses[None])[0], np.full((17, 3), 2.0))


def test_per_joint_selection_picks_the_best_hypothesis_per_joint():
    hypotheses = jnp.stack([jnp.full((17, 3), 1.0), jnp.full((17, 3), 2.0), jnp.full((17, 3), 3.0)])
    errors = np.ones((3, 17))
    errors[1, 5] = 0.0
    errors[2, 9] = 0.0
    errors[0, :] = 0.5
    errors[0, 5] = errors[0, 9] = 2.0
    selected = np.asarray(aggregate.per_joint_selection(hypotheses, jnp.asarray(errors)))
    assert selected[5, 0] == 2.0 and selected[9, 0] == 3.0 and selected[3, 0] == 1.0
    assert np.all(selected[0] == 0.0)
    soft = np.asarray(aggregate.per_joint_selection(hypotheses, jnp.asarray(errors), temperature=100.0))
    np.testing.assert_allclose(soft[3], 2.0, atol=0.05)  # high temperature -> close to the mean
    weights = np.ones(17)
    weights[5] = 0
    masked = np.asarray(aggregate.per_joint_selection(hypotheses, jnp.asarray(errors), joint_weights=jnp.asarray(weights)))
    np.testing.assert_allclose(masked[5], 2.0)  # no evidence -> mean


def test_reprojection_weighted_pose_recovers_the_true_joints():
    rng = np.random.default_rng(0)
    truth = STANDING_POSE_MM.copy()
    root = np.array([0.0, 100.0, 4500.0], np.float32)
    pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(truth + root), K))
    # Every hypothesis is the truth with a few joints displaced; each joint is right in at least one hypothesis.
    hypotheses = np.repeat(truth[None], 4, axis=0)
    for index in range(4):
        joints = [j for j in range(1, 17) if j % 4 != index]
        hypotheses[index, joints] += rng.normal(0, 80, (len(joints), 3)) * np.array([1, 1, 0])
    for evidence in (make_keypoint_evidence(pixels, K, root_translation=root),
                     heatmap_evidence_from_keypoints(pixels, K, root_translation=root)):
        selected = np.asarray(aggregate.reprojection_weighted_pose(jnp.asarray(hypotheses), evidence))
        assert np.abs(selected - truth).max() < 1e-3
        mean_error = np.linalg.norm(np.asarray(aggregate.mean_pose(jnp.asarray(hypotheses))) - truth, axis=-1).mean()
        assert mean_error > 20.0
    errors = aggregate.reprojection_joint_errors(jnp.asarray(hypotheses), jnp.asarray(pixels), jnp.asarray(K))
    assert errors.shape == (4, 17)


def _cluster(rng, centre, count, spread):
    return centre + rng.normal(0.0, spread, (count, 17, 3))


def test_mode_seeking_aggregations_find_the_major_mode_of_a_bimodal_set():
    rng = np.random.default_rng(1)
    major, minor = STANDING_POSE_MM.astype(np.float64), STANDING_POSE_MM + np.array([0.0, 0.0, 600.0])
    hypotheses = jnp.asarray(np.concatenate([_cluster(rng, major, 70, 15.0), _cluster(rng, minor, 30, 15.0)]), jnp.float32)

    def error(estimate):
        return float(np.mean(np.linalg.norm(np.asarray(estimate) - major, axis=-1)))

    assert error(aggregate.mean_pose(hypotheses)) > 150.0  # the mean sits between the modes
    assert error(aggregate.mean_shift_pose(hypotheses)) < 10.0
    assert error(aggregate.medoid_pose(hypotheses)) < 40.0
    assert error(aggregate.geometric_median_pose(hypotheses)) < 0.5 * error(aggregate.mean_pose(hypotheses))
    # a huge bandwidth turns mean shift into the mean
    np.testing.assert_allclose(aggregate.mean_shift_pose(hypotheses, bandwidth=1e6), aggregate.mean_pose(hypotheses),
                               atol=1e-2)
    # batched: leading axes are frames
    batched = aggregate.mean_shift_pose(jnp.stack([hypotheses, hypotheses]))
    assert batched.shape == (2, 17, 3)


def test_medoid_is_the_member_closest_to_all_others_and_geometric_median_minimises_mpjpe():
    rng = np.random.default_rng(2)
    hypotheses = jnp.asarray(_cluster(rng, STANDING_POSE_MM, 25, 60.0), jnp.float32)
    distances = np.array([[np.mean(np.linalg.norm(a - b, axis=-1)) for b in np.asarray(hypotheses)]
                          for a in np.asarray(hypotheses)])
    np.testing.assert_allclose(aggregate.medoid_pose(hypotheses), hypotheses[np.argmin(distances.sum(1))])
    median = np.asarray(aggregate.geometric_median_pose(hypotheses))

    def summed_mpjpe(pose):
        return float(np.sum(np.mean(np.linalg.norm(np.asarray(hypotheses) - pose, axis=-1), axis=-1)))

    for candidate in (np.asarray(aggregate.mean_pose(hypotheses)), median + rng.normal(0, 5.0, median.shape)):
        assert summed_mpjpe(median) <= summed_mpjpe(candidate) + 1e-3


def test_aggregations_by_name():
    assert {"mean", "reprojection", "geometric_median", "medoid", "mean_shift"} <= set(aggregate.AGGREGATIONS)
    hypotheses = jnp.asarray(np.random.default_rng(3).normal(0, 50, (2, 6, 17, 3)), jnp.float32)
    for name in ("mean", "geometric_median", "medoid", "mean_shift"):
        assert aggregate.aggregate(name, hypotheses).shape == (2, 17, 3)
    with pytest.raises(PoseDiffError, match="aggregation"):
        aggregate.aggregate("mode", hypotheses)
    with pytest.raises(PoseDiffError, match="reprojection"):
        aggregate.aggregate("reprojection", hypotheses)
