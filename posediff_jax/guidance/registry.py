"""Energies by name: a factory, an evidence builder and the sampler settings the energy needs.

`make_energy(**options) -> energy(pose [17, 3] mm, evidence) -> scalar`; `evidence_from_arrays(arrays, **options)
-> evidence [frames, ...]`; `sampler_overrides`: `SamplerConfig` changes. Commands, evaluation configs and the
library pick energies here; the sampler never knows which one runs. 'none' is unconditional generation.
Adding an energy: one file with its factory (and evidence builder) plus one `register_energy` below.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

from posediff_jax.guidance import array_inputs
from posediff_jax.guidance.bone_lengths import make_bone_length_energy
from posediff_jax.guidance.completion import make_completion_energy
from posediff_jax.guidance.heatmap import make_heatmap_energy
from posediff_jax.guidance.keypoints import make_keypoint_energy
from posediff_jax.guidance.multiview import make_multiview_heatmap_energy, multiview_evidence_from_arrays
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
    "multiview", make_multiview_heatmap_energy, multiview_evidence_from_arrays,
    sampler_overrides={"scale_schedule": "auto"},
    description="heatmaps of several calibrated cameras (a rig), the root solved across them"))
register_energy(EnergyEntry(
    "keypoints", make_keypoint_energy, array_inputs.keypoint_evidence_from_arrays,
    description="robust (pseudo-Huber) reprojection error to 2D keypoints"))
# Completion's stiff quadratic (sigma 10 mm) needs a small, preconditioned step, clipped only far from the pins
# (docs/decisions.md, "Completion step").
register_energy(EnergyEntry(
    "completion", make_completion_energy, array_inputs.completion_evidence_from_arrays,
    sampler_overrides={"guidance_scale": 0.006, "precondition": True, "max_grad_norm": 500.0, "guidance_repeats": 1},
    description="known 3D joints (pose completion)"))
register_energy(EnergyEntry(
    "bone_lengths", make_bone_length_energy, array_inputs.bone_length_evidence_from_arrays,
    sampler_overrides={"guidance_scale": 0.02, "max_grad_norm": 50.0, "guidance_repeats": 1},
    description="target bone lengths (generation of a given body)"))
# Unconditional generation: DDPM's ancestral noise gives bone lengths closer to the data's than DDIM
# (docs/decisions.md, "Generation sampler").
register_energy(EnergyEntry(
    "none", None, lambda arrays: None, sampler_overrides={"method": "ddpm", "guidance_repeats": 1},
    description="no evidence: unconditional generation"))
