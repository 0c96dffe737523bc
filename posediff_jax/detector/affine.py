"""2D affines `[2, 3]` (`A @ [x, y, 1]`) between image, network-input and heatmap pixels, and affine resampling.

Pixel centres sit at integer coordinates, (x, y) = (column, row).
"""

from __future__ import annotations

import numpy as np

from posediff_jax import geometry


invert = geometry.invert_affine


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """`outer ∘ inner`: first `inner`, then `outer` (both `[2, 3]`)."""
    outer, inner = (np.vstack([np.asarray(affine, np.float64), [0.0, 0.0, 1.0]]) for affine in (outer, inner))
    return (outer @ inner)[:2]


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points `[..., 2]` mapped by a `[2, 3]` affine, in float64."""
    return geometry.apply_affine(np.asarray(affine, np.float64), np.asarray(points, np.float64))


def scale_translate(scale: float, offset_x: float, offset_y: float) -> np.ndarray:
    """`[2, 3]` affine x -> scale * x + offset."""
    return np.array([[scale, 0.0, offset_x], [0.0, scale, offset_y]], dtype=np.float64)


def rescale_pixel_grid(factor: float) -> np.ndarray:
    """Affine from a pixel grid to one `factor` times coarser (4: 256 -> 64): coarse cell `k` covers the fine
    pixels [factor k - 0.5, factor (k + 1) - 0.5), centred at `factor k + (factor - 1) / 2`."""
    return scale_translate(1.0 / factor, -(factor - 1.0) / (2.0 * factor), -(factor - 1.0) / (2.0 * factor))


def warp_image(image: np.ndarray, output_to_image: np.ndarray, output_height: int, output_width: int) -> np.ndarray:
    """`[output_height, output_width, C]` float32 bilinear resampling of `image [H, W, C]` (zero outside it) at
    `output_to_image` (output pixel -> image pixel)."""
    image = np.asarray(image, np.float32)
    height, width = image.shape[:2]
    rows, cols = np.meshgrid(np.arange(output_height), np.arange(output_width), indexing="ij")
    grid = np.stack([cols, rows], axis=-1).astype(np.float64)
    source = apply(output_to_image, grid)
    x, y = source[..., 0], source[..., 1]
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0)[..., None].astype(np.float32)
    fy = (y - y0)[..., None].astype(np.float32)
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))  # zero border: index -1 and W read zeros

    def gather(yi, xi):
        yi = np.clip(yi + 1, 0, height + 1)
        xi = np.clip(xi + 1, 0, width + 1)
        return padded[yi, xi]

    top = gather(y0, x0) * (1 - fx) + gather(y0, x0 + 1) * fx
    bottom = gather(y0 + 1, x0) * (1 - fx) + gather(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy
