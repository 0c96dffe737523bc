"""Camera geometry in pure `jax.numpy`: jit-, vmap- and grad-able; shapes broadcast over leading axes.

The projection functions also take `xp=numpy` (one lens model, two array libraries): dataset preparation
projects thousands of differently-sized sequences, for which jax would compile per shape
(`project_to_pixels_numpy`).

Conventions (docs/architecture.md): camera frame x right, y down, z forward, millimetres; pixels (x, y) =
(column, row); `X_camera = R @ X_world + t` (Human3.6M's extrinsics).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.validation import check_array, check_same_shape


def world_to_camera(points_world, rotation, translation):
    """`X_camera = R X_world + t`.

    Args:
      points_world: `[..., J, 3]`.
      rotation: `[..., 3, 3]` world-to-camera rotation R.
      translation: `[..., 3]` t (same units as the points).
    Returns:
      `[..., J, 3]` camera-frame points.
    """
    check_array("points_world", points_world, ("...", None, 3))
    check_array("rotation", rotation, ("...", 3, 3))
    check_array("translation", translation, ("...", 3))
    return jnp.einsum("...ij,...nj->...ni", rotation, points_world) + translation[..., None, :]


def camera_to_world(points_camera, rotation, translation):
    """Inverse of `world_to_camera`: `X_world = R^T (X_camera - t)`. Shapes as there."""
    check_array("points_camera", points_camera, ("...", None, 3))
    check_array("rotation", rotation, ("...", 3, 3))
    check_array("translation", translation, ("...", 3))
    return jnp.einsum("...ji,...nj->...ni", rotation, points_camera - translation[..., None, :])


def apply_distortion(normalized, distortion, xp=jnp):
    """Human3.6M's radial + tangential lens model on normalised coordinates.

    This is the model of the Human3.6M release code (also used by 3d-pose-baseline and VideoPose3D), with
    `distortion = (k1, k2, p1, p2, k3)`:
    `x' = x (radial + p1 y + p2 x) + p2 r^2`, `y' = y (radial + p1 y + p2 x) + p1 r^2`,
    `radial = 1 + k1 r^2 + k2 r^4 + k3 r^6`.

    Args:
      normalized: `[..., J, 2]` (x / z, y / z).
      distortion: `[..., 5]`.
      xp: the array library (`jax.numpy`, or `numpy` outside traced code).
    """
    check_array("distortion", distortion, ("...", 5))
    k1, k2, p1, p2, k3 = (distortion[..., i, None] for i in range(5))
    x, y = normalized[..., 0], normalized[..., 1]
    r2 = x**2 + y**2
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tangential = p1 * y + p2 * x
    return xp.stack([x * (radial + tangential) + p2 * r2, y * (radial + tangential) + p1 * r2], axis=-1)


def project_to_pixels(points_camera, intrinsics, distortion=None, min_depth: float = 1e-3, xp=jnp):
    """Pinhole projection of camera-frame points to pixels.

    Args:
      points_camera: `[..., J, 3]` (z > 0 in front of the camera; depths below `min_depth` are clamped so the
        projection and its gradient stay finite).
      intrinsics: `[..., 3, 3]` K.
      distortion: optional `[..., 5]` (k1, k2, p1, p2, k3), see `apply_distortion`.
      xp: the array library (`jax.numpy`, or `numpy` outside traced code).
    Returns:
      `[..., J, 2]` pixels (x, y).
    """
    check_array("points_camera", points_camera, ("...", None, 3))
    check_array("intrinsics", intrinsics, ("...", 3, 3))
    depth = xp.maximum(points_camera[..., 2:3], min_depth)
    normalized = points_camera[..., :2] / depth
    if distortion is not None:
        normalized = apply_distortion(normalized, distortion, xp)
    return normalized_to_pixels(normalized, intrinsics, xp)


def project_to_pixels_numpy(points_camera, intrinsics, distortion=None, min_depth: float = 1e-3):
    """`project_to_pixels` computed in float64 NumPy (no compilation), returned as float32 `[..., J, 2]`."""
    return np.asarray(project_to_pixels(
        np.asarray(points_camera, np.float64), np.asarray(intrinsics, np.float64),
        None if distortion is None else np.asarray(distortion, np.float64), min_depth, xp=np), np.float32)


def normalized_to_pixels(normalized, intrinsics, xp=jnp):
    """`[..., J, 2]` normalised image coordinates -> pixels with K `[..., 3, 3]` (skew honoured)."""
    check_array("normalized", normalized, ("...", None, 2))
    fx, fy = intrinsics[..., 0, 0, None], intrinsics[..., 1, 1, None]
    skew = intrinsics[..., 0, 1, None]
    cx, cy = intrinsics[..., 0, 2, None], intrinsics[..., 1, 2, None]
    x, y = normalized[..., 0], normalized[..., 1]
    return xp.stack([fx * x + skew * y + cx, fy * y + cy], axis=-1)


def pixels_to_normalized(pixels, intrinsics):
    """`[..., J, 2]` pixels -> normalised coordinates (inverse of `normalized_to_pixels`, no distortion)."""
    check_array("pixels", pixels, ("...", None, 2))
    check_array("intrinsics", intrinsics, ("...", 3, 3))
    fx, fy = intrinsics[..., 0, 0, None], intrinsics[..., 1, 1, None]
    skew = intrinsics[..., 0, 1, None]
    cx, cy = intrinsics[..., 0, 2, None], intrinsics[..., 1, 2, None]
    y = (pixels[..., 1] - cy) / fy
    x = (pixels[..., 0] - cx - skew * y) / fx
    return jnp.stack([x, y], axis=-1)


def solve_root_translation(root_relative_pose, keypoints_2d, intrinsics, weights=None, ridge: float = 1e-6):
    """Closed-form root translation that best explains 2D keypoints (weighted linear least squares).

    For every joint j, `(X_j + T)` must project onto normalised point `(x_j, y_j)`:
    `T_x - x_j T_z = x_j Z_j - X_j` and `T_y - y_j T_z = y_j Z_j - Y_j` (2J equations, 3 unknowns). The
    algebraic error is minimised through 3x3 normal equations; differentiable in all inputs.

    Args:
      root_relative_pose: `[..., J, 3]` mm.
      keypoints_2d: `[..., J, 2]` pixels (undistorted).
      intrinsics: `[..., 3, 3]`.
      weights: optional `[..., J]` non-negative joint weights (0 ignores a joint).
      ridge: relative Tikhonov term that keeps degenerate systems solvable.
    Returns:
      `[..., 3]` root translation T in mm.
    """
    check_array("root_relative_pose", root_relative_pose, ("...", None, 3))
    check_array("keypoints_2d", keypoints_2d, ("...", None, 2))
    normalized = pixels_to_normalized(keypoints_2d, intrinsics)
    x, y = normalized[..., 0], normalized[..., 1]
    big_x, big_y, big_z = root_relative_pose[..., 0], root_relative_pose[..., 1], root_relative_pose[..., 2]
    if weights is None:
        weights = jnp.ones_like(x)
    ones, zeros = jnp.ones_like(x), jnp.zeros_like(x)
    # Rows [..., J, 3] of the design matrix for the x and y equations.
    rows_x = jnp.stack([ones, zeros, -x], axis=-1)
    rows_y = jnp.stack([zeros, ones, -y], axis=-1)
    rhs_x = x * big_z - big_x
    rhs_y = y * big_z - big_y
    w = weights[..., None]
    normal_matrix = jnp.einsum("...ji,...jk->...ik", rows_x * w, rows_x) + jnp.einsum(
        "...ji,...jk->...ik", rows_y * w, rows_y
    )
    normal_rhs = jnp.einsum("...ji,...j->...i", rows_x * w, rhs_x) + jnp.einsum("...ji,...j->...i", rows_y * w, rhs_y)
    scale = jnp.trace(normal_matrix, axis1=-2, axis2=-1)[..., None, None] / 3.0
    normal_matrix = normal_matrix + (ridge * scale + 1e-12) * jnp.eye(3, dtype=normal_matrix.dtype)
    return solve_3x3(normal_matrix, normal_rhs)


@jax.jit  # one compiled program when called eagerly (aggregation, tests) instead of ~40 dispatched ops
def solve_3x3(matrix, rhs):
    """`matrix [..., 3, 3] @ x = rhs [..., 3]` by the adjugate (Cramer's rule) for well-conditioned systems such as
    the ridge-regularised normal equations above. Same result as `jnp.linalg.solve` to float32 rounding, but a
    dozen element-wise ops: no LU factorisation and triangular solves to trace, run and differentiate at every
    sampler step (tracing `jnp.linalg.solve` took ~0.14 s of the CLI's start per call site)."""
    a = matrix
    cofactor = lambda i, j, k, l: a[..., i, k] * a[..., j, l] - a[..., i, l] * a[..., j, k]
    # Adjugate (transpose of the cofactor matrix), row by row.
    adjugate = jnp.stack([
        jnp.stack([cofactor(1, 2, 1, 2), -cofactor(0, 2, 1, 2), cofactor(0, 1, 1, 2)], axis=-1),
        jnp.stack([-cofactor(1, 2, 0, 2), cofactor(0, 2, 0, 2), -cofactor(0, 1, 0, 2)], axis=-1),
        jnp.stack([cofactor(1, 2, 0, 1), -cofactor(0, 2, 0, 1), cofactor(0, 1, 0, 1)], axis=-1),
    ], axis=-2)
    determinant = jnp.sum(a[..., 0, :] * adjugate[..., :, 0], axis=-1)
    return jnp.einsum("...ij,...j->...i", adjugate, rhs) / determinant[..., None]


def procrustes_transform(predicted, target, allow_scale: bool = True, eps: float = 1e-8):
    """Similarity transform (scale s, rotation R without reflection, translation t) taking `predicted` to `target`.

    Minimises `sum_j || s R p_j + t - q_j ||^2` (Umeyama). Degenerate inputs (all points equal, collinear,
    zeros) give a finite result: the scale denominator is floored by `eps` and the reflection fix keeps
    `det(R) = +1`.

    Args:
      predicted: `[..., J, 3]`.
      target: `[..., J, 3]`.
    Returns:
      (scale `[...]`, rotation `[..., 3, 3]`, translation `[..., 3]`).
    """
    check_array("predicted", predicted, ("...", "joints", 3))
    check_array("target", target, ("...", "joints", 3))
    check_same_shape("predicted", predicted, "target", target)
    mean_predicted = jnp.mean(predicted, axis=-2, keepdims=True)
    mean_target = jnp.mean(target, axis=-2, keepdims=True)
    centered_predicted = predicted - mean_predicted
    centered_target = target - mean_target
    covariance = jnp.einsum("...ji,...jk->...ik", centered_target, centered_predicted)  # sum_j q_j p_j^T
    u, singular_values, vt = jnp.linalg.svd(covariance)
    reflection = jnp.sign(jnp.linalg.det(jnp.einsum("...ij,...jk->...ik", u, vt)))
    reflection = jnp.where(reflection == 0, 1.0, reflection)
    correction = jnp.concatenate(
        [jnp.ones(reflection.shape + (2,), covariance.dtype), reflection[..., None]], axis=-1
    )
    rotation = jnp.einsum("...ij,...j,...jk->...ik", u, correction, vt)
    if allow_scale:
        predicted_norm = jnp.sum(centered_predicted**2, axis=(-2, -1))
        scale = jnp.sum(singular_values * correction, axis=-1) / jnp.maximum(predicted_norm, eps)
    else:
        scale = jnp.ones(covariance.shape[:-2], covariance.dtype)
    translation = mean_target[..., 0, :] - scale[..., None] * jnp.einsum(
        "...ij,...j->...i", rotation, mean_predicted[..., 0, :]
    )
    return scale, rotation, translation


def procrustes_align(predicted, target, allow_scale: bool = True):
    """`predicted` `[..., J, 3]` after the similarity transform that best matches `target` `[..., J, 3]`."""
    scale, rotation, translation = procrustes_transform(predicted, target, allow_scale=allow_scale)
    rotated = jnp.einsum("...ij,...nj->...ni", rotation, predicted)
    return scale[..., None, None] * rotated + translation[..., None, :]


def random_rotation(key, shape=()):
    """Uniformly random rotations `[*shape, 3, 3]` (QR of Gaussian matrices with sign fix, det +1)."""
    gaussian = jax.random.normal(key, tuple(shape) + (3, 3))
    q, r = jnp.linalg.qr(gaussian)
    q = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    det = jnp.linalg.det(q)
    return q.at[..., :, 0].multiply(det[..., None])
