"""Augmentations that keep a pose valid and keep the camera's view of it: left/right mirroring and rotation
about the world's vertical axis as each pose's camera sees it.

Human3.6M poses are in the camera frame (x right, y down, z forward) and every camera looks slightly down at
the subject: the world's up direction in camera coordinates, `up = R[:, 2]` for `X_cam = R X_world + t` (world
z is up), has a z component of about -0.2 (it tilts away from the camera) and a small x component (roll).
Rotating about that `up` randomises the person's heading (azimuth) and keeps the camera's elevation and roll;
rotating about the camera's y axis instead (`rotation_axis='camera_y'`, the old behaviour) tilts the whole body
into an upright-in-the-image pose no camera of the data produced.

Mirroring is a reflection across the plane that contains `up` and the camera's optical axis (normal
`up x z`; for `up = -y` this is the plain camera-frame x mirror), with left and right joints swapped: the
reflection keeps `up`, hence elevation and roll, and the joint swap keeps the result a plausible person rather
than a mirror-image skeleton with its labels crossed.
"""

from __future__ import annotations

import numpy as np

from posediff_jax import skeleton
from posediff_jax.validation import PoseDiffError

ROTATION_AXES = ("world_vertical", "camera_y")
# The camera's own vertical (y points down), used when a pose's camera is unknown (synthetic data).
CAMERA_UP = np.array([0.0, -1.0, 0.0], np.float32)


def rotation_about_axes(axes, angles, xp=np):
    """Rodrigues: unit axes `[n, 3]` and angles `[n]` radians -> rotations `[n, 3, 3]` (right-handed).

    `xp`: the array module, NumPy (float64, here) or `jax.numpy` (traced, in `device_augment.py`).
    """
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
    """Unit normals `[n, 3]` of the planes that contain `up` `[n, 3]` and the camera's optical axis (z).

    `normalize(up x z) = normalize((up_y, -up_x, 0))`; for `up = -y` it is the x axis (the camera-frame mirror).
    """
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
    """Left/right mirror of root-relative poses `[n, 17, 3]` across the vertical plane through the optical axis.

    Reflects across the plane with normal `mirror_planes(up)` and swaps left and right joints. With `up=None`
    (the camera's -y) this is exactly `skeleton.flip_pose`.
    """
    poses = np.asarray(poses)
    normals = mirror_planes(check_up_vectors(up, len(poses)))
    reflections = reflections_across(normals)  # [n, 3, 3]
    mirrored = np.einsum("nij,nkj->nki", reflections, poses[:, skeleton.FLIP_PERMUTATION].astype(np.float64))
    return mirrored.astype(np.float32)


def check_augment_settings(flip_probability: float, max_rotation_degrees: float, rotation_axis: str) -> None:
    """Raises `PoseDiffError` for settings no augmentation means: an unknown rotation axis (the device version
    tests only for 'camera_y', so any other name silently meant 'world_vertical'), a flip probability outside
    [0, 1] or a negative or non-finite maximum angle."""
    if rotation_axis not in ROTATION_AXES:
        raise PoseDiffError(f"rotation_axis: expected one of {ROTATION_AXES}, got {rotation_axis!r}")
    if not 0.0 <= flip_probability <= 1.0:  # False for NaN too
        raise PoseDiffError(f"flip_probability: expected a probability in [0, 1], got {flip_probability!r}")
    if not 0.0 <= max_rotation_degrees < float("inf"):
        raise PoseDiffError(f"max_rotation_degrees: expected a finite angle >= 0, got {max_rotation_degrees!r}")


def augment_poses(poses: np.ndarray, rng: np.random.Generator, flip_probability: float = 0.5,
                  max_rotation_degrees: float = 180.0, up=None, rotation_axis: str = "world_vertical") -> np.ndarray:
    """Randomly mirrors and rotates root-relative poses `[n, 17, 3]` about each pose's vertical axis.

    Args:
      poses: `[n, 17, 3]` mm, camera frame, root at the origin.
      rng: the source of the flips and angles.
      flip_probability: chance of a left/right mirror (`mirror_poses`).
      max_rotation_degrees: angles are uniform in [-max, max] about the axis.
      up: `[n, 3]` (or `[3]`) the world's up direction in each pose's camera frame (`R[:, 2]`), any length;
        None = the camera's -y (synthetic data, or a camera that is unknown).
      rotation_axis: 'world_vertical' rotates and mirrors about `up`; 'camera_y' ignores `up` and uses the
        camera's y axis and a plain x mirror (the old augmentation: it removes the camera's elevation).

    Returns `[n, 17, 3]` float32. Bone lengths, the root at the origin and every joint's height along `up`
    (hence the camera's elevation and roll as seen in the pose) are kept.
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
    """Unit direction from the pelvis to the thorax of poses `[..., 17, 3]` -> `[..., 3]`.

    A camera-free estimate of a pose's up direction (the spine leans, so it is not the world vertical, but its
    distribution over many poses shows the camera's elevation: mean z about -0.2 on Human3.6M's cameras).
    """
    poses = np.asarray(poses, np.float64)
    spine = poses[..., skeleton.JOINT_INDEX["Thorax"], :] - poses[..., skeleton.ROOT_JOINT, :]
    return spine / np.maximum(np.linalg.norm(spine, axis=-1, keepdims=True), 1e-9)
