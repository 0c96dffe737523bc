"""Diversity, aggregation and calibration of hypothesis sets."""

import numpy as np
import pytest

from posediff_jax.evaluation import hypothesis_metrics
from posediff_jax.validation import PoseDiffError


def _random_poses(seed, shape):
    return np.random.default_rng(seed).normal(scale=100.0, size=shape).astype(np.float32)


def test_diversity_of_identical_hypotheses_is_zero():
    pose = _random_poses(0, (1, 1, 17, 3))
    hypotheses = np.repeat(pose, 5, axis=1)
    np.testing.assert_allclose(hypotheses_diversity(hypotheses), [0.0], atol=1e-4)


def hypotheses_diversity(hypotheses):
    return np.asarray(hypothesis_metrics.diversity(hypotheses))


def test_diversity_matches_brute_force_pairwise_mean():
    hypotheses = _random_poses(1, (3, 6, 17, 3))
    expected = []
    for frame in hypotheses:
        distances = [
            np.mean(np.linalg.norm(frame[a] - frame[b], axis=-1)) for a in range(6) for b in range(6) if a != b
        ]
        expected.append(np.mean(distances))
    np.testing.assert_allclose(hypotheses_diversity(hypotheses), expected, rtol=1e-4)


def test_diversity_of_two_translated_copies_is_the_offset():
    pose = _random_poses(2, (17, 3))
    hypotheses = np.stack([pose, pose + np.array([30.0, 40.0, 0.0], np.float32)])[None]
    np.testing.assert_allclose(hypotheses_diversity(hypotheses), [50.0], rtol=1e-5)


def test_single_hypothesis_has_zero_diversity():
    np.testing.assert_allclose(hypotheses_diversity(_random_poses(3, (2, 1, 17, 3))), [0.0, 0.0])


def test_aggregate_mean_and_median():
    hypotheses = _random_poses(4, (2, 5, 17, 3))
    np.testing.assert_allclose(hypothesis_metrics.aggregate(hypotheses, "mean"), hypotheses.mean(axis=1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(hypothesis_metrics.aggregate(hypotheses, "median"), np.median(hypotheses, axis=1), atol=1e-4)
    with pytest.raises(PoseDiffError, match="aggregation"):
        hypothesis_metrics.aggregate(hypotheses, "mode")
    from posediff_jax.sampling import aggregate as aggregation

    for name in ("geometric_median", "medoid", "mean_shift"):  # the mode-seeking estimates of sampling.aggregate
        np.testing.assert_allclose(hypothesis_metrics.aggregate(hypotheses, name),
                                   aggregation.aggregate(name, hypotheses), atol=1e-4)
    medoid = np.asarray(hypothesis_metrics.aggregate(hypotheses, "medoid"))
    assert all(np.any(np.all(np.isclose(hypotheses[f], medoid[f], atol=1e-4), axis=(-2, -1))) for f in range(2))


def test_aggregate_errors_zero_for_exact_estimate_and_pa_below_mpjpe():
    target = _random_poses(5, (4, 17, 3))
    exact = hypothesis_metrics.aggregate_errors(target, target)
    np.testing.assert_allclose(exact["mpjpe"], 0.0, atol=1e-4)
    noisy = target * 1.2 + 10.0
    errors = hypothesis_metrics.aggregate_errors(noisy, target)
    assert np.all(np.asarray(errors["pa_mpjpe"]) <= np.asarray(errors["mpjpe"]) + 1e-3)
    np.testing.assert_allclose(errors["pa_mpjpe"], 0.0, atol=1e-2)  # a similarity transform is undone


def test_calibration_is_near_nominal_when_truth_is_one_more_sample():
    # Ground truth and hypotheses drawn from the same Gaussian around a centre: coverage ~ nominal level.
    rng = np.random.default_rng(6)
    centre = rng.normal(scale=200.0, size=(64, 1, 17, 3)).astype(np.float32)
    hypotheses = centre + rng.normal(scale=40.0, size=(64, 200, 17, 3)).astype(np.float32)
    target = centre[:, 0] + rng.normal(scale=40.0, size=(64, 17, 3)).astype(np.float32)
    coverage = hypothesis_metrics.calibration(hypotheses, target, levels=(0.5, 0.9))
    assert abs(float(np.mean(coverage[0.5])) - 0.5) < 0.05
    assert abs(float(np.mean(coverage[0.9])) - 0.9) < 0.04


def test_calibration_detects_overconfidence():
    rng = np.random.default_rng(7)
    centre = rng.normal(scale=200.0, size=(16, 1, 17, 3)).astype(np.float32)
    hypotheses = centre + rng.normal(scale=5.0, size=(16, 50, 17, 3)).astype(np.float32)  # too narrow
    target = centre[:, 0] + rng.normal(scale=50.0, size=(16, 17, 3)).astype(np.float32)
    coverage = hypothesis_metrics.calibration(hypotheses, target, levels=(0.9,))
    assert float(np.mean(coverage[0.9])) < 0.1


def test_calibration_rejects_bad_levels_and_shapes():
    hypotheses = _random_poses(8, (2, 4, 17, 3))
    with pytest.raises(PoseDiffError, match="levels"):
        hypothesis_metrics.calibration(hypotheses, hypotheses[:, 0], levels=(1.5,))
    with pytest.raises(PoseDiffError, match="target"):
        hypothesis_metrics.calibration(hypotheses, hypotheses[:1, 0])
    with pytest.raises(PoseDiffError, match="hypotheses"):
        hypothesis_metrics.diversity(hypotheses[0])


def test_calibration_key_names():
    assert hypothesis_metrics.calibration_key(0.5) == "coverage_q50"
    assert hypothesis_metrics.calibration_key(0.9) == "coverage_q90"
