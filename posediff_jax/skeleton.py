"""The Human3.6M 17-joint skeleton (every pose's joint order) and index maps into it from other layouts.

Joints a layout lacks are reported by a mask, not invented, except for the conventional midpoints (per function).
Layouts: H36M-32 (VideoPose3D's `data_3d_h36m.npz`), MPI-INF-3DHP-17 (its test order), SMPL-24 (3DPW), LSP-14
(3DPW / LSP evaluation), COCO-17 (most 2D detectors), MPII-16 (Stacked-Hourglass detections).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from posediff_jax.validation import check_array

NUM_JOINTS = 17

# Hip is the pelvis (the root), RFoot / LFoot the ankles, Head the head top.
JOINT_NAMES = ("Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax", "Neck/Nose", "Head",
               "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")
JOINT_INDEX = {name: index for index, name in enumerate(JOINT_NAMES)}
ROOT_JOINT = 0

# Parent of every joint (-1 for the root).
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
# Bones as (child, parent) pairs, one per non-root joint, in joint order.
BONES = tuple((child, parent) for child, parent in enumerate(PARENTS) if parent >= 0)
BONE_NAMES = tuple(f"{JOINT_NAMES[child]}-{JOINT_NAMES[parent]}" for child, parent in BONES)  # 'child-parent'

# Bones (by child joint) by body part, left and right together: what differs between people's proportions. The
# neck/nose -> head bone is left out: Human3.6M gives it 115 mm for every subject.
BONE_GROUPS = {
    "hip_width": (1, 4), "thigh": (2, 5), "shin": (3, 6), "lower_spine": (7,), "upper_spine": (8,), "neck": (9,),
    "shoulder_width": (11, 14), "upper_arm": (12, 15), "forearm": (13, 16),
}

# The 16 bones' total length of a Human3.6M adult (its subject S9, the shipped examples: 4,328 mm). Every person,
# from a toddler (half an adult's height) to the tallest on record (1.6x), lies within `SKELETON_FACTOR` of it.
TYPICAL_SKELETON_MM, SKELETON_FACTOR = 4300.0, 2.0

LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)
# FLIP_PERMUTATION[j] is the joint that lands on j after a left/right mirror.
_flip = list(range(NUM_JOINTS))
for _left, _right in zip(LEFT_JOINTS, RIGHT_JOINTS):
    _flip[_left], _flip[_right] = _right, _left
FLIP_PERMUTATION = np.array(_flip, dtype=np.int32)
# Bone pairs (index into BONES) that are left/right mirror images, for symmetry checks.
SYMMETRIC_BONE_PAIRS = tuple(
    (BONES.index((left, PARENTS[left])), BONES.index((right, PARENTS[right])))
    for left, right in zip(LEFT_JOINTS, RIGHT_JOINTS)
)


def flip_pose(pose):
    """Mirrors poses `[..., 17, D]` (x first; 3D, or 2D in a centred frame) left/right: x negated, sides swapped."""
    check_array("pose", pose, ("...", NUM_JOINTS, None))
    xp = np if isinstance(pose, np.ndarray) else jnp
    mirrored = pose[..., FLIP_PERMUTATION, :]
    sign = xp.asarray([-1.0] + [1.0] * (pose.shape[-1] - 1), dtype=pose.dtype)
    return mirrored * sign


def bone_lengths(pose, eps: float = 0.0):
    """Bone lengths `[..., 16]` of poses `[..., 17, 3]` (order of `BONES`), NumPy in, NumPy out; jax arrays and
    tracers too. `eps` inside the square root keeps the gradient finite for a zero-length bone."""
    check_array("pose", pose, ("...", NUM_JOINTS, 3))
    xp = np if isinstance(pose, np.ndarray) else jnp
    children = np.array([child for child, _ in BONES])
    parents = np.array([parent for _, parent in BONES])
    difference = pose[..., children, :] - pose[..., parents, :]
    return xp.sqrt(xp.sum(difference**2, axis=-1) + eps)


# Human3.6M 32 -> 17 (VideoPose3D's selection; the same as in 3d-pose-baseline).
H36M32_TO_H36M17 = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27], dtype=np.int32)


def from_h36m32(positions):
    """Selects the 17 evaluation joints from Human3.6M's 32: `[..., 32, D] -> [..., 17, D]`."""
    check_array("positions", positions, ("...", 32, None))
    return positions[..., H36M32_TO_H36M17, :]


# MPI-INF-3DHP 17-joint test order.
MPI_INF_3DHP17_NAMES = ("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                        "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                        "left_ankle", "pelvis", "spine", "head")
# For every H36M joint, the MPI-INF-3DHP joint that takes its place (all 17 have a counterpart).
MPI_INF_3DHP17_TO_H36M17 = np.array([14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4], dtype=np.int32)


def from_mpi_inf_3dhp17(positions):
    """MPI-INF-3DHP test order to H36M order `[..., 17, D]` (its 'neck' is the Thorax, 'head' the Neck/Nose)."""
    check_array("positions", positions, ("...", 17, None))
    return positions[..., MPI_INF_3DHP17_TO_H36M17, :]


# SMPL 24 joints (3DPW).
SMPL24_NAMES = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
                "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
                "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                "left_hand", "right_hand")
# H36M joint -> SMPL joint; -1 where SMPL has no counterpart (head top).
SMPL24_TO_H36M17 = np.array([0, 2, 5, 8, 1, 4, 7, 6, 12, 15, -1, 16, 18, 20, 17, 19, 21], dtype=np.int32)


def from_smpl24(positions):
    """SMPL-24 `[..., 24, D]` -> (H36M order `[..., 17, D]`, `[17]` mask): spine2 stands in for Spine, neck for
    Thorax, head for Neck/Nose; the head top (joint 10) is zeros with mask False."""
    check_array("positions", positions, ("...", 24, None))
    return _select(positions, SMPL24_TO_H36M17)


def _select(positions, to_h36m17):
    """(`positions[..., to_h36m17, :]` with zeros where the map is -1, `[17]` bool mask of mapped joints)."""
    positions = np.asarray(positions)
    mask = to_h36m17 >= 0
    gathered = np.where(mask[:, None], positions[..., np.maximum(to_h36m17, 0), :], 0.0)
    return gathered.astype(positions.dtype), mask


# LSP 14 joints.
LSP14_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
               "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top")
H36M17_TO_LSP14 = np.array([3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10], dtype=np.int32)
# The same 14 joints read from SMPL-24 (3DPW ground truth); SMPL's 'head' stands in for head top there.
SMPL24_TO_LSP14 = np.array([8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15], dtype=np.int32)


def to_lsp14(pose):
    """H36M-17 to the 14-joint LSP subset: `[..., 17, D] -> [..., 14, D]`."""
    check_array("pose", pose, ("...", NUM_JOINTS, None))
    return pose[..., H36M17_TO_LSP14, :]


# COCO 17 keypoints (2D detectors).
COCO17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                "right_knee", "left_ankle", "right_ankle")
# H36M joint -> COCO joint; -1 where COCO has no counterpart. Nose is only an approximation of Neck/Nose.
COCO17_TO_H36M17 = np.array([-1, 12, 14, 16, 11, 13, 15, -1, -1, 0, -1, 5, 7, 9, 6, 8, 10], dtype=np.int32)


def coco17_to_h36m17(keypoints, confidence=None, midpoints: bool = True):
    """COCO-17 keypoints `[..., 17, 2]` (confidence `[..., 17]`, default ones) -> H36M order (keypoints, confidences).

    `midpoints`: Hip and Thorax as the hips' and shoulders' midpoints (the smaller confidence); Spine and Head have
    no counterpart (zeros, confidence 0).
    """
    keypoints = np.asarray(check_array("keypoints", keypoints, ("...", 17, 2)), dtype=np.float32)
    if confidence is None:
        confidence = np.ones(keypoints.shape[:-1], dtype=np.float32)
    confidence = np.asarray(check_array("confidence", confidence, keypoints.shape[:-1]), dtype=np.float32)
    have = COCO17_TO_H36M17 >= 0
    index = np.maximum(COCO17_TO_H36M17, 0)
    out = np.where(have[:, None], keypoints[..., index, :], 0.0)
    out_conf = np.where(have, confidence[..., index], 0.0)
    if midpoints:
        for target, (a, b) in ((0, (11, 12)), (8, (5, 6))):
            out[..., target, :] = 0.5 * (keypoints[..., a, :] + keypoints[..., b, :])
            out_conf[..., target] = np.minimum(confidence[..., a], confidence[..., b])
    return out.astype(np.float32), out_conf.astype(np.float32)


# MPII 16 keypoints (Stacked Hourglass detections).
MPII16_NAMES = ("RAnkle", "RKnee", "RHip", "LHip", "LKnee", "LAnkle", "Pelvis", "Thorax", "UpperNeck", "HeadTop",
                "RWrist", "RElbow", "RShoulder", "LShoulder", "LElbow", "LWrist")
# H36M joint -> MPII joint; Spine has none. Thorax->Thorax, UpperNeck->Neck/Nose, HeadTop->Head.
MPII16_TO_H36M17 = np.array([6, 2, 1, 0, 3, 4, 5, -1, 7, 8, 9, 13, 14, 15, 12, 11, 10], dtype=np.int32)


def mpii16_to_h36m17(keypoints):
    """MPII-16 keypoints `[..., 16, 2]` -> (H36M order `[..., 17, 2]`, zeros at Spine; `[17]` mask)."""
    return _select(check_array("keypoints", keypoints, ("...", 16, 2)), MPII16_TO_H36M17)


# Virtual joints: the points a 2D detector marks, as affine combinations of the H36M joints. MPII's HeadTop,
# UpperNeck and Thorax are not H36M's Head, Neck/Nose and Thorax, and the offsets cannot be fitted, so each is a
# segment (start, end) of candidates bounded by anatomy, each end a {joint: coefficient} combination summing to 1;
# the heatmap energy averages over it (a marginal likelihood over the offset). MPII-16's:
# - Thorax: from the shoulders' midpoint (the sternum's top) to H36M's Thorax (55 mm above it on average);
# - UpperNeck: from H36M's Thorax to Neck/Nose;
# - HeadTop: from H36M's Head to one more Neck/Nose->Head length (115 mm) beyond it.
_T, _NN, _HD, _LS, _RS = 8, 9, 10, 11, 14
MPII16_VIRTUAL_SEGMENTS = {
    _T: ({_LS: 0.5, _RS: 0.5}, {_T: 1.0}),
    _NN: ({_T: 1.0}, {_NN: 1.0}),
    _HD: ({_HD: 1.0}, {_HD: 2.0, _NN: -1.0}),
}
VIRTUAL_JOINT_LAYOUTS = {"none": {}, "mpii": MPII16_VIRTUAL_SEGMENTS}


def virtual_joint_matrices(layout="none", num_points: int = 5) -> np.ndarray:
    """float32 `[K, 17, 17]` matrices: `M_k @ pose [17, 3]` is the k-th candidate of the detector's points.

    `layout`: a `VIRTUAL_JOINT_LAYOUTS` name or a `{joint: (start, end)}` dict; `num_points`: K evenly spaced
    candidates per segment (5 keep the head segment's spacing under one heatmap sigma); K = 1 for 'none'.
    """
    if isinstance(layout, str):
        if layout not in VIRTUAL_JOINT_LAYOUTS:
            raise ValueError(f"virtual joints: expected one of {sorted(VIRTUAL_JOINT_LAYOUTS)}, got {layout!r}")
        layout = VIRTUAL_JOINT_LAYOUTS[layout]
    if num_points < 1:
        raise ValueError(f"virtual joints: num_points must be >= 1, got {num_points}")
    count = num_points if layout else 1
    fractions = np.linspace(0.0, 1.0, count) if count > 1 else np.array([0.5])
    matrices = np.tile(np.eye(NUM_JOINTS), (count, 1, 1))
    for joint, (start, end) in layout.items():
        first, second = np.zeros((2, NUM_JOINTS))
        for row, ends in ((first, start), (second, end)):
            row[list(ends)] = list(ends.values())
        if not (np.isclose(first.sum(), 1.0) and np.isclose(second.sum(), 1.0)):
            raise ValueError(f"virtual joints: joint {joint}'s coefficients must sum to 1")
        for k, fraction in enumerate(fractions):
            matrices[k, joint] = (1.0 - fraction) * first + fraction * second
    return matrices.astype(np.float32)
