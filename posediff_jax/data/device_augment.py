"""The training augmentation of `augment.py` as a traceable JAX function, run inside the compiled train step.

Same transformation as `augment.augment_poses` (mirror across the vertical plane through the optical axis with
left/right joints swapped, then a uniform rotation about each pose's world vertical as its camera sees it), with
the flips and angles drawn from a JAX key instead of a NumPy generator: `augment_poses_from_draws` and
`augment.augment_poses` agree to float32 rounding for the same flips and angles (tests/test_device_augment.py).
The rotations and reflections are `augment.py`'s own functions, given `jax.numpy` as their array module.

Why on the device: the per-step NumPy augmentation and the host -> device copy of each batch held a GPU at
~150 steps/s (batch 1024) while the step itself takes a fraction of that time; with the poses resident on the
devices and the draws made there, a host only sends each step's example indices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax import skeleton
from posediff_jax.data.augment import CAMERA_UP, check_augment_settings, reflections_across, rotation_about_axes


def augment_poses_from_draws(poses, up, flip, angles):
    """Mirrors (where `flip`) then rotates poses `[n, 17, 3]` about unit `up` `[n, 3]` by `angles` `[n]` radians.

    The mirror plane contains `up` and the optical axis (normal `normalize((up_y, -up_x, 0))`); an `up` along the
    optical axis has none, which the training data is checked for before it reaches the device
    (`augment.mirror_planes`). Returns `[n, 17, 3]` in the dtype of `poses`.
    """
    normals = jnp.stack([up[:, 1], -up[:, 0], jnp.zeros_like(up[:, 0])], -1)
    normals = normals / jnp.maximum(jnp.linalg.norm(normals, axis=-1, keepdims=True), 1e-6)
    transforms = jnp.where(flip[:, None, None], reflections_across(normals, jnp), jnp.eye(3))
    poses = jnp.where(flip[:, None, None], poses[:, np.asarray(skeleton.FLIP_PERMUTATION)], poses)
    transforms = rotation_about_axes(up, angles, jnp) @ transforms
    return jnp.einsum("nkj,nij->nki", poses, transforms.astype(poses.dtype))


def rescale_bone_groups(poses, factors):
    """Scales each bone group of poses `[n, 17, 3]` by `factors` `[n, len(skeleton.BONE_GROUPS)]`, keeping every
    bone's direction: the joints are rebuilt from the root along the kinematic tree, so a longer thigh moves the
    knee, shin and ankle with it. Left and right bones of a group get the same factor (a body stays symmetric);
    bones in no group keep their length."""
    groups = len(skeleton.BONE_GROUPS)
    group_of_joint = np.full(skeleton.NUM_JOINTS, groups, np.int32)  # index `groups`: a factor of 1
    for group, joints in enumerate(skeleton.BONE_GROUPS.values()):
        group_of_joint[list(joints)] = group
    factors = jnp.concatenate([factors, jnp.ones_like(factors[:, :1])], axis=1)
    bone_factors = factors[:, group_of_joint]  # [n, 17] (the root's entry is unused)
    joints = [poses[:, skeleton.ROOT_JOINT]]
    for joint in range(1, skeleton.NUM_JOINTS):  # parents come before their children
        parent = skeleton.PARENTS[joint]
        joints.append(joints[parent] + bone_factors[:, joint, None] * (poses[:, joint] - poses[:, parent]))
    return jnp.stack(joints, axis=1)


def augment_poses_on_device(poses, up, key, flip_probability: float = 0.5, max_rotation_degrees: float = 180.0,
                            rotation_axis: str = "world_vertical", bone_scale_sigma: float = 0.0):
    """Random mirror + rotation of poses `[n, 17, 3]` (mm, camera frame, root at the origin); traceable.

    Args:
      up: `[n, 3]` unit vectors, the world's up in each pose's camera frame (ignored for 'camera_y').
      key: the draws' key (the train step folds the step number into the run's augmentation key).
      flip_probability, max_rotation_degrees, rotation_axis: as `augment.augment_poses`.
      bone_scale_sigma: > 0 also rescales each bone group (`skeleton.BONE_GROUPS`) by `exp(sigma * z)`, z a
        standard normal clipped to [-2.5, 2.5] (other people's proportions); 0 keeps the bone lengths.
    Returns `[n, 17, 3]`: the root and, without bone scaling, the bone lengths and every joint's height along `up`
    are kept.
    """
    check_augment_settings(flip_probability, max_rotation_degrees, rotation_axis)  # Python values, at trace time
    count = poses.shape[0]
    if rotation_axis == "camera_y":
        up = jnp.broadcast_to(jnp.asarray(CAMERA_UP), (count, 3))
    key, scale_key = jax.random.split(key)  # the flips and angles do not depend on whether bones are scaled
    if bone_scale_sigma > 0:
        normal = jax.random.normal(scale_key, (count, len(skeleton.BONE_GROUPS)))
        poses = rescale_bone_groups(poses, jnp.exp(bone_scale_sigma * jnp.clip(normal, -2.5, 2.5)))
    flip_key, angle_key = jax.random.split(key)
    flip = jax.random.uniform(flip_key, (count,)) < flip_probability
    angles = jax.random.uniform(angle_key, (count,), minval=-1.0, maxval=1.0) * np.deg2rad(max_rotation_degrees)
    return augment_poses_from_draws(poses, up.astype(jnp.float32), flip, angles)
