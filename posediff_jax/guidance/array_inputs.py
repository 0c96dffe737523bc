"""Evidence from named arrays (the .npz of `posediff estimate/complete/generate`, or a dataset batch).

Each builder maps `arrays` (+ options) to evidence with a leading frames axis (single frames gain one), raising
`EvidenceError` naming the missing or malformed array. A NaN keypoint marks a missing joint (confidence 0).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from posediff_jax.guidance import checks
from posediff_jax.guidance import evidence as evidence_lib
from posediff_jax.guidance.checks import EvidenceError
from posediff_jax.guidance.render import RENDER_SIGMA, heatmap_evidence_from_keypoints
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import check_array, format_shape

# The arrays each kind of input is read from (the builders below); a command refuses an .npz naming others.
INPUT_ARRAYS = {
    "2d": ("heatmaps", "image_to_heatmap", "intrinsics", "keypoints_2d", "confidence", "joint_weights",
           "root_translation"),  # heatmap or keypoint evidence
    "completion": ("known_joints", "mask"),
    "bone_lengths": ("bone_lengths", "weights"),
    "rig": ("rotation", "translation", "reference_view", "view_weights"),  # with "2d" per view (guidance/multiview.py)
}


def _frames_array(arrays: Mapping, name: str, single_shape, frames: int | None = None, kinds: str = "fiu"):
    """`arrays[name]` with one leading frames axis: `single_shape` (a str entry: any size) is one frame, shared by
    every frame when `frames` is given; `[frames, *single_shape]` is one per frame. Anything else is refused."""
    value = np.asarray(arrays[name])
    if value.dtype.kind not in kinds:
        raise EvidenceError(f"{name}: expected real numbers, got an array of dtype {value.dtype}")
    rank = len(single_shape)
    if value.ndim in (rank, rank + 1) and all(isinstance(want, str) or size == want
                                              for size, want in zip(value.shape[-rank:], single_shape)):
        if value.ndim == rank:
            return value[None] if frames is None else np.broadcast_to(value, (frames,) + value.shape)
        if value.shape[0] == 0:
            raise EvidenceError(f"{name}: no frames (shape {list(value.shape)})")
        if frames is None or value.shape[0] == frames:
            return value
        raise EvidenceError(f"{name}: {value.shape[0]} frames, expected {frames} (as the other arrays) or one "
                            f"{format_shape(single_shape)} shared by every frame")
    hint = " (one frames axis: reshape frames x people into it)" if value.ndim > rank + 1 else ""
    shape = format_shape(single_shape)
    raise EvidenceError(f"{name}: expected shape {shape} or [frames, {shape[1:]}, got {list(value.shape)}{hint}")


def _optional(arrays: Mapping, name: str, single_shape, frames: int, kinds: str = "fiu"):
    return None if arrays.get(name) is None else _frames_array(arrays, name, single_shape, frames, kinds)


def _weights(arrays: Mapping, name: str, frames: int):
    """Optional per-joint weights `[F, 17]` (a `[17]` array is shared by every frame): finite, non-negative."""
    weights = _optional(arrays, name, (NUM_JOINTS,), frames, kinds="fiub")
    if weights is None:
        return None
    weights = np.asarray(check_array(name, weights.astype(np.float64), None))
    if np.any(weights < 0):
        raise EvidenceError(f"{name}: values must be non-negative (0 = missing joint, 1 = certain)")
    return weights


def _keypoints_and_weights(arrays: Mapping):
    """`(keypoints_2d [F, 17, 2], confidence [F, 17] | None, joint_weights [F, 17] | None, weights [F, 17])`: a
    non-finite keypoint is a missing joint (confidence 0). `weights` = finite x confidence x joint_weights, each
    frame needing `MIN_WEIGHTED_JOINTS` > 0 (checked before the pixel extent, which is measured over them)."""
    keypoints = _frames_array(arrays, "keypoints_2d", (NUM_JOINTS, 2))
    frames = keypoints.shape[0]
    confidence, joint_weights = _weights(arrays, "confidence", frames), _weights(arrays, "joint_weights", frames)
    finite = np.all(np.isfinite(keypoints), axis=-1)  # [F, 17]
    too_few = np.flatnonzero(finite.sum(-1) < checks.MIN_WEIGHTED_JOINTS)
    if too_few.size:
        raise EvidenceError(f"keypoints_2d: frame {int(too_few[0])} has {int(finite[too_few[0]].sum())} finite "
                            f"joint(s); NaN marks a missing joint and at least {checks.MIN_WEIGHTED_JOINTS} "
                            "are needed")
    if not finite.all():
        keypoints = np.where(finite[..., None], keypoints, 0.0)
        confidence = np.where(finite, 1.0 if confidence is None else confidence, 0.0)
    weights = finite.astype(np.float64)
    for factor in (confidence, joint_weights):
        weights = weights if factor is None else weights * factor
    checks.check_weighted_joints(weights, "finite keypoints_2d x confidence x joint_weights")
    return keypoints, confidence, joint_weights, weights


def _require(arrays: Mapping, names, what: str):
    missing = [name for name in names if name not in arrays]
    if missing:
        raise EvidenceError(f"{what}: missing {missing} (found {sorted(arrays)})")


def _in_view(evidence):
    """`evidence` once its weighted keypoints are within its cameras' view (`checks.check_keypoints_in_view`)."""
    checks.check_keypoints_in_view(evidence.keypoints_2d, evidence.intrinsics, evidence.joint_weights)
    return evidence


def _intrinsics(arrays: Mapping, frames: int):
    _require(arrays, ["intrinsics"], "evidence")
    return _frames_array(arrays, "intrinsics", (3, 3), frames)


def heatmap_evidence_from_arrays(arrays: Mapping, sigma: float = RENDER_SIGMA, heatmap_size: int = 64,
                                 detector_sigma: float = 0.0):
    """`heatmaps [F?, 17, H, W]` + `image_to_heatmap [F?, 2, 3]` + `intrinsics` (optional `joint_weights`,
    `keypoints_2d`, `root_translation`), or `keypoints_2d [F?, 17, 2]` + `intrinsics` (optional `confidence`,
    `joint_weights`, `root_translation`) rendered with `render.evidence_sigma(sigma, detector_sigma)`."""
    if "heatmaps" in arrays:
        _require(arrays, ["image_to_heatmap", "intrinsics"], "heatmap evidence")
        checks.check_heatmaps(arrays["heatmaps"])
        heatmaps = _frames_array(arrays, "heatmaps", (NUM_JOINTS, "H", "W"))
        frames = heatmaps.shape[0]
        # A map without a peak (all zero, or flat) says nothing about its joint: weight 0 (its argmax would mislead).
        joint_weights = _weights(arrays, "joint_weights", frames)
        peaked = heatmaps.max(axis=(-2, -1)) > heatmaps.min(axis=(-2, -1))
        joint_weights = np.where(peaked, 1.0 if joint_weights is None else joint_weights, 0.0)
        try:
            evidence = evidence_lib.make_heatmap_evidence(
                heatmaps, _frames_array(arrays, "image_to_heatmap", (2, 3), frames), _intrinsics(arrays, frames),
                joint_weights=joint_weights, keypoints_2d=_optional(arrays, "keypoints_2d", (NUM_JOINTS, 2), frames),
                root_translation=_optional(arrays, "root_translation", (3,), frames))
        except ValueError as error:
            if isinstance(error, EvidenceError) or type(error).__module__.startswith("posediff_jax"):
                raise
            raise EvidenceError(f"heatmap evidence: inconsistent array shapes ({error})") from None
        checks.check_weighted_joints(evidence.joint_weights, "joint_weights; an all-zero or flat heatmap has none")
        return _in_view(evidence)
    if "keypoints_2d" not in arrays:
        raise EvidenceError(f"evidence: expected 'heatmaps' (+ 'image_to_heatmap') or 'keypoints_2d', "
                            f"found {sorted(arrays)}")
    keypoints, confidence, joint_weights, _ = _keypoints_and_weights(arrays)
    frames = keypoints.shape[0]
    if joint_weights is not None and confidence is not None:  # the renderer weighs joints by clipped confidence
        joint_weights = joint_weights * np.clip(confidence, 0.0, 1.0)
    return _in_view(heatmap_evidence_from_keypoints(
        keypoints, _intrinsics(arrays, frames), sigma=sigma, heatmap_size=heatmap_size, confidence=confidence,
        joint_weights=joint_weights, root_translation=_optional(arrays, "root_translation", (3,), frames),
        detector_sigma=detector_sigma))


def keypoint_evidence_from_arrays(arrays: Mapping):
    """`keypoints_2d [F?, 17, 2]` + `intrinsics` (optional `confidence`, `joint_weights`, `root_translation`)."""
    _require(arrays, ["keypoints_2d", "intrinsics"], "keypoint evidence")
    keypoints, _, _, weights = _keypoints_and_weights(arrays)
    frames = keypoints.shape[0]
    return _in_view(evidence_lib.make_keypoint_evidence(
        keypoints, _intrinsics(arrays, frames), joint_weights=weights,
        root_translation=_optional(arrays, "root_translation", (3,), frames)))


def completion_evidence_from_arrays(arrays: Mapping):
    """`known_joints [F?, 17, 3]` mm (unknown entries may be NaN) + `mask [F?, 17]` (1 = known). Each frame needs a
    known joint besides the pelvis, which root-relative poses always hold at the origin."""
    _require(arrays, ["known_joints", "mask"], "completion evidence")
    known = _frames_array(arrays, "known_joints", (NUM_JOINTS, 3)).astype(np.float64)
    mask = _frames_array(arrays, "mask", (NUM_JOINTS,), known.shape[0], kinds="fiub")
    evidence = evidence_lib.make_completion_evidence(known, mask)
    informative = np.asarray(evidence.mask)[:, 1:].sum(-1)
    if np.any(informative == 0):
        frame = int(np.flatnonzero(informative == 0)[0])
        only = "only the pelvis (joint 0)" if np.asarray(evidence.mask)[frame, 0] else "no joint"
        raise EvidenceError(f"mask: frame {frame} marks {only} as known; poses are root-relative, so the pelvis is "
                            "always at the origin: mark another joint (or use `posediff generate`)")
    return evidence


def bone_length_evidence_from_arrays(arrays: Mapping):
    """`bone_lengths [16]` mm in `skeleton.BONES` order (optional `weights [16]`): one set for every sample."""
    _require(arrays, ["bone_lengths"], "bone-length evidence")
    lengths = np.asarray(arrays["bone_lengths"])
    if lengths.shape != (NUM_JOINTS - 1,):
        raise EvidenceError(f"bone_lengths: expected one set of {NUM_JOINTS - 1} lengths (shape [{NUM_JOINTS - 1}]), "
                            f"got {list(lengths.shape)}")
    return evidence_lib.make_bone_length_evidence(lengths, arrays.get("weights"))
