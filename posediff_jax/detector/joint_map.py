"""BlazePose-33 landmarks -> Human3.6M-17 joints (keypoints, confidences and heatmaps).

BlazePose has no pelvis, spine, thorax or head-top landmark. The hips, knees, ankles (H36M's feet), shoulders,
elbows and wrists map to their landmarks and Neck/Nose to the nose (`DIRECT`); the pelvis and thorax are the
midpoints of the hips and shoulders (`MIDPOINTS`); the spine and head top are skipped.
Left/right are the person's own. A midpoint (the usual 2D->3D lifting convention) has the mean keypoint, the
distribution of the midpoint of two points drawn from the two heatmaps (`midpoint_heatmap`) and the product of
the confidences; H36M's thorax and pelvis sit a few centimetres off those lines, a bias the prior absorbs. Skipped
joints get weight 0, a uniform heatmap and a placeholder keypoint (spine: pelvis-thorax midpoint; head: the nose).
"""

from __future__ import annotations

import numpy as np

from posediff_jax import skeleton
from posediff_jax.validation import check_array

BLAZEPOSE_NAMES = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
                   "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
                   "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
                   "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
                   "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index",
                   "right_foot_index")
NUM_BLAZEPOSE_LANDMARKS = 33

# H36M joint index -> BlazePose landmark index, for joints with a direct counterpart.
DIRECT = {
    1: 24, 2: 26, 3: 28, 4: 23, 5: 25, 6: 27, 9: 0,
    11: 11, 12: 13, 13: 15, 14: 12, 15: 14, 16: 16,
}  # fmt: skip
# H36M joint index -> the two BlazePose landmarks whose midpoint it is.
MIDPOINTS = {0: (23, 24), 8: (11, 12)}
# H36M joints with no BlazePose evidence.
SKIPPED = (7, 10)
# `True` where the H36M joint has evidence (direct or midpoint).
HAS_EVIDENCE = np.array([index not in SKIPPED for index in range(skeleton.NUM_JOINTS)])

_SPINE, _THORAX, _NOSE, _HEAD, _PELVIS = 7, 8, 9, 10, 0


def map_keypoints(landmarks_2d: np.ndarray) -> np.ndarray:
    """BlazePose landmark positions `[..., 33 (or more), 2]` -> H36M-17 keypoints `[..., 17, 2]`."""
    landmarks_2d = check_array("landmarks_2d", landmarks_2d, ("...", None, 2))
    if landmarks_2d.shape[-2] < NUM_BLAZEPOSE_LANDMARKS:
        check_array("landmarks_2d", landmarks_2d, ("...", NUM_BLAZEPOSE_LANDMARKS, 2))
    landmarks_2d = np.asarray(landmarks_2d, np.float64)
    keypoints = np.zeros(landmarks_2d.shape[:-2] + (skeleton.NUM_JOINTS, 2))
    keypoints[..., list(DIRECT), :] = landmarks_2d[..., list(DIRECT.values()), :]
    for joint, (first, second) in MIDPOINTS.items():
        keypoints[..., joint, :] = 0.5 * (landmarks_2d[..., first, :] + landmarks_2d[..., second, :])
    keypoints[..., _SPINE, :] = 0.5 * (keypoints[..., _PELVIS, :] + keypoints[..., _THORAX, :])
    keypoints[..., _HEAD, :] = keypoints[..., _NOSE, :]
    return keypoints


def map_confidences(landmark_confidences: np.ndarray) -> np.ndarray:
    """Per-landmark confidences `[..., 33 (or more)]` in [0, 1] -> H36M-17 joint weights `[..., 17]`."""
    landmark_confidences = np.asarray(check_array("landmark_confidences", landmark_confidences), np.float64)
    weights = np.zeros(landmark_confidences.shape[:-1] + (skeleton.NUM_JOINTS,))
    weights[..., list(DIRECT)] = landmark_confidences[..., list(DIRECT.values())]
    for joint, (first, second) in MIDPOINTS.items():
        weights[..., joint] = landmark_confidences[..., first] * landmark_confidences[..., second]
    return weights


def midpoint_heatmap(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`[H, W]` distribution of the midpoint (a + b) / 2 of independent a ~ `first`, b ~ `second` (`[H, W]` maps).

    Along each axis, midpoint cell m gets the mass of the sum a + b at 2m and half that at 2m - 1 and 2m + 1.
    """
    first = np.asarray(first, np.float64)
    second = np.asarray(second, np.float64)
    height, width = first.shape
    # Full 2D convolution as a sum of positive products (no FFT: its round-off would wipe out the tiny tail
    # probabilities whose logarithm the heatmap energy reads). Columns first: shifted copies of `second`.
    column_shifts = np.zeros((height, width, 2 * width - 1))  # [row of second, column of first, summed column]
    for column in range(width):
        column_shifts[:, column, column : column + width] = second
    by_row_pair = np.einsum("ac,bck->abk", first, column_shifts)  # [row of first, row of second, summed column]
    summed = np.zeros((2 * height - 1, 2 * width - 1))
    for row in range(height):
        summed[row : row + height] += by_row_pair[row]

    def halve(values: np.ndarray, axis: int) -> np.ndarray:
        values = np.moveaxis(values, axis, 0)
        padded = np.concatenate([np.zeros_like(values[:1]), values, np.zeros_like(values[:1])], axis=0)
        # padded[2m + 1] is sum index 2m; neighbours 2m - 1 and 2m + 1 are padded[2m] and padded[2m + 2].
        return np.moveaxis(padded[1::2] + 0.5 * padded[0:-1:2] + 0.5 * padded[2::2], 0, axis)

    midpoint = halve(halve(summed, 0), 1)
    return midpoint / np.sum(midpoint)


def map_heatmaps(landmark_heatmaps: np.ndarray) -> np.ndarray:
    """Per-landmark probability maps `[33 (or more), H, W]` -> H36M-17 maps `[17, H, W]`."""
    landmark_heatmaps = np.asarray(check_array("landmark_heatmaps", landmark_heatmaps, (None, None, None)))
    _, height, width = landmark_heatmaps.shape
    heatmaps = np.full((skeleton.NUM_JOINTS, height, width), 1.0 / (height * width))
    heatmaps[list(DIRECT)] = landmark_heatmaps[list(DIRECT.values())]
    for joint, (first, second) in MIDPOINTS.items():
        heatmaps[joint] = midpoint_heatmap(landmark_heatmaps[first], landmark_heatmaps[second])
    return heatmaps
