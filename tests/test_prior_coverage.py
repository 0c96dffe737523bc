"""tools/eval_prior_coverage.py: nearest-of-N distances and the coverage report, on synthetic data."""


import numpy as np
import pytest

from posediff_jax.data.synthetic import synthetic_poses


@pytest.fixture(scope="module")
def coverage(load_tool):
    return load_tool("eval_prior_coverage")


def test_nearest_distances_is_the_mpjpe_to_the_closest_candidate(coverage):
    candidates = synthetic_poses(50, seed=0)
    real = candidates[[3, 7]] + np.array([0.0, 0.0, 10.0], np.float32)  # every joint 10 mm away
    np.testing.assert_allclose(coverage.nearest_distances(real, candidates, chunk=1), [10.0, 10.0], atol=1e-3)
    brute = np.array([min(np.linalg.norm(r - c, axis=-1).mean() for c in candidates) for r in synthetic_poses(5, 9)])
    np.testing.assert_allclose(coverage.nearest_distances(synthetic_poses(5, 9), candidates), brute, rtol=1e-5)


def test_report_sees_that_camera_y_augmentation_loses_the_elevation(coverage):
    from posediff_jax.data.augment import rotation_about_axes

    count = 600
    tilt = rotation_about_axes(np.tile([1.0, 0.0, 0.0], (count, 1)), np.full(count, np.deg2rad(12.0)))
    poses = np.einsum("nij,nkj->nki", tilt, synthetic_poses(count, seed=1)).astype(np.float32)
    up = (tilt @ np.array([0.0, -1.0, 0.0])).astype(np.float32)
    report = coverage.coverage_report(poses[:100], poses[100:], up[100:], {}, num=300, repeats=2)
    sets = report["sets"]
    assert report["real"]["up_z_mean"] < -0.15
    assert abs(sets["training, augmented (world vertical, new)"]["up_z_mean"] - report["real"]["up_z_mean"]) < 0.05
    assert abs(sets["training, augmented (camera y, old)"]["up_z_mean"]) < 0.05
    assert (sets["training, augmented (camera y, old)"]["nearest_mean_mm"]
            > sets["training, augmented (world vertical, new)"]["nearest_mean_mm"])
