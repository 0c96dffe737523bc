"""Weighted sums of energies; the sampler only ever sees one `energy(pose, evidence) -> scalar`.

`compose([(1.0, heatmap_energy), (0.1, bone_length_energy)])` returns an energy whose evidence is either
- a tuple/list with one evidence per term (`(heatmap_evidence, bone_evidence)`), or
- a single evidence PyTree passed to every term.
Weights are Python floats (fixed at trace time).
"""

from __future__ import annotations

from typing import Callable, Sequence, Tuple

import jax.numpy as jnp

from posediff_jax.validation import PoseDiffError

Energy = Callable


def compose(terms: Sequence[Tuple[float, Energy]]) -> Energy:
    """`energy(pose, evidence) = sum_i weight_i * energy_i(pose, evidence_i)` (see module docstring)."""
    terms = tuple((float(weight), energy) for weight, energy in terms)
    if not terms:
        raise PoseDiffError("compose: expected at least one (weight, energy) term")

    def energy(pose, evidence):
        if isinstance(evidence, (tuple, list)):
            if len(evidence) != len(terms):
                raise PoseDiffError(f"compose: {len(terms)} energy terms but {len(evidence)} evidences")
            evidences = evidence
        else:
            evidences = (evidence,) * len(terms)
        total = jnp.zeros((), jnp.float32)
        for (weight, term), term_evidence in zip(terms, evidences):
            total = total + weight * term(pose, term_evidence)
        return total

    return energy


def zero_energy(pose, evidence=None):
    """No evidence (unconditional generation): always 0."""
    del evidence
    return jnp.zeros((), pose.dtype)
