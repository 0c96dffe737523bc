"""Synthetic poses for tests and CI: a standing template with random limb swings, random heading and scale."""

import numpy as np

from posediff_jax import skeleton

# A standing H36M-17 template (mm, camera frame: x right, y down, z forward), roughly a 1.75 m adult.
TEMPLATE = np.array([
    [0, 0, 0], [-130, 0, 0], [-130, 450, 0], [-130, 890, 0], [130, 0, 0], [130, 450, 0], [130, 890, 0],
    [0, -230, 0], [0, -480, 0], [0, -580, -20], [0, -700, 0], [170, -450, 0], [170, -180, 0], [170, 70, 0],
    [-170, -450, 0], [-170, -180, 0], [-170, 70, 0],
], np.float32)


def _rotate_about_x(vectors, angles):
    cos, sin = np.cos(angles), np.sin(angles)
    y, z = vectors[..., 1], vectors[..., 2]
    return np.stack([vectors[..., 0], cos * y - sin * z, sin * y + cos * z], -1)


def synthetic_poses(count: int, seed: int = 0) -> np.ndarray:
    """`[count, 17, 3]` root-relative poses with the template's bone lengths (times a per-person scale)."""
    rng = np.random.default_rng(seed)
    offsets = TEMPLATE[1:] - TEMPLATE[np.array(skeleton.PARENTS[1:])]
    poses = np.zeros((count, 17, 3), np.float32)
    swing = rng.normal(0.0, 0.5, size=(count, 17))  # forward/backward swing of each bone (radians)
    for child, parent in skeleton.BONES:
        bone = np.broadcast_to(offsets[child - 1], (count, 3))
        if child not in (1, 4, 11, 14, 7):  # hips, shoulders and spine keep their direction
            bone = _rotate_about_x(bone, swing[:, child])
        poses[:, child] = poses[:, parent] + bone
    heading = rng.uniform(-np.pi, np.pi, count)
    cos, sin = np.cos(heading)[:, None], np.sin(heading)[:, None]
    x, z = poses[..., 0], poses[..., 2]
    poses = np.stack([cos * x + sin * z, poses[..., 1], -sin * x + cos * z], -1)
    return (poses * rng.uniform(0.9, 1.1, (count, 1, 1))).astype(np.float32)
