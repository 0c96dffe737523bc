"""Evidence PyTrees: what an energy compares a pose with.

Leaves are arrays, so a batch of frames is the same class with a leading `[frames]` axis (`stack_evidence`) that
the sampler vmaps over. The `make_*_evidence` constructors validate on the host (`checks.py`). Energies that
project solve the root translation from `keypoints_2d` at every step (`geometry.root_translation_for`), or use
`root_translation` when `use_given_root` (e.g. ground truth on a benchmark).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax import geometry
from posediff_jax.device_arrays import to_device
from posediff_jax.guidance.checks import (EvidenceError, check_bone_lengths, check_heatmaps, check_intrinsics,
                                          check_keypoint_extent, check_root_relative_millimetres, check_weights,
                                          root_fields)
from posediff_jax.pytrees import pytree_dataclass
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import check_array


@pytree_dataclass
class HeatmapEvidence:
    """One frame's 2D detector heatmaps (H36M-17 order).

    heatmaps `[17, H, W]` (peak 1); image_to_heatmap `[2, 3]` image pixels -> heatmap (x=column, y=row);
    joint_weights `[17]` (0 skips a joint); intrinsics `[3, 3]`; keypoints_2d `[17, 2]` pixels for the root solve;
    root_translation `[3]` mm, used when use_given_root `[]` bool.
    """

    heatmaps: jnp.ndarray
    image_to_heatmap: jnp.ndarray
    joint_weights: jnp.ndarray
    intrinsics: jnp.ndarray
    keypoints_2d: jnp.ndarray
    root_translation: jnp.ndarray
    use_given_root: jnp.ndarray


@pytree_dataclass
class KeypointEvidence:
    """One frame's 2D keypoints `[17, 2]` pixels; the other fields as `HeatmapEvidence`'s."""

    keypoints_2d: jnp.ndarray
    joint_weights: jnp.ndarray
    intrinsics: jnp.ndarray
    root_translation: jnp.ndarray
    use_given_root: jnp.ndarray


@pytree_dataclass
class CompletionEvidence:
    """Known 3D joints: known_joints `[17, 3]` mm root-relative, mask `[17]` (1 = known, 0 = free)."""

    known_joints: jnp.ndarray
    mask: jnp.ndarray


@pytree_dataclass
class BoneLengthEvidence:
    """Target bone lengths `[16]` mm in `skeleton.BONES` order and weights `[16]` (0 = free)."""

    bone_lengths: jnp.ndarray
    weights: jnp.ndarray


# Evidence dropout keeps at least this many weighted joints (the root solve needs two; a handful keeps orientation).
MIN_JOINTS_KEPT = 4


def has_joint_weights(evidence) -> bool:
    """Whether `evidence` (or one part of a composed tuple) carries per-joint `joint_weights` dropout can zero."""
    if isinstance(evidence, (tuple, list)):
        return any(has_joint_weights(part) for part in evidence)
    return hasattr(evidence, "joint_weights")


def drop_joint_evidence(evidence, key, rate):
    """One hypothesis's view of one frame: each weighted joint gets weight 0 with probability `rate`, unless fewer
    than `MIN_JOINTS_KEPT` (or all, if fewer) would remain. Parts of a composed tuple share the draw. Traceable."""
    keep = jax.random.bernoulli(key, 1.0 - rate, (NUM_JOINTS,))

    def apply(part):
        if isinstance(part, (tuple, list)):  # composed evidence, as `has_joint_weights` reads it
            return type(part)(apply(item) for item in part)
        if not hasattr(part, "joint_weights"):
            return part
        weighted = part.joint_weights > 0
        kept = jnp.sum(weighted & keep)
        enough = kept >= jnp.minimum(MIN_JOINTS_KEPT, jnp.sum(weighted))
        mask = jnp.where(enough, keep, True).astype(part.joint_weights.dtype)
        return dataclasses.replace(part, joint_weights=part.joint_weights * mask)

    return apply(evidence)


def _float32(array):
    return to_device(array, np.float32)


def _camera_and_weights(intrinsics, joint_weights, leading):
    """(checked K `[..., 3, 3]`, checked joint weights `[..., 17]`, ones by default)."""
    intrinsics = check_intrinsics(intrinsics, leading)
    if joint_weights is None:
        joint_weights = np.ones(leading + (NUM_JOINTS,))
    return intrinsics, check_weights("joint_weights", joint_weights, (*leading, NUM_JOINTS))


def heatmap_argmax_keypoints(heatmaps, image_to_heatmap):
    """Per-joint argmax of `[..., J, H, W]` heatmaps mapped back to image pixels `[..., J, 2]` (numpy)."""
    heatmaps = np.asarray(heatmaps)
    *leading, joints, height, width = heatmaps.shape
    flat = heatmaps.reshape(*leading, joints, height * width).argmax(-1)
    heatmap_xy = np.stack([flat % width, flat // width], axis=-1).astype(np.float64)
    return geometry.apply_affine(geometry.invert_affine(image_to_heatmap), heatmap_xy)


def make_heatmap_evidence(heatmaps, image_to_heatmap, intrinsics, joint_weights=None, keypoints_2d=None,
                          root_translation=None, normalize_peaks: bool = True) -> HeatmapEvidence:
    """Validated `HeatmapEvidence` for one frame or a batch (the fields' shapes with shared leading axes).

    `heatmaps` are probabilities or scores, not logits; `keypoints_2d` defaults to the per-joint argmax; a given
    `root_translation` sets `use_given_root`; `normalize_peaks` gives every map peak 1 (one `-log h` scale per joint).
    """
    heatmaps = np.asarray(check_heatmaps(heatmaps))  # kept in its dtype: a frame's maps are its bulk
    leading = heatmaps.shape[:-3]
    affine = np.asarray(check_array("image_to_heatmap", image_to_heatmap, (*leading, 2, 3)), np.float64)
    if np.any(np.abs(np.linalg.det(affine[..., :2])) < 1e-12):
        raise EvidenceError("image_to_heatmap: the affine's 2x2 part is singular")
    intrinsics, joint_weights = _camera_and_weights(intrinsics, joint_weights, leading)
    if normalize_peaks:  # straight into one float32 array, without float64 temporaries of every map
        peaks = heatmaps.max(axis=(-2, -1)).astype(np.float64)
        joint_weights = np.where(peaks <= 0, 0.0, joint_weights)
        normalized = np.empty(heatmaps.shape, np.float32)
        np.divide(heatmaps, np.where(peaks > 0, peaks, 1.0)[..., None, None], out=normalized, casting="same_kind")
        normalized[peaks <= 0] = 1.0
        heatmaps = normalized
    if keypoints_2d is None:
        keypoints_2d = heatmap_argmax_keypoints(heatmaps, affine)
    keypoints_2d = check_array("keypoints_2d", keypoints_2d, (*leading, NUM_JOINTS, 2))
    root, use_given = root_fields(root_translation, leading)
    return HeatmapEvidence(heatmaps=_float32(heatmaps), image_to_heatmap=_float32(affine),
                           joint_weights=_float32(joint_weights), intrinsics=_float32(intrinsics),
                           keypoints_2d=_float32(keypoints_2d), root_translation=_float32(root),
                           use_given_root=to_device(use_given, bool))


def make_keypoint_evidence(keypoints_2d, intrinsics, joint_weights=None, root_translation=None) -> KeypointEvidence:
    """Validated `KeypointEvidence`; keypoints `[..., 17, 2]` pixels, intrinsics `[..., 3, 3]`."""
    keypoints_2d = np.asarray(check_array("keypoints_2d", keypoints_2d, ("...", NUM_JOINTS, 2)), np.float64)
    leading = keypoints_2d.shape[:-2]
    intrinsics, joint_weights = _camera_and_weights(intrinsics, joint_weights, leading)
    check_keypoint_extent(keypoints_2d, joint_weights)  # the same pixel sanity check as rendered heatmaps get
    root, use_given = root_fields(root_translation, leading)
    return KeypointEvidence(keypoints_2d=_float32(keypoints_2d), joint_weights=_float32(joint_weights),
                            intrinsics=_float32(intrinsics), root_translation=_float32(root),
                            use_given_root=to_device(use_given, bool))


def make_completion_evidence(known_joints, mask) -> CompletionEvidence:
    """Validated `CompletionEvidence`: known_joints `[..., 17, 3]` mm (NaN where unknown), mask `[..., 17]`."""
    mask = np.asarray(check_array("mask", mask, ("...", NUM_JOINTS), dtype_kind="fb"), np.float64)
    if np.any((mask != 0) & (mask != 1)):
        raise EvidenceError("mask: expected 0/1 (or booleans) per joint")
    known_joints = np.asarray(check_array("known_joints", known_joints, (*mask.shape[:-1], NUM_JOINTS, 3),
                                          allow_nan=True), np.float64)
    if not np.all(np.isfinite(known_joints[mask.astype(bool)])):
        raise EvidenceError("known_joints: NaN or infinite values at joints the mask marks as known")
    known_joints = np.where(mask[..., None] > 0, known_joints, 0.0)
    check_root_relative_millimetres(known_joints, mask)
    return CompletionEvidence(known_joints=_float32(known_joints), mask=_float32(mask))


def make_bone_length_evidence(bone_lengths, weights=None) -> BoneLengthEvidence:
    """Validated `BoneLengthEvidence`: bone_lengths `[..., 16]` mm in `skeleton.BONES` order, weights `[..., 16]`."""
    bone_lengths = np.asarray(check_array("bone_lengths", bone_lengths, ("...", NUM_JOINTS - 1)), np.float64)
    if np.any(bone_lengths < 0):
        raise EvidenceError("bone_lengths: must be non-negative")
    if weights is None:
        weights = np.ones_like(bone_lengths)
    weights = check_weights("bone_length weights", weights, bone_lengths.shape)
    check_bone_lengths(bone_lengths, weights)
    return BoneLengthEvidence(bone_lengths=_float32(bone_lengths), weights=_float32(weights))


def stack_evidence(evidences):
    """Same-class evidences -> one with a leading `[frames]` axis, stacked on the host (`jnp.stack` of thousands
    of frames would trace a huge concatenation)."""
    if not evidences:
        raise EvidenceError("evidence: empty list")
    return jax.tree.map(lambda *leaves: jnp.asarray(np.stack([np.asarray(leaf) for leaf in leaves])), *evidences)


def index_evidence(evidence, index):
    """Frame `index` (int or slice) of a batched evidence (a slice of every frame is `evidence` itself)."""
    if isinstance(index, slice):
        frames = num_frames(evidence)
        if index.indices(frames) == (0, frames, 1):
            return evidence
    return jax.tree.map(lambda leaf: jnp.asarray(leaf)[index], evidence)


def num_frames(evidence) -> int:
    """Leading frame count of a batched evidence (the first leaf's first axis)."""
    leaves = jax.tree.leaves(evidence)
    if not leaves or np.ndim(leaves[0]) == 0:
        raise EvidenceError("evidence: expected a batch with a leading frames axis")
    return int(np.shape(leaves[0])[0])
