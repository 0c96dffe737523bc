import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.guidance import bilinear


def smooth_heatmaps(joints=3, height=9, width=11):
    rows, columns = np.mgrid[0:height, 0:width]
    maps = [np.exp(-((columns - 3.0 - j) ** 2 + (rows - 4.0) ** 2) / 8.0) for j in range(joints)]
    return jnp.asarray(np.stack(maps), jnp.float32)


def test_integer_points_read_the_pixel_and_midpoints_average():
    heatmaps = smooth_heatmaps()
    points = jnp.array([[2.0, 3.0], [5.0, 1.0], [0.0, 0.0]])
    values = bilinear.sample_heatmaps(heatmaps, points)
    np.testing.assert_allclose(values, [heatmaps[0, 3, 2], heatmaps[1, 1, 5], heatmaps[2, 0, 0]], rtol=1e-6)
    midpoint = bilinear.sample_heatmaps(heatmaps[:1], jnp.array([[2.5, 3.5]]))[0]
    expected = (heatmaps[0, 3, 2] + heatmaps[0, 3, 3] + heatmaps[0, 4, 2] + heatmaps[0, 4, 3]) / 4
    np.testing.assert_allclose(midpoint, expected, rtol=1e-6)


def test_gradient_matches_finite_differences():
    heatmaps = smooth_heatmaps()
    points = jnp.array([[2.3, 3.6], [6.71, 2.2], [4.45, 5.8]])

    def total(p):
        return jnp.sum(jnp.log(bilinear.sample_heatmaps(heatmaps, p) + 1e-3))

    gradient = np.asarray(jax.grad(total)(points))
    step = 1e-2
    numeric = np.zeros_like(gradient)
    for j in range(3):
        for axis in range(2):
            offset = jnp.zeros_like(points).at[j, axis].set(step)
            numeric[j, axis] = (total(points + offset) - total(points - offset)) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=2e-2, atol=1e-3)
    assert np.all(np.abs(gradient) > 1e-3)


def test_zero_mode_is_zero_outside_and_fades_at_the_border():
    heatmaps = jnp.ones((1, 4, 4))
    outside = bilinear.sample_heatmaps(heatmaps, jnp.array([[-2.0, 1.0]]))
    half = bilinear.sample_heatmaps(heatmaps, jnp.array([[3.5, 1.0]]))
    assert float(outside[0]) == 0.0
    np.testing.assert_allclose(half, [0.5], rtol=1e-6)


def test_border_mode_clamps_to_the_nearest_pixel():
    heatmaps = smooth_heatmaps()
    value = bilinear.sample_heatmaps(heatmaps, jnp.array([[-5.0, 2.0]] * 3), mode="border")
    np.testing.assert_allclose(value, heatmaps[:, 2, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        bilinear.sample_heatmap(heatmaps[0], jnp.zeros(2), mode="wrap")


def test_distance_outside_grid():
    distances = bilinear.distance_outside_grid(jnp.array([[1.0, 1.0], [-3.0, 1.0], [12.0, 10.0]]), 9, 11)
    np.testing.assert_allclose(distances, [0.0, 3.0, np.hypot(2.0, 2.0)], atol=1e-4)
