"""Bone-length energy (optional for generation): bones close to target lengths.

`E = sum_b w_b (||x_child - x_parent|| - L_b)^2 / (2 sigma^2)`, bones in `skeleton.BONES` order, sigma in mm.
"""

from __future__ import annotations

import functools
import jax.numpy as jnp
import numpy as np

from posediff_jax.guidance.evidence import BoneLengthEvidence
from posediff_jax.skeleton import BONES

_CHILDREN = np.array([child for child, _ in BONES])
_PARENTS = np.array([parent for _, parent in BONES])


def bone_lengths(pose):
    """`[..., 16]` bone lengths of poses `[..., 17, 3]` (`skeleton.BONES` order)."""
    difference = pose[..., _CHILDREN, :] - pose[..., _PARENTS, :]
    return jnp.sqrt(jnp.sum(difference**2, axis=-1) + 1e-9)


def bone_length_energy(pose, evidence: BoneLengthEvidence, sigma: float = 10.0):
    """Scalar energy of one pose `[17, 3]` mm."""
    return jnp.sum(evidence.weights * (bone_lengths(pose) - evidence.bone_lengths) ** 2) / (2.0 * sigma**2)


def make_bone_length_energy(sigma: float = 10.0):
    return functools.partial(bone_length_energy, sigma=sigma)
