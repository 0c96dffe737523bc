"""Host-side checks of user evidence, each raising `EvidenceError` naming the array and the likely mistake.

The `make_*_evidence` constructors call them (energies run under jit and never validate). They catch the usual
mistakes: normalised coordinates or a transposed K, metres for millimetres, poses not root-relative, garbled 2D.
"""

from __future__ import annotations

import numpy as np

from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import GARBLED_PIXELS, PoseDiffError, ShapeError, check_array


class EvidenceError(PoseDiffError):
    """Evidence (heatmaps, keypoints, intrinsics, known joints) is unusable."""


# The root solve places the pose from >= 2 weighted joints; with fewer the evidence would be silently ignored.
MIN_WEIGHTED_JOINTS = 2


def check_weighted_joints(joint_weights, what: str = "joint_weights") -> None:
    """Raises `EvidenceError` naming the first frame of effective weights `[..., 17]` with fewer than
    `MIN_WEIGHTED_JOINTS` joints > 0 (user inputs only: the evaluation's loaders skip such dataset frames)."""
    weights = np.asarray(joint_weights)
    counts = np.sum(weights > 0, axis=-1).reshape(-1)
    few = np.flatnonzero(counts < MIN_WEIGHTED_JOINTS)
    if few.size:
        raise EvidenceError(f"no usable evidence: frame {int(few[0])} has {int(counts[few[0]])} joint(s) with weight "
                            f"> 0 ({what}); at least {MIN_WEIGHTED_JOINTS} are needed to place the pose "
                            "(use `posediff generate` for samples without evidence)")


def check_weights(name, weights, shape):
    """`weights` as float64 of `shape`, finite and non-negative."""
    weights = np.asarray(check_array(name, weights, shape), np.float64)
    if np.any(weights < 0):
        raise EvidenceError(f"{name}: weights must be non-negative")
    return weights


# Focal lengths are pixels: below 10 px a 100-px image would span over 157 degrees; such a K is in other units
# (normalised coordinates give f ~ 1).
MIN_FOCAL_PIXELS = 10.0


def check_intrinsics(intrinsics, leading=()):
    """`[..., 3, 3]` float64 K of the form `[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`, fx, fy > `MIN_FOCAL_PIXELS`: the
    projection reads only those entries, so a K in another form (transposed) would be used wrongly in silence."""
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
    skew = np.abs(intrinsics[..., 0, 1])
    if np.any(skew > intrinsics[..., 0, 0]):  # s = -fx cot(angle between the pixel axes); sensors have s ~ 0
        raise EvidenceError(f"intrinsics: skew K[0, 1] = {float(np.max(skew)):.4g} px exceeds the focal length (pixel "
                            "axes over 45 degrees off square); cameras have a skew of ~0")
    return intrinsics


# K is a pinhole (rectilinear) camera: a ray theta off its axis lands f tan(theta) from the principal point, and the
# widest rectilinear lenses reach ~68 degrees at the image corner. A keypoint beyond 85 degrees (its image stretched
# over 130x) is in no image of that camera: keypoints and K are of different images (a principal point far away).
MAX_OFF_AXIS_DEGREES = 85.0


def check_keypoints_in_view(keypoints_2d, intrinsics, weights=None) -> None:
    """Raises `EvidenceError` naming the joint when a used joint (`used_joints`) of `[..., 17, 2]` pixels lies over
    `MAX_OFF_AXIS_DEGREES` off the axis of its camera `intrinsics [..., 3, 3]`."""
    keypoints_2d, intrinsics = np.asarray(keypoints_2d, np.float64), np.asarray(intrinsics, np.float64)
    focal = np.stack([intrinsics[..., 0, 0], intrinsics[..., 1, 1]], -1)[..., None, :]
    slope = np.linalg.norm((keypoints_2d - intrinsics[..., None, :2, 2]) / focal, axis=-1)
    slope = np.where(used_joints(keypoints_2d, weights), slope, 0.0)
    if np.any(slope > np.tan(np.radians(MAX_OFF_AXIS_DEGREES))):
        index = np.unravel_index(np.argmax(slope), slope.shape)
        camera = np.broadcast_to(intrinsics, slope.shape[:-1] + (3, 3))[index[:-1]]
        frame = f"frame {index[0]}'s " if len(index) > 1 else ""
        x, y = keypoints_2d[index]
        raise EvidenceError(f"keypoints_2d: {frame}joint {index[-1]} at ({x:.4g}, {y:.4g}) px lies "
                            f"{np.degrees(np.arctan(slope[index])):.1f} degrees off the camera's axis (principal point "
                            f"({camera[0, 2]:.4g}, {camera[1, 2]:.4g}), focal length {camera[0, 0]:.4g} px); a pinhole "
                            f"camera images nothing beyond {MAX_OFF_AXIS_DEGREES:g} degrees: are they of one image?")


# A given root is the pelvis in camera-frame mm: nearer than 100 mm no whole body fits the image (metres given?);
# 100 km away a person spans ~3 points the atmosphere resolves (seeing ~5 microradians) through any lens (garbled).
MIN_ROOT_DEPTH_MM, MAX_ROOT_DISTANCE_MM = 100.0, 1e8


def root_fields(root_translation, leading):
    """(`root_translation [..., 3]` float32, `use_given_root [...]` bool): zeros and False when none is given."""
    if root_translation is None:
        return np.zeros(leading + (3,), np.float32), np.zeros(leading, bool)
    root = np.asarray(check_array("root_translation", root_translation, (*leading, 3)), np.float32)
    depth = float(np.min(root[..., 2])) if root.size else 1.0
    if depth <= 0:
        raise EvidenceError(f"root_translation: depth z must be > 0 mm (in front of the camera), got {depth:g}")
    if depth < MIN_ROOT_DEPTH_MM:
        raise EvidenceError(f"root_translation: depth z {depth:g} mm puts the person within "
                            f"{MIN_ROOT_DEPTH_MM:g} mm of the camera; expected millimetres (metres given?)")
    distance = float(np.max(np.linalg.norm(root.astype(np.float64), axis=-1))) if root.size else 0.0
    if distance > MAX_ROOT_DISTANCE_MM:
        raise EvidenceError(f"root_translation: {distance:.4g} mm from the camera, over "
                            f"{MAX_ROOT_DISTANCE_MM / 1e6:g} km; expected camera-frame millimetres of a visible person")
    return root, np.ones(leading, bool)


def check_heatmaps(heatmaps, num_joints: int = NUM_JOINTS):
    """Validates detector heatmaps `[..., J, H, W]`: joint count, non-empty grid, finite, non-negative."""
    if heatmaps is None:
        raise EvidenceError("heatmaps: missing")
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim < 3:
        raise ShapeError(f"heatmaps: expected shape [..., {num_joints}, H, W], got {list(heatmaps.shape)}")
    if heatmaps.shape[-3] != num_joints:
        raise ShapeError(f"heatmaps: expected {num_joints} joint maps (H36M-17 order; map other layouts first), "
                         f"got {heatmaps.shape[-3]} in shape {list(heatmaps.shape)}")
    if heatmaps.shape[-1] < 2 or heatmaps.shape[-2] < 2:
        raise EvidenceError(f"heatmaps: zero-size or degenerate grid {heatmaps.shape[-2]}x{heatmaps.shape[-1]}")
    check_array("heatmaps", heatmaps, None)
    if np.any(heatmaps < 0):
        raise EvidenceError(f"heatmaps: {int(np.sum(heatmaps < 0))} negative value(s); expected probabilities or "
                            "non-negative scores (apply a sigmoid/softmax to logits first)")
    return heatmaps


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


# 2D keypoints must span a person in pixels: below this every joint sits on one heatmap cell (normalised
# coordinates, a collapsed detection); above `validation.GARBLED_PIXELS` a garbled coordinate stretched them.
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


# Known joints are root-relative mm: none lies 3 m from the pelvis, nor all of them within 3 mm (metres given).
MAX_JOINT_DISTANCE_MM = 3000.0
MIN_POSE_EXTENT_MM = 3.0


def check_root_relative_millimetres(known_joints, mask) -> None:
    """Refuses `[..., 17, 3]` known joints that are not root-relative (a known pelvis off the origin) or in metres."""
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


# Bone lengths are mm (Human3.6M's: ~115-470): one over 1 m is garbled, a longest under 10 mm is metres or zeros.
MAX_BONE_LENGTH_MM = 1000.0
MIN_LONGEST_BONE_MM = 10.0


def check_bone_lengths(bone_lengths, weights) -> None:
    """Raises `EvidenceError` unless every set has a weighted bone and its longest is a person's in mm."""
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
