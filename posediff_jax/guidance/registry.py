"""Energies by name: a factory, an evidence builder and the sampler settings the energy needs.

    register_energy(EnergyEntry(
        name="heatmap",
        make_energy=make_heatmap_energy,               # **options -> energy(pose [17, 3] mm, evidence) -> scalar
        evidence_from_arrays=heatmap_evidence_from_arrays,   # (arrays, **options) -> evidence [frames, ...]
        sampler_overrides={},                           # measured SamplerConfig changes, {} = the defaults
    ))

`posediff estimate --energy NAME`, evaluation configs (`config.energy.name`) and the library
(`get_energy(name).make_energy(**options)`) all pick energies here; the sampler never knows which one runs.
'none' is unconditional generation (no energy, no evidence). Adding an energy: one file with its factory (and
evidence class / builder if it needs new evidence) plus one `register_energy` line below.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

from posediff_jax.guidance import array_inputs
from posediff_jax.guidance.bone_lengths import make_bone_length_energy
from posediff_jax.guidance.completion import make_completion_energy
from posediff_jax.guidance.heatmap import make_heatmap_energy
from posediff_jax.guidance.keypoints import make_keypoint_energy
from posediff_jax.validation import PoseDiffError


@dataclasses.dataclass(frozen=True)
class EnergyEntry:
    name: str
    make_energy: Optional[Callable[..., Callable]]
    evidence_from_arrays: Callable[..., Any]
    sampler_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""


_ENERGIES: dict[str, EnergyEntry] = {}


def register_energy(entry: EnergyEntry) -> EnergyEntry:
    if entry.name in _ENERGIES and _ENERGIES[entry.name] != entry:
        raise ValueError(f"energy {entry.name!r} is already registered")
    _ENERGIES[entry.name] = entry
    return entry


def registered_energies() -> tuple[str, ...]:
    return tuple(sorted(_ENERGIES))


def get_energy(name: str) -> EnergyEntry:
    if name not in _ENERGIES:
        raise PoseDiffError(f"energy: expected one of {registered_energies()}, got {name!r}")
    return _ENERGIES[name]


def make_energy(name: str, **options) -> Optional[Callable]:
    """The energy function `name` with factory options (None for 'none')."""
    entry = get_energy(name)
    if entry.make_energy is None:
        return None
    try:
        return entry.make_energy(**options)
    except TypeError as error:
        raise PoseDiffError(f"energy {name!r}: bad options {sorted(options)} ({error})") from None


# Heatmaps: the guidance step's schedule follows the evidence ('auto', sampling/config.py): the same step
# throughout for exact 2D, front-loaded for a detector's, whose errors a late pull would copy.
register_energy(EnergyEntry(
    "heatmap", make_heatmap_energy, array_inputs.heatmap_evidence_from_arrays,
    sampler_overrides={"scale_schedule": "auto"},
    description="log-likelihood of 2D detector heatmaps at the projected joints (the main estimator)"))
register_energy(EnergyEntry(
    "keypoints", make_keypoint_energy, array_inputs.keypoint_evidence_from_arrays,
    description="robust (pseudo-Huber) reprojection error to 2D keypoints"))
# Completion pins joints with a stiff quadratic (sigma 10 mm): its curvature in model space is ~(pose std /
# sigma)^2, far steeper than the heatmap energy's, so it needs a small, preconditioned step, clipped only far from
# the pins (max_grad_norm 500, 100x the heatmap's): an unclipped step let a prior without the blocks' LayerNorms run
# away (known joints 31-75 mm off), and the clip is neutral for the LayerNorm prior (30 S9 poses: known joints
# 5.8 / 3.3 / 6.3 mm against 6.9 / 2.7 / 6.0 unclipped; configs/eval_h36m_completion.py, docs/results_h36m.md).
register_energy(EnergyEntry(
    "completion", make_completion_energy, array_inputs.completion_evidence_from_arrays,
    sampler_overrides={"guidance_scale": 0.006, "precondition": True, "max_grad_norm": 500.0, "guidance_repeats": 1},
    description="known 3D joints (pose completion)"))
register_energy(EnergyEntry(
    "bone_lengths", make_bone_length_energy, array_inputs.bone_length_evidence_from_arrays,
    sampler_overrides={"guidance_scale": 0.02, "max_grad_norm": 50.0, "guidance_repeats": 1},
    description="target bone lengths (generation of a given body)"))
# Unconditional generation: DDPM's ancestral noise gives bone lengths closer to the data's than DDIM (shipped
# prior, 1,024 samples, 50 steps: per-bone |deviation| 8.1 vs 9.3 mm, left/right asymmetry 3.7 vs 5.3 mm; the
# data's own deviation across subjects is 7.7 mm): `posediff evaluate --config configs/eval_prior_plausibility.py`.
register_energy(EnergyEntry(
    "none", None, array_inputs.no_evidence_from_arrays, sampler_overrides={"method": "ddpm", "guidance_repeats": 1},
    description="no evidence: unconditional generation"))
