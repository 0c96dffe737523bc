"""2D affine maps `[2, 3]` between image, network-input and heatmap pixel frames, and affine resampling.

Every frame uses the project's pixel convention: pixel centres at integer coordinates, (x, y) = (column, row).
An affine `A` maps a point by `A @ [x, y, 1]`.
"""

from __future__ import annotations

import numpy as np


def to_homogeneous(affine: np.ndarray) -> np.ndarray:
    """`[2, 3]` -> `[3, 3]` with last row (0, 0, 1)."""
    return np.concatenate([np.asarray(affine, np.float64), [[0.0, 0.0, 1.0]]], axis=0)


def invert(affine: np.ndarray) -> np.ndarray:
    """Inverse of an invertible `[2, 3]` affine."""
    return np.linalg.inv(to_homogeneous(affine))[:2]


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """`outer ∘ inner`: first `inner`, then `outer` (both `[2, 3]`)."""
    return (to_homogeneous(outer) @ to_homogeneous(inner))[:2]


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Maps points `[..., 2]` by a `[2, 3]` affine."""
    points = np.asarray(points, np.float64)
    affine = np.asarray(affine, np.float64)
    return points @ affine[:, :2].T + affine[:, 2]


def scale_translate(scale: float, offset_x: float, offset_y: float) -> np.ndarray:
    """`[2, 3]` affine x -> scale * x + offset."""
    return np.array([[scale, 0.0, offset_x], [0.0, scale, offset_y]], dtype=np.float64)


def rescale_pixel_grid(factor: float) -> np.ndarray:
    """Affine from a pixel grid to one `factor` times coarser (e.g. 4 for 256 -> 64), pixel centres at integers.

    Pixel `i` of the fine grid covers [i - 0.5, i + 0.5); cell `k` of the coarse grid covers the fine pixels
    [factor k - 0.5, factor (k + 1) - 0.5), whose centre is `factor k + (factor - 1) / 2`.
    """
    return scale_translate(1.0 / factor, -(factor - 1.0) / (2.0 * factor), -(factor - 1.0) / (2.0 * factor))


def warp_image(image: np.ndarray, output_to_image: np.ndarray, output_height: int, output_width: int) -> np.ndarray:
    """Resamples an image on an affine grid (bilinear, zero outside the image).

    Args:
      image: `[H, W, C]` array (any numeric dtype).
      output_to_image: `[2, 3]` affine from output pixel (x, y) to image pixel (x, y).
      output_height, output_width: output size.
    Returns:
      `[output_height, output_width, C]` float32.
    """
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
