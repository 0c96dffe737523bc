"""Bone-length energy `sum_b w_b (||x_child - x_parent|| - L_b)^2 / (2 sigma^2)` (`skeleton.BONES` order, mm)."""

from __future__ import annotations

import functools

import jax.numpy as jnp

from posediff_jax import skeleton
from posediff_jax.guidance.evidence import BoneLengthEvidence


def bone_lengths(pose):
    """`[..., 16]` bone lengths of poses `[..., 17, 3]` (`skeleton.BONES` order), differentiable everywhere."""
    return skeleton.bone_lengths(jnp.asarray(pose), eps=1e-9)


def bone_length_energy(pose, evidence: BoneLengthEvidence, sigma: float = 10.0):
    """Scalar energy of one pose `[17, 3]` mm."""
    return jnp.sum(evidence.weights * (bone_lengths(pose) - evidence.bone_lengths) ** 2) / (2.0 * sigma**2)


def make_bone_length_energy(sigma: float = 10.0):
    return functools.partial(bone_length_energy, sigma=sigma)
