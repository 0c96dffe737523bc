"""`augment.augment_poses` as a traceable JAX function, run inside the compiled train step.

The same mirror + rotation (`augment.py`'s own functions with `jax.numpy`), draws from a JAX key: the host
sends only example indices. Agrees with `augment.augment_poses` to float32 rounding for equal draws.
"""

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax import skeleton
from posediff_jax.data.augment import CAMERA_UP, check_augment_settings, reflections_across, rotation_about_axes


def augment_poses_from_draws(poses, up, flip, angles):
    """Mirrors (where `flip`) then rotates poses `[n, 17, 3]` about unit `up` `[n, 3]` by `angles` `[n]` radians.

    The host checks beforehand that no `up` lies along the optical axis (`augment.mirror_planes`).
    """
    normals = jnp.stack([up[:, 1], -up[:, 0], jnp.zeros_like(up[:, 0])], -1)
    normals = normals / jnp.maximum(jnp.linalg.norm(normals, axis=-1, keepdims=True), 1e-6)
    transforms = jnp.where(flip[:, None, None], reflections_across(normals, jnp), jnp.eye(3))
    poses = jnp.where(flip[:, None, None], poses[:, np.asarray(skeleton.FLIP_PERMUTATION)], poses)
    transforms = rotation_about_axes(up, angles, jnp) @ transforms
    return jnp.einsum("nkj,nij->nki", poses, transforms.astype(poses.dtype))


def rescale_bone_groups(poses, factors):
    """Scales each bone group of poses `[n, 17, 3]` by `factors` `[n, groups]`, keeping bone directions.

    Joints are rebuilt from the root down the tree; left and right share a group; other bones keep their length.
    """
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
    """Random mirror + rotation of poses `[n, 17, 3]` about unit `up` `[n, 3]`, as `augment.augment_poses`.

    `bone_scale_sigma > 0` first rescales each bone group by `exp(sigma * z)`, z ~ N(0, 1) clipped to +-2.5.
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
