"""Augmentations that keep a pose valid: left/right mirroring and rotation about the camera's vertical axis."""

from __future__ import annotations

import numpy as np

from posediff_jax import skeleton


def rotation_about_vertical(angles: np.ndarray) -> np.ndarray:
    """`[n]` radians -> `[n, 3, 3]` rotations about the camera-frame y axis (y points down)."""
    cos, sin = np.cos(angles), np.sin(angles)
    zeros, ones = np.zeros_like(angles), np.ones_like(angles)
    return np.stack([np.stack([cos, zeros, sin], -1), np.stack([zeros, ones, zeros], -1),
                     np.stack([-sin, zeros, cos], -1)], -2)


def augment_poses(poses: np.ndarray, rng: np.random.Generator, flip_probability: float = 0.5,
                  max_rotation_degrees: float = 180.0) -> np.ndarray:
    """Randomly mirrors (with joint swap) and rotates root-relative poses `[n, 17, 3]` about the vertical axis.

    Both keep bone lengths and the root at the origin; mirroring swaps left and right so the result is a
    plausible person, not a mirror-image skeleton with left and right labels crossed.
    """
    poses = np.asarray(poses, np.float32)
    flip = rng.random(len(poses)) < flip_probability
    poses = np.where(flip[:, None, None], skeleton.flip_pose(poses), poses)
    if max_rotation_degrees > 0:
        angles = rng.uniform(-1.0, 1.0, len(poses)) * np.deg2rad(max_rotation_degrees)
        poses = np.einsum("nij,nkj->nki", rotation_about_vertical(angles).astype(np.float32), poses)
    return poses.astype(np.float32)
