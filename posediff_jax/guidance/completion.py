"""Completion energy `sum_j mask_j ||x_j - known_j||^2 / (2 sigma^2)` (mm): known joints pinned, the rest free."""

from __future__ import annotations

import functools
import jax.numpy as jnp

from posediff_jax.guidance.evidence import CompletionEvidence


def completion_energy(pose, evidence: CompletionEvidence, sigma: float = 10.0):
    """Scalar energy of one root-relative pose `[17, 3]` mm against the known joints."""
    squared = jnp.sum((pose - evidence.known_joints) ** 2, axis=-1)
    return jnp.sum(evidence.mask * squared) / (2.0 * sigma**2)


def make_completion_energy(sigma: float = 10.0):
    return functools.partial(completion_energy, sigma=sigma)
