"""Keypoint energy: the pseudo-Huber cost of each joint's reprojection error in pixels (root given or solved)."""

from __future__ import annotations

import functools
import jax.numpy as jnp

from posediff_jax import geometry
from posediff_jax.guidance.evidence import KeypointEvidence


def reprojection_errors(pose, evidence):
    """`[17]` pixel distance between the projected pose `[17, 3]` and `evidence.keypoints_2d`."""
    root = geometry.root_translation_for(pose, evidence)
    pixels = geometry.project_to_pixels(pose + root, evidence.intrinsics)
    return jnp.sqrt(jnp.sum((pixels - evidence.keypoints_2d) ** 2, axis=-1) + 1e-9)


def pseudo_huber(residual, delta):
    """`sqrt(1 + (r / delta)^2) - 1`: ~ r^2 / (2 delta^2) near 0, ~ |r| / delta far away."""
    return jnp.sqrt(1.0 + (residual / delta) ** 2) - 1.0


def keypoint_energy(pose, evidence: KeypointEvidence, delta: float = 10.0):
    """Scalar robust reprojection energy of one root-relative pose `[17, 3]` mm; `delta` in pixels."""
    errors = reprojection_errors(pose, evidence)
    return jnp.sum(evidence.joint_weights * pseudo_huber(errors, delta))


def make_keypoint_energy(delta: float = 10.0):
    return functools.partial(keypoint_energy, delta=delta)
