"""Decoding BlazePose's person detector and turning a detection into a rotated, square body crop.

Follows MediaPipe's pose graphs (mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt and
pose_landmark/pose_detection_to_roi.pbtxt, v0.10.14), re-implemented in numpy:

1. The image is letterboxed to 224 x 224 (aspect kept, zero border), values in [-1, 1].
2. The SSD head gives 2254 anchors x (box: x, y, w, h; 4 keypoints x (x, y)) relative to fixed-size anchors on
   28 x 28, 14 x 14 and 7 x 7 grids, and a logit score each (sigmoid, clipped at +-100).
3. Weighted non-maximum suppression (IoU >= 0.3 merge: score-weighted average of the overlapping detections).
4. The box is the face; the keypoints are (0) mid-hip centre, (1) a point whose distance from (0) is the
   radius of a circle around the whole body and whose direction gives the body rotation, (2, 3) the same for
   the upper body. The region of interest is a square centred on keypoint 0 with side 2 * radius * 1.25,
   rotated so that keypoint 1 points up in the crop.

All coordinates returned here are image pixels with pixel centres at integers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from posediff_jax.detector import affine

DETECTOR_INPUT_SIZE = 224
NUM_ANCHORS = 2254
NUM_DETECTOR_KEYPOINTS = 4
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
SCORE_CLIPPING = 100.0
MIN_DETECTION_SCORE = 0.5
MIN_SUPPRESSION_IOU = 0.3
# Region of interest: keypoint 0 is the centre; keypoint 1 is "up"; side = 2 * |kp1 - kp0| * ROI_SCALE.
ROI_CENTRE_KEYPOINT = 0
ROI_ROTATION_KEYPOINT = 1
ROI_SCALE = 1.25
ROI_TARGET_ANGLE = math.pi / 2


@dataclasses.dataclass(frozen=True)
class PersonDetection:
    """One person found by the detector, in image pixels.

    Attributes:
      score: detection probability in [0, 1].
      face_box: `[4]` (x_min, y_min, x_max, y_max) of the face box the detector regresses.
      keypoints: `[4, 2]` the detector's alignment keypoints (mid-hip, body-size point, mid-shoulder,
        upper-body-size point).
    """

    score: float
    face_box: np.ndarray
    keypoints: np.ndarray


@dataclasses.dataclass(frozen=True)
class RotatedRegion:
    """A square region of interest: centre (x, y) and side in image pixels, rotation in radians.

    `rotation` turns the crop's axes in the image (y down): crop direction (0, -1) ("up") appears in the image
    as (sin r, -cos r).
    """

    centre_x: float
    centre_y: float
    side: float
    rotation: float

    def corners(self) -> np.ndarray:
        """`[4, 2]` image coordinates of the corners (top-left, top-right, bottom-right, bottom-left of the crop)."""
        half = self.side / 2.0
        local = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        rotation = np.array([[cos, -sin], [sin, cos]])
        return local @ rotation.T + np.array([self.centre_x, self.centre_y])


def make_anchors() -> np.ndarray:
    """Anchor centres `[2254, 2]` (x, y) normalised to [0, 1] of the 224 x 224 input.

    MediaPipe's SsdAnchorsCalculator with 5 layers, strides (8, 16, 32, 32, 32), aspect ratio 1 plus one
    interpolated scale, fixed anchor size: 2 anchors per cell per layer; consecutive layers with the same stride
    share one grid (so the 7 x 7 grid has 6 anchors per cell). Order: grid, row, column, anchor.
    """
    centres = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        stride = ANCHOR_STRIDES[layer]
        anchors_per_cell = 0
        while layer < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[layer] == stride:
            anchors_per_cell += 2
            layer += 1
        cells = math.ceil(DETECTOR_INPUT_SIZE / stride)
        rows, cols = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(cols + 0.5) / cells, (rows + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, anchors_per_cell, axis=1).reshape(-1, 2))
    anchors = np.concatenate(centres, axis=0)
    assert anchors.shape == (NUM_ANCHORS, 2), anchors.shape
    return anchors


def letterbox_affine(image_height: int, image_width: int, size: int = DETECTOR_INPUT_SIZE) -> np.ndarray:
    """`[2, 3]` image pixel -> letterboxed `size x size` input pixel (aspect kept, centred, pixel centres at 0)."""
    scale = size / max(image_height, image_width)
    offset_x = (size - scale * image_width) / 2.0
    offset_y = (size - scale * image_height) / 2.0
    # In pixel-edge coordinates u = scale * x_edge + offset; pixel centres sit at edge coordinate + 0.5.
    return affine.scale_translate(scale, offset_x + 0.5 * scale - 0.5, offset_y + 0.5 * scale - 0.5)


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float = MIN_DETECTION_SCORE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decodes the SSD outputs into boxes and keypoints in input-pixel-edge units normalised by 224.

    Args:
      raw_boxes: `[2254, 12]` regressor output.
      raw_scores: `[2254]` or `[2254, 1]` logits.
      anchors: `[2254, 2]` from `make_anchors`.
      min_score: keep detections with probability >= this.
    Returns:
      boxes `[N, 4]` (x_min, y_min, x_max, y_max), keypoints `[N, 4, 2]`, scores `[N]`, all normalised to
      [0, 1] of the letterboxed input (pixel-edge convention, as MediaPipe).
    """
    raw_boxes = np.asarray(raw_boxes, np.float64).reshape(NUM_ANCHORS, -1)
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(NUM_ANCHORS), -SCORE_CLIPPING, SCORE_CLIPPING)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw_boxes, scores, anchors = raw_boxes[keep], scores[keep], anchors[keep]
    centre = raw_boxes[:, 0:2] / DETECTOR_INPUT_SIZE + anchors
    size = raw_boxes[:, 2:4] / DETECTOR_INPUT_SIZE
    boxes = np.concatenate([centre - size / 2.0, centre + size / 2.0], axis=-1)
    keypoints = raw_boxes[:, 4 : 4 + 2 * NUM_DETECTOR_KEYPOINTS].reshape(-1, NUM_DETECTOR_KEYPOINTS, 2)
    keypoints = keypoints / DETECTOR_INPUT_SIZE + anchors[:, None, :]
    return boxes, keypoints, scores


def intersection_over_union(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box `[4]` with boxes `[N, 4]` (x_min, y_min, x_max, y_max) -> `[N]`."""
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=-1)
    area = np.prod(np.clip(box[2:] - box[:2], 0.0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=-1)
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def weighted_non_max_suppression(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, min_iou: float = MIN_SUPPRESSION_IOU
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-maximum suppression.

    Takes the best remaining detection, gathers every remaining detection overlapping it with IoU > min_iou,
    and replaces the group by the score-weighted mean of its boxes and keypoints (score of the best).

    Returns:
      list of (box `[4]`, keypoints `[K, 2]`, score), best first.
    """
    order = list(np.argsort(-scores, kind="stable"))
    merged = []
    while order:
        best = order[0]
        overlaps = intersection_over_union(boxes[best], boxes[order])
        group = [index for index, overlap in zip(order, overlaps) if overlap > min_iou or index == best]
        weights = scores[group] / np.sum(scores[group])
        box = np.tensordot(weights, boxes[group], axes=1)
        points = np.tensordot(weights, keypoints[group], axes=1)
        merged.append((box, points, float(scores[best])))
        order = [index for index in order if index not in set(group)]
    return merged


def detections_to_image(
    merged: list[tuple[np.ndarray, np.ndarray, float]], image_to_input: np.ndarray
) -> list[PersonDetection]:
    """Maps detections from normalised letterboxed-input coordinates to image pixels."""
    input_to_image = affine.invert(image_to_input)
    people = []
    for box, points, score in merged:
        # Normalised pixel-edge coordinates -> input pixel centres -> image pixels.
        corners = affine.apply(input_to_image, box.reshape(2, 2) * DETECTOR_INPUT_SIZE - 0.5).reshape(4)
        keypoints = affine.apply(input_to_image, points * DETECTOR_INPUT_SIZE - 0.5)
        people.append(PersonDetection(score=score, face_box=corners, keypoints=keypoints))
    return people


def normalize_radians(angle: float) -> float:
    """Wraps an angle to [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def detection_to_region(detection: PersonDetection, scale: float = ROI_SCALE) -> RotatedRegion:
    """The rotated square body crop of a detection (MediaPipe's AlignmentPointsRects + RectTransformation)."""
    centre = detection.keypoints[ROI_CENTRE_KEYPOINT]
    towards = detection.keypoints[ROI_ROTATION_KEYPOINT]
    delta_x, delta_y = towards - centre
    radius = math.hypot(delta_x, delta_y)
    rotation = normalize_radians(ROI_TARGET_ANGLE - math.atan2(-delta_y, delta_x))
    return RotatedRegion(
        centre_x=float(centre[0]), centre_y=float(centre[1]), side=2.0 * radius * scale, rotation=rotation
    )


def region_to_crop_affine(region: RotatedRegion, crop_size: int) -> np.ndarray:
    """`[2, 3]` affine crop pixel -> image pixel for a `crop_size x crop_size` crop of `region`.

    The crop's pixel centre (crop_size - 1) / 2 lands on the region centre; one crop pixel spans
    side / crop_size image pixels along the rotated axes.
    """
    pixel = region.side / crop_size
    cos, sin = math.cos(region.rotation), math.sin(region.rotation)
    linear = pixel * np.array([[cos, -sin], [sin, cos]])
    middle = (crop_size - 1) / 2.0
    translation = np.array([region.centre_x, region.centre_y]) - linear @ np.array([middle, middle])
    return np.concatenate([linear, translation[:, None]], axis=1)
