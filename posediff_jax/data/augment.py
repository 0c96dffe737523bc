"""Pose augmentations that keep the camera's view: left/right mirroring and rotation about the world vertical.

Poses are camera-frame (x right, y down, z forward); the world's up in camera coordinates is `up = R[:, 2]`
(z about -0.2: cameras look down). Rotating about `up` randomises the heading and keeps the camera's elevation
and roll ('camera_y' rotates about the camera's y axis instead, removing the elevation). Mirroring reflects
across the plane containing `up` and the optical axis and swaps left/right joints, so `up` is kept too.
"""

import numpy as np

from posediff_jax import skeleton
from posediff_jax.validation import PoseDiffError

ROTATION_AXES = ("world_vertical", "camera_y")
# The camera's own vertical (y points down), used when a pose's camera is unknown (synthetic data).
CAMERA_UP = np.array([0.0, -1.0, 0.0], np.float32)


def rotation_about_axes(axes, angles, xp=np):
    """Rodrigues: unit axes `[n, 3]`, angles `[n]` radians -> `[n, 3, 3]`; `xp` is NumPy (float64) or jax.numpy."""
    if xp is np:
        axes, angles = np.asarray(axes, np.float64), np.asarray(angles, np.float64)
    x, y, z = axes[:, 0], axes[:, 1], axes[:, 2]
    zeros = xp.zeros_like(x)
    cross = xp.stack([xp.stack([zeros, -z, y], -1), xp.stack([z, zeros, -x], -1),
                      xp.stack([-y, x, zeros], -1)], -2)
    sin, cos = xp.sin(angles)[:, None, None], xp.cos(angles)[:, None, None]
    return xp.eye(3) + sin * cross + (1.0 - cos) * (cross @ cross)


def reflections_across(normals, xp=np):
    """Reflections `[n, 3, 3]` across the planes with unit normals `[n, 3]`: `I - 2 n n^T`."""
    return xp.eye(3) - 2.0 * normals[:, :, None] * normals[:, None, :]


def mirror_planes(up: np.ndarray) -> np.ndarray:
    """Unit normals `[n, 3]` of the planes containing `up` `[n, 3]` and the optical axis: `normalize(up x z)`."""
    normals = np.stack([up[:, 1], -up[:, 0], np.zeros_like(up[:, 0])], -1)
    norms = np.linalg.norm(normals, axis=-1, keepdims=True)
    if np.any(norms < 1e-6):
        raise PoseDiffError("up vectors: an up vector along the camera's optical axis has no vertical mirror plane")
    return normals / norms


def check_up_vectors(up, count: int) -> np.ndarray:
    """`up` `[count, 3]` (or `[3]`, or None = the camera's -y) -> unit float64 `[count, 3]`; raises on bad input."""
    if up is None:
        up = CAMERA_UP
    up = np.asarray(up, np.float64)
    if up.shape == (3,):
        up = np.broadcast_to(up, (count, 3))
    if up.shape != (count, 3):
        raise PoseDiffError(f"up vectors: expected shape [{count}, 3] (one per pose), got {list(up.shape)}")
    norms = np.linalg.norm(up, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms < 1e-6):
        raise PoseDiffError("up vectors: every up vector must be finite and non-zero")
    return up / norms


def mirror_poses(poses: np.ndarray, up=None) -> np.ndarray:
    """Left/right mirror of poses `[n, 17, 3]` across `mirror_planes(up)`; `up=None` is `skeleton.flip_pose`."""
    poses = np.asarray(poses)
    normals = mirror_planes(check_up_vectors(up, len(poses)))
    reflections = reflections_across(normals)  # [n, 3, 3]
    mirrored = np.einsum("nij,nkj->nki", reflections, poses[:, skeleton.FLIP_PERMUTATION].astype(np.float64))
    return mirrored.astype(np.float32)


def check_augment_settings(flip_probability: float, max_rotation_degrees: float, rotation_axis: str) -> None:
    """Raises `PoseDiffError` for an unknown axis, a probability outside [0, 1] or a bad maximum angle."""
    if rotation_axis not in ROTATION_AXES:
        raise PoseDiffError(f"rotation_axis: expected one of {ROTATION_AXES}, got {rotation_axis!r}")
    if not 0.0 <= flip_probability <= 1.0:  # False for NaN too
        raise PoseDiffError(f"flip_probability: expected a probability in [0, 1], got {flip_probability!r}")
    if not 0.0 <= max_rotation_degrees < float("inf"):
        raise PoseDiffError(f"max_rotation_degrees: expected a finite angle >= 0, got {max_rotation_degrees!r}")


def augment_poses(poses: np.ndarray, rng: np.random.Generator, flip_probability: float = 0.5,
                  max_rotation_degrees: float = 180.0, up=None, rotation_axis: str = "world_vertical") -> np.ndarray:
    """Randomly mirrors and rotates root-relative poses `[n, 17, 3]` (mm) about each pose's `up` -> float32.

    `up`: `[n, 3]` or `[3]`, the world's up in each camera frame (None: the camera's -y); angles are uniform in
    [-max, max]. Bone lengths, the root and every joint's height along `up` are kept.
    """
    check_augment_settings(flip_probability, max_rotation_degrees, rotation_axis)
    poses = np.asarray(poses, np.float32)
    count = len(poses)
    up = check_up_vectors(None if rotation_axis == "camera_y" else up, count)
    flip = rng.random(count) < flip_probability
    transforms = np.broadcast_to(np.eye(3), (count, 3, 3)).copy()  # [n, 3, 3] applied as x -> T x
    if np.any(flip):
        normals = mirror_planes(up[flip])
        transforms[flip] = reflections_across(normals)
        poses = np.where(flip[:, None, None], poses[:, skeleton.FLIP_PERMUTATION], poses)
    if max_rotation_degrees > 0:
        angles = rng.uniform(-1.0, 1.0, count) * np.deg2rad(max_rotation_degrees)
        transforms = rotation_about_axes(up, angles) @ transforms
    return np.matmul(poses, transforms.transpose(0, 2, 1).astype(np.float32))


def body_up_vectors(poses: np.ndarray) -> np.ndarray:
    """Unit pelvis -> thorax direction of poses `[..., 17, 3]` -> `[..., 3]`: a camera-free up estimate."""
    poses = np.asarray(poses, np.float64)
    spine = poses[..., skeleton.JOINT_INDEX["Thorax"], :] - poses[..., skeleton.ROOT_JOINT, :]
    return spine / np.maximum(np.linalg.norm(spine, axis=-1, keepdims=True), 1e-9)
