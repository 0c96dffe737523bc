"""Energies `energy(pose [17, 3] mm root-relative, evidence) -> scalar` that guide the sampler."""

from posediff_jax.guidance.bone_lengths import bone_length_energy, bone_lengths, make_bone_length_energy
from posediff_jax.guidance.completion import completion_energy, make_completion_energy
from posediff_jax.guidance.compose import compose, zero_energy
from posediff_jax.guidance.evidence import (BoneLengthEvidence, CompletionEvidence, EvidenceError, HeatmapEvidence,
                                            KeypointEvidence, index_evidence, make_bone_length_evidence,
                                            make_completion_evidence, make_heatmap_evidence, make_keypoint_evidence,
                                            stack_evidence)
from posediff_jax.guidance.heatmap import heatmap_energy, make_heatmap_energy
from posediff_jax.guidance.keypoints import keypoint_energy, make_keypoint_energy
from posediff_jax.guidance.multiview import MultiViewEvidence, make_multiview_evidence, multiview_evidence_from_arrays
from posediff_jax.guidance.render import heatmap_evidence_from_keypoints
from posediff_jax.guidance.registry import EnergyEntry, get_energy, make_energy, register_energy, registered_energies
