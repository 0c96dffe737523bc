"""Evidence PyTrees: what an energy compares a pose with.

Every evidence is a `pytrees.pytree_dataclass` whose leaves are arrays, so a batch of frames is the same class
with a leading `[frames]` axis on every leaf (`stack_evidence`) and the sampler can `jax.vmap` over it.
Constructors (`make_heatmap_evidence`, `make_keypoint_evidence`, ...) validate user input on the host and
raise `PoseDiffError` naming the problem; energies themselves never validate (they run under jit).

Root translation (the pose's depth and position in the camera frame): energies that project need it. With
`use_given_root` False (the default) the heatmap and keypoint energies solve it in closed form at every
sampler step from the current pose estimate and `keypoints_2d` (`geometry.solve_root_translation`, weighted
by `joint_weights`); with `use_given_root` True they use `root_translation` (e.g. ground truth on a benchmark).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.device_arrays import to_device
from posediff_jax.pytrees import pytree_dataclass
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import GARBLED_PIXELS, PoseDiffError, ShapeError, check_array


class EvidenceError(PoseDiffError):
    """Evidence (heatmaps, keypoints, intrinsics, known joints) is unusable."""


@pytree_dataclass
class HeatmapEvidence:
    """2D detector heatmaps of one frame (H36M-17 order).

    heatmaps: `[17, H, W]` non-negative (peak-normalised to 1 by `make_heatmap_evidence`).
    image_to_heatmap: `[2, 3]` affine, image pixels (x, y, 1) -> heatmap coordinates (x=column, y=row).
    joint_weights: `[17]` confidences; 0 skips a joint (no detector evidence).
    intrinsics: `[3, 3]` camera matrix K.
    keypoints_2d: `[17, 2]` image pixels used to solve the root translation (e.g. per-joint argmax).
    root_translation: `[3]` mm, used when `use_given_root` is True.
    use_given_root: `[]` bool.
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
    """2D keypoints of one frame: keypoints_2d `[17, 2]` pixels, joint_weights `[17]`, intrinsics `[3, 3]`,
    root_translation `[3]` mm and use_given_root `[]` bool (see the module docstring)."""

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


# Evidence dropout keeps at least this many of a frame's weighted joints (all of them when it has fewer): the
# root solve needs two, and a handful keeps the body's orientation in the 2D.
MIN_JOINTS_KEPT = 4


# The root solve (`geometry.solve_root_translation`) places the pose from at least 2 weighted joints; with fewer the
# evidence is silently ignored (energy 0, root at the origin) and the samples are the prior's.
MIN_WEIGHTED_JOINTS = 2


def check_weighted_joints(joint_weights, what: str = "joint_weights") -> None:
    """Raises `EvidenceError` naming the first frame of `[..., 17]` weights (the effective ones: confidence times
    joint weights, 0 for missing joints and peakless maps) with fewer than `MIN_WEIGHTED_JOINTS` joints > 0.

    Called on user inputs (`array_inputs`), not by the `make_*_evidence` constructors: the evaluation builds dataset
    frames with them, and its loaders skip only frames without any detected joint (data/evaluation_frames.py)."""
    weights = np.asarray(joint_weights)
    counts = np.sum(weights > 0, axis=-1).reshape(-1)
    few = np.flatnonzero(counts < MIN_WEIGHTED_JOINTS)
    if few.size:
        raise EvidenceError(f"no usable evidence: frame {int(few[0])} has {int(counts[few[0]])} joint(s) with weight "
                            f"> 0 ({what}); at least {MIN_WEIGHTED_JOINTS} are needed to place the pose "
                            "(use `posediff generate` for samples without evidence)")


def has_joint_weights(evidence) -> bool:
    """Whether `evidence` (or one part of a composed tuple) carries per-joint `joint_weights` dropout can zero."""
    if isinstance(evidence, (tuple, list)):
        return any(has_joint_weights(part) for part in evidence)
    return hasattr(evidence, "joint_weights")


def drop_joint_evidence(evidence, key, rate):
    """One hypothesis's view of one frame's evidence: every weighted joint is ignored (weight 0) with probability
    `rate`, independently; when fewer than `MIN_JOINTS_KEPT` weighted joints (or all of them, if the frame has
    fewer) would remain, none is dropped. Heatmap and keypoint evidence (`joint_weights [17]`); in a composed
    tuple every part with joint weights uses the same draw (each part's own minimum applied to it), other parts
    are unchanged. Traceable (jit / vmap).

    Returns the evidence with `joint_weights * keep`.
    """
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


# A focal length is in pixels: f = (image side / 2) / tan(field of view / 2). Below 10 px even a 100-px image would
# span a field of view over 157 degrees, which no pinhole camera has; such a K is in other units (normalised image
# coordinates give f ~ 1, np.eye(3)) and would place the person centimetres from (or behind) the camera.
MIN_FOCAL_PIXELS = 10.0


def check_intrinsics(intrinsics, leading=()):
    """`[..., 3, 3]` float64 K, validated: `[[fx, s, cx], [0, fy, cy], [0, 0, 1]]` with fx, fy > `MIN_FOCAL_PIXELS`
    (pixels). The projection (`geometry.normalized_to_pixels`) reads fx, fy, the skew s, cx and cy and ignores the
    other entries, so a K that is not in this form (transposed, K[2, 2] = 0) would be used wrongly without a word."""
    if intrinsics is None:
        raise EvidenceError("intrinsics: missing; a [3, 3] camera matrix is needed to project the pose")
    intrinsics = np.asarray(check_array("intrinsics", intrinsics, (*leading, 3, 3)), np.float64)
    focal = np.minimum(intrinsics[..., 0, 0], intrinsics[..., 1, 1])
    if np.any(focal <= 0):
        raise EvidenceError("intrinsics: focal lengths K[0, 0] and K[1, 1] must be positive")
    if np.any(focal < MIN_FOCAL_PIXELS):
        raise EvidenceError(f"intrinsics: focal length {float(np.min(focal)):g} px is implausible; expected pixels "
                            f"(> {MIN_FOCAL_PIXELS:g}; e.g. ~1150 for Human3.6M's cameras), not normalised units")
    wrong = np.any(np.abs(intrinsics[..., 2, :] - [0.0, 0.0, 1.0]) > 1e-6, axis=-1) | (intrinsics[..., 1, 0] != 0)
    if np.any(wrong):
        bad = intrinsics[tuple(np.argwhere(wrong)[0])] if wrong.ndim else intrinsics
        hint = " (transposed?)" if np.any(bad[2, :2] != 0) else ""
        raise EvidenceError(f"intrinsics: expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got "
                            f"{np.round(bad, 3).tolist()}{hint}")
    return intrinsics


def _check_weights(name, weights, shape):
    weights = np.asarray(check_array(name, weights, shape), np.float64)
    if np.any(weights < 0):
        raise EvidenceError(f"{name}: weights must be non-negative")
    return weights


# A given root is the pelvis in millimetres in the camera frame. Nearer than 100 mm the person would fill many times
# the image, so no image of a whole body has one: a smaller depth is in other units (metres: a subject 5 m away
# gives 5.0).
MIN_ROOT_DEPTH_MM = 100.0


def _root_fields(root_translation, leading):
    if root_translation is None:
        return np.zeros(leading + (3,), np.float32), np.zeros(leading, bool)
    root = np.asarray(check_array("root_translation", root_translation, (*leading, 3)), np.float32)
    depth = float(np.min(root[..., 2])) if root.size else 1.0
    if depth <= 0:
        raise EvidenceError(f"root_translation: depth z must be > 0 mm (in front of the camera), got {depth:g}")
    if depth < MIN_ROOT_DEPTH_MM:
        raise EvidenceError(f"root_translation: depth z {depth:g} mm puts the person within "
                            f"{MIN_ROOT_DEPTH_MM:g} mm of the camera; expected millimetres (metres given?)")
    return root, np.ones(leading, bool)


def check_heatmaps(heatmaps, num_joints: int = NUM_JOINTS):
    """Validates detector heatmaps `[..., J, H, W]`: joint count, non-empty grid, finite, non-negative."""
    if heatmaps is None:
        raise EvidenceError("heatmaps: missing")
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim < 3:
        raise ShapeError(f"heatmaps: expected shape [..., {num_joints}, H, W], got {list(heatmaps.shape)}")
    if heatmaps.shape[-3] != num_joints:
        raise ShapeError(
            f"heatmaps: expected {num_joints} joint maps (H36M-17 order; map other layouts first), "
            f"got {heatmaps.shape[-3]} in shape {list(heatmaps.shape)}"
        )
    if heatmaps.shape[-1] < 2 or heatmaps.shape[-2] < 2:
        raise EvidenceError(f"heatmaps: zero-size or degenerate grid {heatmaps.shape[-2]}x{heatmaps.shape[-1]}")
    check_array("heatmaps", heatmaps, None)
    if np.any(heatmaps < 0):
        raise EvidenceError(
            f"heatmaps: {int(np.sum(heatmaps < 0))} negative value(s); expected probabilities or "
            "non-negative scores (apply a sigmoid/softmax to logits first)"
        )
    return heatmaps


def heatmap_argmax_keypoints(heatmaps, image_to_heatmap):
    """Per-joint argmax of `[..., J, H, W]` heatmaps mapped back to image pixels `[..., J, 2]` (numpy)."""
    heatmaps = np.asarray(heatmaps)
    *leading, joints, height, width = heatmaps.shape
    flat = heatmaps.reshape(*leading, joints, height * width).argmax(-1)
    heatmap_xy = np.stack([flat % width, flat // width], axis=-1).astype(np.float64)
    return heatmap_to_image(heatmap_xy, image_to_heatmap)


def heatmap_to_image(points_heatmap, image_to_heatmap):
    """Heatmap coordinates `[..., J, 2]` -> image pixels with the inverse of `image_to_heatmap` `[..., 2, 3]`."""
    affine = np.asarray(image_to_heatmap, np.float64)
    linear, offset = affine[..., :2], affine[..., 2]
    inverse = np.linalg.inv(linear)
    return np.einsum("...ij,...nj->...ni", inverse, np.asarray(points_heatmap) - offset[..., None, :])


def make_heatmap_evidence(
    heatmaps,
    image_to_heatmap,
    intrinsics,
    joint_weights=None,
    keypoints_2d=None,
    root_translation=None,
    normalize_peaks: bool = True,
) -> HeatmapEvidence:
    """Validated `HeatmapEvidence` for one frame or a batch (leading axes shared by every input).

    Args:
      heatmaps: `[..., 17, H, W]` non-negative (probabilities or scores, not logits).
      image_to_heatmap: `[..., 2, 3]` affine image pixels -> heatmap coordinates.
      intrinsics: `[..., 3, 3]`.
      joint_weights: `[..., 17]` (default: ones).
      keypoints_2d: `[..., 17, 2]` pixels for the root solve (default: per-joint argmax of the heatmaps).
      root_translation: `[..., 3]` mm; given -> `use_given_root` True.
      normalize_peaks: divide every joint map by its maximum so `-log(h + eps)` has the same scale per joint.
    """
    heatmaps = np.asarray(check_heatmaps(heatmaps))  # not copied to float64: a frame's maps are its bulk (float32 out)
    leading = heatmaps.shape[:-3]
    affine = np.asarray(check_array("image_to_heatmap", image_to_heatmap, (*leading, 2, 3)), np.float64)
    if np.any(np.abs(np.linalg.det(affine[..., :2])) < 1e-12):
        raise EvidenceError("image_to_heatmap: the affine's 2x2 part is singular")
    intrinsics = check_intrinsics(intrinsics, leading)
    if joint_weights is None:
        joint_weights = np.ones(leading + (NUM_JOINTS,))
    joint_weights = _check_weights("joint_weights", joint_weights, (*leading, NUM_JOINTS))
    if normalize_peaks:  # into one float32 array: float64 temporaries here cost ~7 copies of every frame's maps
        peaks = heatmaps.max(axis=(-2, -1)).astype(np.float64)
        joint_weights = np.where(peaks <= 0, 0.0, joint_weights)
        normalized = np.empty(heatmaps.shape, np.float32)
        np.divide(heatmaps, np.where(peaks > 0, peaks, 1.0)[..., None, None], out=normalized, casting="same_kind")
        normalized[peaks <= 0] = 1.0
        heatmaps = normalized
    if keypoints_2d is None:
        keypoints_2d = heatmap_argmax_keypoints(heatmaps, affine)
    keypoints_2d = check_array("keypoints_2d", keypoints_2d, (*leading, NUM_JOINTS, 2))
    root, use_given = _root_fields(root_translation, leading)
    return HeatmapEvidence(
        heatmaps=_float32(heatmaps),
        image_to_heatmap=_float32(affine),
        joint_weights=_float32(joint_weights),
        intrinsics=_float32(intrinsics),
        keypoints_2d=_float32(keypoints_2d),
        root_translation=_float32(root),
        use_given_root=to_device(use_given, bool),
    )


def used_joints(keypoints_2d, weights=None):
    """`[..., J]` bool: the joints that span a person's box (weight > 0; every joint of a frame without one)."""
    shape = np.shape(keypoints_2d)[:-1]
    if weights is None:
        used = np.ones(shape, bool)
    else:
        used = np.asarray(weights) > 0
        used = np.broadcast_to(used, np.broadcast_shapes(shape, used.shape))
    return np.where(np.any(used, axis=-1, keepdims=True), used, True)


def keypoint_box(keypoints_2d, weights=None):
    """(`low`, `high`) `[..., 2]` pixels: the corners of the box around the `used_joints` of `[..., J, 2]`."""
    keypoints_2d = np.asarray(keypoints_2d, np.float64)
    used = used_joints(keypoints_2d, weights)[..., None]
    return (np.min(np.where(used, keypoints_2d, np.inf), axis=-2),
            np.max(np.where(used, keypoints_2d, -np.inf), axis=-2))


# 2D keypoints must span a person's size in pixels (heatmaps are rendered over their box, the keypoint energy reads
# pixel errors): below `MIN_KEYPOINT_EXTENT` every joint sits on one heatmap cell and no pose fits (normalised
# coordinates, a collapsed detection); above `validation.GARBLED_PIXELS` a garbled coordinate stretched it and the
# person covers a fraction of one cell.
MIN_KEYPOINT_EXTENT = 1.0  # pixels


def check_keypoint_extent(keypoints_2d, weights=None) -> None:
    """Raises `EvidenceError` naming the frame (and the farthest joint) when the `used_joints` of `[..., J, 2]`
    span less than `MIN_KEYPOINT_EXTENT` or more than `GARBLED_PIXELS` pixels."""
    keypoints_2d = np.asarray(keypoints_2d, np.float64)
    frames = keypoints_2d.reshape((-1,) + keypoints_2d.shape[-2:])  # [F, J, 2]
    used = used_joints(keypoints_2d, weights).reshape(frames.shape[:-1])
    low, high = keypoint_box(frames, used)
    extent = np.max(high - low, axis=-1)  # [F]
    collapsed, stretched = np.flatnonzero(extent < MIN_KEYPOINT_EXTENT), np.flatnonzero(extent > GARBLED_PIXELS)
    if collapsed.size:
        index = collapsed[0]
        raise EvidenceError(f"keypoints_2d: frame {index}'s joints all lie within {extent[index]:.3g} px of each "
                            "other; no pose projects onto a single point (are these pixel coordinates?)")
    if stretched.size:
        index = stretched[0]
        points = np.where(used[index][:, None], frames[index], np.nan)
        far = int(np.nanargmax(np.abs(points - np.nanmedian(points, axis=0)).max(-1)))
        x, y = frames[index, far]
        others = np.delete(points, far, axis=0)
        if np.nanmax(np.nanmax(others, axis=0) - np.nanmin(others, axis=0)) > GARBLED_PIXELS:
            # Not one bad joint: the rest are as far apart (every coordinate scaled, not pixels).
            raise EvidenceError(f"keypoints_2d: frame {index}'s joints span {extent[index]:.3g} px even without "
                                f"its farthest one; expected pixel coordinates of one image (scaled?)")
        raise EvidenceError(f"keypoints_2d: frame {index}'s joints span {extent[index]:.3g} px: joint {far} at "
                            f"({x:.3g}, {y:.3g}) is a garbled detection; set it to NaN to mark it missing")


def make_keypoint_evidence(keypoints_2d, intrinsics, joint_weights=None, root_translation=None) -> KeypointEvidence:
    """Validated `KeypointEvidence`; keypoints `[..., 17, 2]` pixels, intrinsics `[..., 3, 3]`."""
    keypoints_2d = np.asarray(check_array("keypoints_2d", keypoints_2d, ("...", NUM_JOINTS, 2)), np.float64)
    leading = keypoints_2d.shape[:-2]
    intrinsics = check_intrinsics(intrinsics, leading)
    if joint_weights is None:
        joint_weights = np.ones(leading + (NUM_JOINTS,))
    joint_weights = _check_weights("joint_weights", joint_weights, (*leading, NUM_JOINTS))
    check_keypoint_extent(keypoints_2d, joint_weights)  # the same pixel sanity check as rendered heatmaps get
    root, use_given = _root_fields(root_translation, leading)
    return KeypointEvidence(
        keypoints_2d=_float32(keypoints_2d),
        joint_weights=_float32(joint_weights),
        intrinsics=_float32(intrinsics),
        root_translation=_float32(root),
        use_given_root=to_device(use_given, bool),
    )


def make_completion_evidence(known_joints, mask) -> CompletionEvidence:
    """Validated `CompletionEvidence`: known_joints `[..., 17, 3]` mm (root-relative), mask `[..., 17]`.

    Values of unknown joints may be NaN (they are replaced by zeros); known ones must be finite.
    """
    mask = np.asarray(check_array("mask", mask, ("...", NUM_JOINTS), dtype_kind="fb"), np.float64)
    if np.any((mask != 0) & (mask != 1)):
        raise EvidenceError("mask: expected 0/1 (or booleans) per joint")
    known_joints = np.asarray(
        check_array("known_joints", known_joints, (*mask.shape[:-1], NUM_JOINTS, 3), allow_nan=True), np.float64
    )
    if not np.all(np.isfinite(known_joints[mask.astype(bool)])):
        raise EvidenceError("known_joints: NaN or infinite values at joints the mask marks as known")
    known_joints = np.where(mask[..., None] > 0, known_joints, 0.0)
    _check_root_relative_millimetres(known_joints, mask)
    return CompletionEvidence(known_joints=_float32(known_joints), mask=_float32(mask))


# Known joints are root-relative millimetres: no H36M joint lies 3 m from the pelvis, and a pose whose known joints
# all lie within 3 mm of it is not one (metres given for millimetres).
MAX_JOINT_DISTANCE_MM = 3000.0
MIN_POSE_EXTENT_MM = 3.0


def _check_root_relative_millimetres(known_joints, mask):
    """Names the two unit mistakes users make with `[..., 17, 3]` known joints: not root-relative (the pelvis,
    joint 0, known and away from the origin) and metres instead of millimetres."""
    known = mask > 0
    pelvis_distance = np.where(known[..., 0], np.linalg.norm(known_joints[..., 0, :], axis=-1), 0.0)
    if np.any(pelvis_distance > 1.0):
        raise EvidenceError(f"known_joints: expected root-relative poses (joint 0, the pelvis, at the origin); a "
                            f"known pelvis lies {float(np.max(pelvis_distance)):.1f} mm from it: subtract it first")
    distances = np.where(known, np.linalg.norm(known_joints, axis=-1), 0.0)  # [..., 17]
    if np.any(distances > MAX_JOINT_DISTANCE_MM):
        raise EvidenceError(f"known_joints: a joint {float(np.max(distances)):.0f} mm from the pelvis; expected "
                            "root-relative millimetres")
    away_from_root = known & (np.arange(NUM_JOINTS) > 0)
    extent = np.max(np.where(away_from_root, distances, 0.0), axis=-1)
    if np.any((np.sum(away_from_root, axis=-1) >= 2) & (extent < MIN_POSE_EXTENT_MM)):
        raise EvidenceError(f"known_joints: every known joint lies within {MIN_POSE_EXTENT_MM:g} mm of the pelvis; "
                            "expected millimetres (metres given?)")


# Bone lengths are millimetres: Human3.6M's run from ~115 mm (neck to nose) to ~470 mm (thigh, shin), so a bone over
# 1 m is not a person's (micrometres, or a garbled value) and a body whose longest bone is under 10 mm is in metres
# (0.47 for a shin) or all zeros.
MAX_BONE_LENGTH_MM = 1000.0
MIN_LONGEST_BONE_MM = 10.0


def make_bone_length_evidence(bone_lengths, weights=None) -> BoneLengthEvidence:
    """Validated `BoneLengthEvidence`: bone_lengths `[..., 16]` mm (`skeleton.BONES` order), plausible for a person
    (`MAX_BONE_LENGTH_MM`, `MIN_LONGEST_BONE_MM`) over the bones with weight > 0, at least one of which is needed."""
    bone_lengths = np.asarray(check_array("bone_lengths", bone_lengths, ("...", NUM_JOINTS - 1)), np.float64)
    if np.any(bone_lengths < 0):
        raise EvidenceError("bone_lengths: must be non-negative")
    if weights is None:
        weights = np.ones_like(bone_lengths)
    weights = _check_weights("bone_length weights", weights, bone_lengths.shape)
    weighted = weights > 0
    if not np.all(np.any(weighted, axis=-1)):
        raise EvidenceError("bone_length weights: every weight is 0, so the lengths would be ignored")
    longest = np.max(np.where(weighted, bone_lengths, 0.0), axis=-1)
    if np.any(longest > MAX_BONE_LENGTH_MM):
        raise EvidenceError(f"bone_lengths: a bone of {float(np.max(longest)):.4g} mm; expected millimetres "
                            f"(a person's bones are ~100-500 mm, none over {MAX_BONE_LENGTH_MM:g})")
    if np.any(longest < MIN_LONGEST_BONE_MM):
        raise EvidenceError(f"bone_lengths: the longest bone is {float(np.min(longest)):.4g} mm; expected "
                            "millimetres (a shin is ~470 mm; metres or zeros given?)")
    return BoneLengthEvidence(bone_lengths=_float32(bone_lengths), weights=_float32(weights))


def stack_evidence(evidences):
    """A list of same-class evidences -> one evidence with a leading `[frames]` axis on every leaf (device arrays).

    Stacked on the host, then moved once: `jnp.stack` over N arrays traces one N-operand concatenation, which took
    49.6 s for 3,000 photos' people (1.3 s for 300), this 1.9 s (0.3 s). Not for use under `jit`.
    """
    if not evidences:
        raise EvidenceError("evidence: empty list")
    return jax.tree.map(lambda *leaves: jnp.asarray(np.stack([np.asarray(leaf) for leaf in leaves])), *evidences)


def index_evidence(evidence, index):
    """Frame `index` (int or slice) of a batched evidence (a slice over every frame returns `evidence` itself)."""
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
