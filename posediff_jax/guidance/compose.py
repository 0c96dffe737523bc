"""Weighted sums of energies; the sampler only ever sees one `energy(pose, evidence) -> scalar`."""

from __future__ import annotations

from typing import Callable, Sequence, Tuple

import jax.numpy as jnp

from posediff_jax.validation import PoseDiffError


def compose(terms: Sequence[Tuple[float, Callable]]) -> Callable:
    """`energy(pose, evidence) = sum_i weight_i * energy_i(pose, evidence_i)`, `evidence` a tuple with one per term
    or one for every term; e.g. `compose([(1.0, heatmap_energy), (0.1, bone_length_energy)])`."""
    terms = tuple((float(weight), energy) for weight, energy in terms)
    if not terms:
        raise PoseDiffError("compose: expected at least one (weight, energy) term")

    def energy(pose, evidence):
        evidences = evidence if isinstance(evidence, (tuple, list)) else (evidence,) * len(terms)
        if len(evidences) != len(terms):
            raise PoseDiffError(f"compose: {len(terms)} energy terms but {len(evidence)} evidences")
        return sum((weight * term(pose, part) for (weight, term), part in zip(terms, evidences)),
                   jnp.zeros((), jnp.float32))

    return energy


def zero_energy(pose, evidence=None):
    """No evidence (unconditional generation): always 0."""
    del evidence
    return jnp.zeros((), pose.dtype)
