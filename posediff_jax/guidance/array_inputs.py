"""Evidence from named arrays (an .npz a user hands `posediff estimate/complete/generate`, or a dataset batch).

Every builder takes `arrays: Mapping[str, np.ndarray]` plus keyword options and returns evidence with a
leading frames axis (single-frame inputs gain one), raising `EvidenceError` that names the missing or
malformed array. A NaN keypoint marks a missing joint (confidence 0), as detection files have them. The
energy registry (`registry.py`) pairs each energy with its builder.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from posediff_jax.guidance import evidence as evidence_lib
from posediff_jax.guidance.evidence import EvidenceError
from posediff_jax.guidance.render import RENDER_SIGMA
from posediff_jax.skeleton import NUM_JOINTS


def _with_frames_axis(array, single_rank: int, name: str):
    array = np.asarray(array)
    array = array[None] if array.ndim == single_rank else array
    if array.ndim > single_rank and array.shape[0] == 0:
        raise EvidenceError(f"{name}: no frames (shape {list(array.shape)})")
    return array


def _keypoints_and_confidence(arrays: Mapping):
    """`(keypoints_2d [F, 17, 2], confidence [F, 17] or None)`: a NaN / infinite keypoint marks a missing joint,
    as in real detection files: it gets confidence 0 (and a placeholder position). Each frame needs at least 2
    finite joints (the root solve's minimum)."""
    keypoints = _with_frames_axis(arrays["keypoints_2d"], 2, "keypoints_2d")
    confidence = arrays.get("confidence")
    confidence = None if confidence is None else _with_frames_axis(confidence, 1, "confidence")
    if keypoints.ndim != 3 or keypoints.shape[-2:] != (NUM_JOINTS, 2) or keypoints.dtype.kind not in "fiu":
        return keypoints, confidence  # the evidence builders name the problem
    finite = np.all(np.isfinite(keypoints), axis=-1)  # [F, 17]
    if finite.all():
        return keypoints, confidence
    too_few = np.flatnonzero(finite.sum(-1) < 2)
    if too_few.size:
        raise EvidenceError(f"keypoints_2d: frame {int(too_few[0])} has {int(finite[too_few[0]].sum())} finite "
                            "joint(s); NaN marks a missing joint and at least 2 are needed")
    if confidence is None:
        confidence = np.ones(finite.shape, np.float32)
    confidence = np.where(finite, np.broadcast_to(confidence, finite.shape), 0.0)
    return np.where(finite[..., None], keypoints, 0.0), confidence


def _require(arrays: Mapping, names, what: str):
    missing = [name for name in names if name not in arrays]
    if missing:
        raise EvidenceError(f"{what}: missing {missing} (found {sorted(arrays)})")


def _per_frame(arrays: Mapping, name: str, single_rank: int, frames: int):
    value = arrays.get(name)
    if value is None:
        return None
    value = np.asarray(value)
    return np.broadcast_to(value, (frames,) + value.shape) if value.ndim == single_rank else value


def _intrinsics(arrays: Mapping, frames: int):
    _require(arrays, ["intrinsics"], "evidence")
    return _per_frame(arrays, "intrinsics", 2, frames)


def heatmap_evidence_from_arrays(arrays: Mapping, sigma: float = RENDER_SIGMA, heatmap_size: int = 64,
                                 detector_sigma: float = 0.0):
    """`heatmaps [F?, 17, H, W]` + `image_to_heatmap [F?, 2, 3]` + `intrinsics` (optional `joint_weights`,
    `keypoints_2d`, `root_translation`), or `keypoints_2d [F?, 17, 2]` + `intrinsics` (optional `confidence`,
    `root_translation`) rendered into Gaussian heatmaps of `render.evidence_sigma(sigma, detector_sigma)` heatmap
    pixels (`detector_sigma`: the keypoints' detector error; real heatmaps already carry theirs)."""
    if "heatmaps" in arrays:
        _require(arrays, ["image_to_heatmap", "intrinsics"], "heatmap evidence")
        heatmaps = _with_frames_axis(evidence_lib.check_heatmaps(arrays["heatmaps"]), 3, "heatmaps")
        frames = heatmaps.shape[0]
        try:
            return evidence_lib.make_heatmap_evidence(
                heatmaps, _per_frame(arrays, "image_to_heatmap", 2, frames), _intrinsics(arrays, frames),
                joint_weights=_per_frame(arrays, "joint_weights", 1, frames),
                keypoints_2d=_per_frame(arrays, "keypoints_2d", 2, frames),
                root_translation=_per_frame(arrays, "root_translation", 1, frames),
            )
        except ValueError as error:
            if isinstance(error, EvidenceError) or type(error).__module__.startswith("posediff_jax"):
                raise
            raise EvidenceError(f"heatmap evidence: inconsistent array shapes ({error})") from None
    if "keypoints_2d" not in arrays:
        raise EvidenceError(f"evidence: expected 'heatmaps' (+ 'image_to_heatmap') or 'keypoints_2d', "
                            f"found {sorted(arrays)}")
    from posediff_jax.guidance.render import heatmap_evidence_from_keypoints

    keypoints, confidence = _keypoints_and_confidence(arrays)
    frames = keypoints.shape[0]
    root = arrays.get("root_translation")
    return heatmap_evidence_from_keypoints(
        keypoints, _intrinsics(arrays, frames), sigma=sigma, heatmap_size=heatmap_size, confidence=confidence,
        root_translation=None if root is None else _with_frames_axis(root, 1, "root_translation"),
        detector_sigma=detector_sigma,
    )


def keypoint_evidence_from_arrays(arrays: Mapping):
    """`keypoints_2d [F?, 17, 2]` + `intrinsics` (optional `confidence [F?, 17]`, `root_translation [F?, 3]`)."""
    _require(arrays, ["keypoints_2d", "intrinsics"], "keypoint evidence")
    keypoints, confidence = _keypoints_and_confidence(arrays)
    frames = keypoints.shape[0]
    root = arrays.get("root_translation")
    return evidence_lib.make_keypoint_evidence(
        keypoints, _intrinsics(arrays, frames), joint_weights=confidence,
        root_translation=None if root is None else _with_frames_axis(root, 1, "root_translation"),
    )


def completion_evidence_from_arrays(arrays: Mapping):
    """`known_joints [F?, 17, 3]` mm (unknown entries may be NaN) + `mask [F?, 17]` (1 = known)."""
    _require(arrays, ["known_joints", "mask"], "completion evidence")
    known = _with_frames_axis(np.asarray(arrays["known_joints"], np.float64), 2, "known_joints")
    mask = _with_frames_axis(arrays["mask"], 1, "mask")
    evidence = evidence_lib.make_completion_evidence(known, mask)
    if not np.all(np.asarray(evidence.mask).sum(-1) > 0):
        raise EvidenceError("mask: every frame needs at least one known joint (use `posediff generate` otherwise)")
    return evidence


def bone_length_evidence_from_arrays(arrays: Mapping):
    """`bone_lengths [16]` mm in `skeleton.BONES` order (optional `weights [16]`): one set for every sample."""
    _require(arrays, ["bone_lengths"], "bone-length evidence")
    evidence = evidence_lib.make_bone_length_evidence(arrays["bone_lengths"], arrays.get("weights"))
    if np.ndim(evidence.bone_lengths) != 1:
        raise EvidenceError("bone_lengths: expected one set of 16 lengths")
    return evidence


def no_evidence_from_arrays(arrays: Mapping):
    del arrays
    return None
