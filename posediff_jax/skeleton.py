"""The Human3.6M 17-joint skeleton and conversions into it.

Every pose in posediff_jax uses this joint order (`JOINT_NAMES`). Conversions from other layouts are index maps;
joints a layout lacks are reported by a boolean mask rather than invented, except where a documented midpoint is
the community's convention (stated per function).

Layouts:
- H36M-32: the 32 positions of Human3.6M's D3_Positions, as VideoPose3D stores them (`data_3d_h36m.npz`).
  The usual 17 are indices `H36M32_TO_H36M17`.
- MPI-INF-3DHP-17: the 17-joint test-set order of MPI-INF-3DHP (`univ_annot3` of the test sequences).
- SMPL-24: the 24 SMPL joints (3DPW's `jointPositions`). SMPL has no head top.
- LSP-14: the 14-joint subset used for 3DPW / LSP evaluation.
- COCO-17: the 2D layout of most keypoint detectors (nose, eyes, ears, shoulders, ..., ankles).
- MPII-16: the 2D layout of Stacked-Hourglass detections (VideoPose3D's `sh_pt_mpii`).
"""

from __future__ import annotations

import numpy as np

from posediff_jax.validation import check_array

NUM_JOINTS = 17

JOINT_NAMES = (
    "Hip",        # 0 pelvis, the root
    "RHip",       # 1
    "RKnee",      # 2
    "RFoot",      # 3 ankle
    "LHip",       # 4
    "LKnee",      # 5
    "LFoot",      # 6 ankle
    "Spine",      # 7
    "Thorax",     # 8
    "Neck/Nose",  # 9
    "Head",       # 10 head top
    "LShoulder",  # 11
    "LElbow",     # 12
    "LWrist",     # 13
    "RShoulder",  # 14
    "RElbow",     # 15
    "RWrist",     # 16
)
JOINT_INDEX = {name: index for index, name in enumerate(JOINT_NAMES)}
ROOT_JOINT = 0

# Parent of every joint (-1 for the root).
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
# Bones as (child, parent) pairs, one per non-root joint, in joint order.
BONES = tuple((child, parent) for child, parent in enumerate(PARENTS) if parent >= 0)
BONE_NAMES = tuple(f"{JOINT_NAMES[parent]}-{JOINT_NAMES[child]}" for child, parent in BONES)

# Bones grouped by body part, left and right together (each bone named by its child joint): what differs between
# people's proportions (training augmentation `data.device_augment.rescale_bone_groups`). The neck/nose -> head
# bone is left out: Human3.6M's skeleton gives it the same length (115 mm) for every subject.
BONE_GROUPS = {
    "hip_width": (1, 4), "thigh": (2, 5), "shin": (3, 6), "lower_spine": (7,), "upper_spine": (8,), "neck": (9,),
    "shoulder_width": (11, 14), "upper_arm": (12, 15), "forearm": (13, 16),
}

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
    """Mirrors a pose left/right: negates x and swaps left and right joints.

    Args:
      pose: `[..., 17, D]` with D >= 1 (x first). Works for 3D poses and 2D keypoints in a centred frame.
    Returns:
      `[..., 17, D]` mirrored pose; a valid pose stays valid (bone lengths are preserved).
    """
    check_array("pose", pose, ("...", NUM_JOINTS, None))
    xp = np if isinstance(pose, np.ndarray) else _jnp()
    mirrored = pose[..., FLIP_PERMUTATION, :]
    sign = xp.asarray([-1.0] + [1.0] * (pose.shape[-1] - 1), dtype=pose.dtype)
    return mirrored * sign


def bone_lengths(pose):
    """Bone lengths `[..., 16]` of poses `[..., 17, 3]` (order of `BONES`)."""
    check_array("pose", pose, ("...", NUM_JOINTS, 3))
    xp = np if isinstance(pose, np.ndarray) else _jnp()
    children = np.array([child for child, _ in BONES])
    parents = np.array([parent for _, parent in BONES])
    return xp.linalg.norm(pose[..., children, :] - pose[..., parents, :], axis=-1)


def _jnp():
    import jax.numpy as jnp

    return jnp


# --------------------------------------------------------------------------------------------------
# Human3.6M 32 -> 17 (VideoPose3D's selection; the same as in 3d-pose-baseline).
H36M32_TO_H36M17 = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27], dtype=np.int32)


def from_h36m32(positions):
    """Selects the 17 evaluation joints from Human3.6M's 32: `[..., 32, D] -> [..., 17, D]`."""
    check_array("positions", positions, ("...", 32, None))
    return positions[..., H36M32_TO_H36M17, :]


# --------------------------------------------------------------------------------------------------
# MPI-INF-3DHP 17-joint test order.
MPI_INF_3DHP17_NAMES = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "pelvis",
    "spine", "head",
)
# For every H36M joint, the MPI-INF-3DHP joint that takes its place (all 17 have a counterpart).
MPI_INF_3DHP17_TO_H36M17 = np.array([14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4], dtype=np.int32)


def from_mpi_inf_3dhp17(positions):
    """MPI-INF-3DHP test order to H36M order: `[..., 17, D] -> [..., 17, D]`.

    3DHP's 'neck' lies at the shoulder line like H36M's Thorax, 3DHP's 'head' at the face like H36M's
    Neck/Nose, and 'head_top' is H36M's Head.
    """
    check_array("positions", positions, ("...", 17, None))
    return positions[..., MPI_INF_3DHP17_TO_H36M17, :]


# --------------------------------------------------------------------------------------------------
# SMPL 24 joints (3DPW).
SMPL24_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand",
    "right_hand",
)
# H36M joint -> SMPL joint; -1 where SMPL has no counterpart (head top).
SMPL24_TO_H36M17 = np.array([0, 2, 5, 8, 1, 4, 7, 6, 12, 15, -1, 16, 18, 20, 17, 19, 21], dtype=np.int32)


def from_smpl24(positions):
    """SMPL-24 joints to H36M order.

    SMPL joints are not Human3.6M markers: spine2 stands in for Spine, neck for Thorax and SMPL's head
    joint for Neck/Nose; SMPL has no head top, so joint 10 is returned as zeros with mask False.

    Args:
      positions: `[..., 24, D]`.
    Returns:
      (`[..., 17, D]` positions, `[17]` bool mask of joints that have a counterpart).
    """
    check_array("positions", positions, ("...", 24, None))
    mask = SMPL24_TO_H36M17 >= 0
    gathered = np.asarray(positions)[..., np.maximum(SMPL24_TO_H36M17, 0), :]
    gathered = np.where(mask[:, None], gathered, 0.0).astype(np.asarray(positions).dtype)
    return gathered, mask


# --------------------------------------------------------------------------------------------------
# LSP 14 joints.
LSP14_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top",
)
H36M17_TO_LSP14 = np.array([3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10], dtype=np.int32)
# The same 14 joints read from SMPL-24 (3DPW ground truth); SMPL's 'head' stands in for head top there.
SMPL24_TO_LSP14 = np.array([8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15], dtype=np.int32)


def to_lsp14(pose):
    """H36M-17 to the 14-joint LSP subset: `[..., 17, D] -> [..., 14, D]`."""
    check_array("pose", pose, ("...", NUM_JOINTS, None))
    return pose[..., H36M17_TO_LSP14, :]


# --------------------------------------------------------------------------------------------------
# COCO 17 keypoints (2D detectors).
COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
# H36M joint -> COCO joint; -1 where COCO has no counterpart. Nose is only an approximation of Neck/Nose.
COCO17_TO_H36M17 = np.array([-1, 12, 14, 16, 11, 13, 15, -1, -1, 0, -1, 5, 7, 9, 6, 8, 10], dtype=np.int32)


def coco17_to_h36m17(keypoints, confidence=None, midpoints: bool = True):
    """COCO-17 2D keypoints to H36M order.

    Joints with a direct counterpart are copied. With `midpoints=True`, Hip (pelvis) becomes the midpoint of
    the two hips and Thorax the midpoint of the shoulders (confidence = the smaller of the two). Spine and
    Head (top) have no counterpart: zeros with confidence 0.

    Args:
      keypoints: `[..., 17, 2]` COCO keypoints in pixels.
      confidence: optional `[..., 17]` scores (default ones).
    Returns:
      (`[..., 17, 2]` keypoints, `[..., 17]` confidences; 0 marks a joint without counterpart).
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


# --------------------------------------------------------------------------------------------------
# MPII 16 keypoints (Stacked Hourglass detections).
MPII16_NAMES = (
    "RAnkle", "RKnee", "RHip", "LHip", "LKnee", "LAnkle", "Pelvis", "Thorax", "UpperNeck", "HeadTop", "RWrist",
    "RElbow", "RShoulder", "LShoulder", "LElbow", "LWrist",
)
# H36M joint -> MPII joint; Spine has none. Thorax->Thorax, UpperNeck->Neck/Nose, HeadTop->Head.
MPII16_TO_H36M17 = np.array([6, 2, 1, 0, 3, 4, 5, -1, 7, 8, 9, 13, 14, 15, 12, 11, 10], dtype=np.int32)


def mpii16_to_h36m17(keypoints):
    """MPII-16 2D keypoints to H36M order.

    Args:
      keypoints: `[..., 16, 2]`.
    Returns:
      (`[..., 17, 2]` keypoints with zeros at Spine, `[17]` bool mask of joints that have a counterpart).
    """
    keypoints = np.asarray(check_array("keypoints", keypoints, ("...", 16, 2)))
    mask = MPII16_TO_H36M17 >= 0
    out = np.where(mask[:, None], keypoints[..., np.maximum(MPII16_TO_H36M17, 0), :], 0.0)
    return out.astype(keypoints.dtype), mask


# --------------------------------------------------------------------------------------------------
# Virtual joints: the points a 2D detector marks, as affine combinations of the H36M joints.
#
# A detector's joint names do not promise Human3.6M's joint definitions. MPII's 'HeadTop' is the top of the
# skull, its 'UpperNeck' the top of the neck and its 'Thorax' the top of the sternum between the shoulders;
# Human3.6M's Head, Neck/Nose and Thorax (joints 10, 9, 8) are marker-derived points elsewhere on the same
# segments. Without paired detections of non-test subjects the offsets cannot be fitted, so each such joint
# is a *segment* of candidate points bounded by anatomy alone: the detector's point lies somewhere on it,
# uniformly (the heatmap energy averages the heatmap over the segment: a marginal likelihood over the
# unknown offset). A segment is (start, end), each a {joint: coefficient} affine combination (coefficients
# sum to 1, so the virtual point moves with the pose under translation).
#
# MPII-16 (Stacked Hourglass):
# - Thorax slot <- MPII Thorax: between the shoulders' midpoint (the sternum's top lies on the shoulder line)
#   and H36M's Thorax (on average 55 mm above that line in the training subjects' 3D).
# - Neck/Nose slot <- MPII UpperNeck: on the neck, between H36M's Thorax and Neck/Nose.
# - Head slot <- MPII HeadTop: between H36M's Head and one more head segment beyond it along Neck/Nose->Head
#   (the skull's top is above Head by at most the Neck/Nose->Head length, 115 mm on average).
# Every other MPII joint names the same anatomical point as its H36M counterpart (Pelvis = the hips' midpoint,
# which H36M's Hip is to 0.001 mm in the training subjects' 3D).
_T, _NN, _HD, _LS, _RS = 8, 9, 10, 11, 14
MPII16_VIRTUAL_SEGMENTS = {
    _T: ({_LS: 0.5, _RS: 0.5}, {_T: 1.0}),
    _NN: ({_T: 1.0}, {_NN: 1.0}),
    _HD: ({_HD: 1.0}, {_HD: 2.0, _NN: -1.0}),
}
VIRTUAL_JOINT_LAYOUTS = {"none": {}, "mpii": MPII16_VIRTUAL_SEGMENTS}


def virtual_joint_matrices(layout="none", num_points: int = 5) -> np.ndarray:
    """`[K, 17, 17]` matrices `M_k`: `M_k @ pose` (`[17, 3]`) is the k-th candidate of the detector's points.

    Args:
      layout: a name in `VIRTUAL_JOINT_LAYOUTS` ('none': identity; 'mpii': MPII-16 definitions, see above) or
        a `{joint: (start, end)}` dict of segments as `MPII16_VIRTUAL_SEGMENTS`.
      num_points: K candidates per segment, evenly spaced from start to end inclusive (5 keep the spacing of
        the 115 mm head segment under one heatmap sigma at the default render scale). K = 1 for 'none'.
    Returns:
      float32 `[K, 17, 17]`; every row sums to 1; joints without a segment are identity rows.
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
        first, second = np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)
        for index, coefficient in start.items():
            first[index] = coefficient
        for index, coefficient in end.items():
            second[index] = coefficient
        if not (np.isclose(first.sum(), 1.0) and np.isclose(second.sum(), 1.0)):
            raise ValueError(f"virtual joints: joint {joint}'s coefficients must sum to 1")
        for k, fraction in enumerate(fractions):
            matrices[k, joint] = (1.0 - fraction) * first + fraction * second
    return matrices.astype(np.float32)
