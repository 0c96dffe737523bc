"""Differentiable bilinear reads of per-joint heatmaps at continuous points.

`heatmaps[j, r, c]` is the value at heatmap coordinate (x=c, y=r) (docs/architecture.md); the gradient w.r.t. the
point is the slope of the bilinear patch. Outside the grid, `mode` 'zero' reads zero (right for likelihoods: no
mass outside the crop) and 'border' clamps the point onto the grid (zero gradient outside).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MODES = ("zero", "border")


def sample_heatmap(heatmap, point, mode: str = "zero"):
    """Bilinear value of one heatmap `[H, W]` at point `[2]` (x, y) heatmap coordinates -> scalar."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    height, width = heatmap.shape
    x, y = point[0], point[1]
    if mode == "border":
        x = jnp.clip(x, 0.0, width - 1.0)
        y = jnp.clip(y, 0.0, height - 1.0)
    x_floor = jnp.floor(jax.lax.stop_gradient(x))
    y_floor = jnp.floor(jax.lax.stop_gradient(y))
    weight_x1 = x - x_floor
    weight_y1 = y - y_floor
    weight_x0 = 1.0 - weight_x1
    weight_y0 = 1.0 - weight_y1
    column0 = x_floor.astype(jnp.int32)
    row0 = y_floor.astype(jnp.int32)

    def read(row, column):
        inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
        value = heatmap[jnp.clip(row, 0, height - 1), jnp.clip(column, 0, width - 1)]
        return jnp.where(inside, value, 0.0)

    return (
        weight_y0 * (weight_x0 * read(row0, column0) + weight_x1 * read(row0, column0 + 1))
        + weight_y1 * (weight_x0 * read(row0 + 1, column0) + weight_x1 * read(row0 + 1, column0 + 1))
    )


def sample_heatmaps(heatmaps, points, mode: str = "zero"):
    """`[J]` values of `heatmaps [J, H, W]` at `points [J, 2]` (x, y), one point per joint."""
    return jax.vmap(lambda heatmap, point: sample_heatmap(heatmap, point, mode))(heatmaps, points)


def distance_outside_grid(points, height: int, width: int):
    """`[J]` Euclidean distance (heatmap pixels) from `points` `[J, 2]` to the grid `[0, W-1] x [0, H-1]`."""
    below = jnp.maximum(-points, 0.0)
    above = jnp.maximum(points - jnp.array([width - 1.0, height - 1.0]), 0.0)
    excess = below + above
    return jnp.sqrt(jnp.sum(excess**2, axis=-1) + 1e-12) - 1e-6
