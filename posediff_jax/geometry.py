"""Camera geometry in pure `jax.numpy`: jit-, vmap- and grad-able; shapes broadcast over leading axes.

Camera frame x right, y down, z forward, mm; pixels (x, y) = (column, row); `X_camera = R @ X_world + t`
(docs/architecture.md). The projection also takes `xp=numpy`: dataset preparation projects thousands of
differently-sized sequences, for which jax would compile per shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.validation import check_array, check_same_shape


def world_to_camera(points_world, rotation, translation):
    """`X_camera = R X_world + t`: points `[..., J, 3]`, world-to-camera rotation R `[..., 3, 3]`, translation t
    `[..., 3]` (the points' units) -> camera-frame points `[..., J, 3]`."""
    _check_rigid("points_world", points_world, rotation, translation)
    return jnp.einsum("...ij,...nj->...ni", rotation, points_world) + translation[..., None, :]


def camera_to_world(points_camera, rotation, translation):
    """Inverse of `world_to_camera`: `X_world = R^T (X_camera - t)`. Shapes as there."""
    _check_rigid("points_camera", points_camera, rotation, translation)
    return jnp.einsum("...ji,...nj->...ni", rotation, points_camera - translation[..., None, :])


def _check_rigid(name, points, rotation, translation):
    check_array(name, points, ("...", None, 3))
    check_array("rotation", rotation, ("...", 3, 3))
    check_array("translation", translation, ("...", 3))


def apply_distortion(normalized, distortion, xp=jnp):
    """Human3.6M's lens model (its release code's, as VideoPose3D's) on normalised `[..., J, 2]` (x / z, y / z),
    `distortion [..., 5] = (k1, k2, p1, p2, k3)`: `x' = x (radial + p1 y + p2 x) + p2 r^2`,
    `y' = y (radial + p1 y + p2 x) + p1 r^2`, `radial = 1 + k1 r^2 + k2 r^4 + k3 r^6`."""
    check_array("distortion", distortion, ("...", 5))
    k1, k2, p1, p2, k3 = (distortion[..., i, None] for i in range(5))
    x, y = normalized[..., 0], normalized[..., 1]
    r2 = x**2 + y**2
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tangential = p1 * y + p2 * x
    return xp.stack([x * (radial + tangential) + p2 * r2, y * (radial + tangential) + p1 * r2], axis=-1)


def undistort_pixels(pixels, intrinsics, distortion, iterations: int = 20) -> np.ndarray:
    """`[..., J, 2]` pixels a pinhole camera would see, from pixels of the lens `apply_distortion` models (NumPy,
    float64): its fixed point `x = (x' - p2 r^2) / (radial + tangential)`, converging for the gentle distortion
    of measurement lenses; K `[..., 3, 3]`, distortion `[..., 5]`."""
    distorted = np.asarray(pixels_to_normalized(np.asarray(pixels, np.float64), np.asarray(intrinsics, np.float64)))
    k1, k2, p1, p2, k3 = (np.asarray(distortion, np.float64)[..., i, None] for i in range(5))
    x, y = distorted[..., 0], distorted[..., 1]
    for _ in range(int(iterations)):
        r2 = x**2 + y**2
        factor = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3 + p1 * y + p2 * x
        x, y = (distorted[..., 0] - p2 * r2) / factor, (distorted[..., 1] - p1 * r2) / factor
    return np.asarray(normalized_to_pixels(np.stack([x, y], axis=-1), np.asarray(intrinsics, np.float64), np))


def project_to_pixels(points_camera, intrinsics, distortion=None, min_depth: float = 1e-3, xp=jnp):
    """`[..., J, 2]` pixels of camera-frame points `[..., J, 3]` (depths clamped at `min_depth`, keeping gradients
    finite) with K `[..., 3, 3]` and optional `distortion [..., 5]` (`apply_distortion`)."""
    check_array("points_camera", points_camera, ("...", None, 3))
    check_array("intrinsics", intrinsics, ("...", 3, 3))
    depth = xp.maximum(points_camera[..., 2:3], min_depth)
    normalized = points_camera[..., :2] / depth
    if distortion is not None:
        normalized = apply_distortion(normalized, distortion, xp)
    return normalized_to_pixels(normalized, intrinsics, xp)


def project_to_pixels_numpy(points_camera, intrinsics, distortion=None, min_depth: float = 1e-3):
    """`project_to_pixels` computed in float64 NumPy (no compilation), returned as float32 `[..., J, 2]`."""
    distortion = None if distortion is None else np.asarray(distortion, np.float64)
    return np.asarray(project_to_pixels(np.asarray(points_camera, np.float64), np.asarray(intrinsics, np.float64),
                                        distortion, min_depth, xp=np), np.float32)


def normalized_to_pixels(normalized, intrinsics, xp=jnp):
    """`[..., J, 2]` normalised image coordinates -> pixels with K `[..., 3, 3]` (skew honoured)."""
    check_array("normalized", normalized, ("...", None, 2))
    fx, fy, skew, cx, cy = _intrinsic_terms(intrinsics)
    x, y = normalized[..., 0], normalized[..., 1]
    return xp.stack([fx * x + skew * y + cx, fy * y + cy], axis=-1)


def pixels_to_normalized(pixels, intrinsics):
    """`[..., J, 2]` pixels -> normalised coordinates (inverse of `normalized_to_pixels`, no distortion)."""
    check_array("pixels", pixels, ("...", None, 2))
    check_array("intrinsics", intrinsics, ("...", 3, 3))
    fx, fy, skew, cx, cy = _intrinsic_terms(intrinsics)
    y = (pixels[..., 1] - cy) / fy
    x = (pixels[..., 0] - cx - skew * y) / fx
    return jnp.stack([x, y], axis=-1)


def _intrinsic_terms(intrinsics):
    """(fx, fy, skew, cx, cy), each `[..., 1]`, of K `[..., 3, 3]`."""
    return tuple(intrinsics[..., row, column, None] for row, column in ((0, 0), (1, 1), (0, 1), (0, 2), (1, 2)))


def apply_affine(affine, points):
    """Points mapped by 2D affines `A @ [x, y, 1]`: one `[2, 3]` affine maps points `[..., 2]`, a batch `[..., 2, 3]`
    maps points `[..., N, 2]` (NumPy or jax arrays alike)."""
    offset = affine[..., 2] if affine.ndim == 2 else affine[..., None, :, 2]
    return points @ affine[..., :2].swapaxes(-1, -2) + offset


def invert_affine(affine):
    """The inverse `[..., 2, 3]` of invertible `[..., 2, 3]` affines (NumPy, float64)."""
    affine = np.asarray(affine, np.float64)
    linear = np.linalg.inv(affine[..., :2])
    return np.concatenate([linear, -(linear @ affine[..., 2:])], axis=-1)


def solve_root_translation(root_relative_pose, keypoints_2d, intrinsics, weights=None, ridge: float = 1e-6):
    """`[..., 3]` mm root T placing `root_relative_pose [..., J, 3]` mm onto `keypoints_2d [..., J, 2]` pixels.

    Each joint gives `T_x - x_j T_z = x_j Z_j - X_j`, `T_y - y_j T_z = y_j Z_j - Y_j` (normalised x_j, y_j), solved by
    weighted least squares (`weights [..., J]`, 0 ignores a joint) with a relative `ridge`; differentiable.
    """
    return solve_normal_equations(*root_normal_equations(root_relative_pose, keypoints_2d, intrinsics, weights), ridge)


def root_normal_equations(root_relative_pose, keypoints_2d, intrinsics, weights=None):
    """(`[..., 3, 3]`, `[..., 3]`): the normal equations `A T = b` of `solve_root_translation`'s least squares, which
    several cameras' share of one root sum into (guidance/multiview.py)."""
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
    normal_matrix = (jnp.einsum("...ji,...jk->...ik", rows_x * w, rows_x)
                     + jnp.einsum("...ji,...jk->...ik", rows_y * w, rows_y))
    normal_rhs = jnp.einsum("...ji,...j->...i", rows_x * w, rhs_x) + jnp.einsum("...ji,...j->...i", rows_y * w, rhs_y)
    return normal_matrix, normal_rhs


def solve_normal_equations(normal_matrix, normal_rhs, ridge: float = 1e-6):
    """`[..., 3]` solution of `A T = b` with a ridge relative to A's trace (finite without any weighted joint)."""
    scale = jnp.trace(normal_matrix, axis1=-2, axis2=-1)[..., None, None] / 3.0
    normal_matrix = normal_matrix + (ridge * scale + 1e-12) * jnp.eye(3, dtype=normal_matrix.dtype)
    return solve_3x3(normal_matrix, normal_rhs)


def root_translation_for(pose, evidence, weights=None):
    """`[..., 3]` mm root of `pose [..., J, 3]` for 2D evidence: `evidence.root_translation` where `use_given_root`,
    else solved from its `keypoints_2d` weighted by `weights` (default `evidence.joint_weights`)."""
    weights = evidence.joint_weights if weights is None else weights
    solved = solve_root_translation(pose, evidence.keypoints_2d, evidence.intrinsics, weights)
    return jnp.where(jnp.asarray(evidence.use_given_root)[..., None], evidence.root_translation, solved)


@jax.jit  # one compiled program when called eagerly instead of ~40 dispatched ops
def solve_3x3(matrix, rhs):
    """`matrix [..., 3, 3] @ x = rhs [..., 3]` by the adjugate, for well-conditioned systems: no LU factorisation
    to trace and differentiate at every sampler step."""
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
    """(scale `[...]`, rotation `[..., 3, 3]` with det +1, translation `[..., 3]`) minimising
    `sum_j || s R p_j + t - q_j ||^2` for `predicted`, `target` `[..., J, 3]` (Umeyama; finite when degenerate)."""
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
    correction = jnp.concatenate([jnp.ones(reflection.shape + (2,), covariance.dtype), reflection[..., None]], axis=-1)
    rotation = jnp.einsum("...ij,...j,...jk->...ik", u, correction, vt)
    if allow_scale:
        predicted_norm = jnp.sum(centered_predicted**2, axis=(-2, -1))
        scale = jnp.sum(singular_values * correction, axis=-1) / jnp.maximum(predicted_norm, eps)
    else:
        scale = jnp.ones(covariance.shape[:-2], covariance.dtype)
    rotated_mean = jnp.einsum("...ij,...j->...i", rotation, mean_predicted[..., 0, :])
    translation = mean_target[..., 0, :] - scale[..., None] * rotated_mean
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


def triangulate_points(keypoints_2d, intrinsics, rotations, translations, weights):
    """`[..., J, 3]` world points (mm) by weighted linear (DLT) triangulation from V views: `keypoints_2d [..., V,
    J, 2]` px, `intrinsics [..., V, 3, 3]`, world -> camera `rotations [..., V, 3, 3]`, `translations [..., V, 3]`
    mm, `weights [..., V, J]` (0 drops a view's joint); NaN where fewer than two views see a joint."""
    homogeneous_pixels = jnp.concatenate([keypoints_2d, jnp.ones_like(keypoints_2d[..., :1])], axis=-1)
    normalized = jnp.einsum("...ij,...kj->...ki", jnp.linalg.inv(intrinsics), homogeneous_pixels)[..., :2]
    projections = jnp.concatenate([rotations, translations[..., None]], axis=-1)[..., None, :, :]  # [..., V, 1, 3, 4]
    rows = normalized[..., :, None] * projections[..., 2:3, :] - projections[..., :2, :]  # [..., V, J, 2, 4]
    rows = rows * weights[..., None, None]
    design = jnp.moveaxis(rows, -4, -3).reshape(*rows.shape[:-4], rows.shape[-3], -1, 4)  # [..., J, 2V, 4]
    homogeneous = jnp.linalg.svd(design)[2][..., -1, :]  # the right singular vector of the smallest value
    points = homogeneous[..., :3] / homogeneous[..., 3:]
    return jnp.where((jnp.sum(weights > 0, axis=-2) >= 2)[..., None], points, jnp.nan)
