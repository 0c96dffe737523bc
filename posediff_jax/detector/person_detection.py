"""Decoding BlazePose's person detector and turning a detection into a rotated, square body crop.

MediaPipe's pose graphs (pose_detection_cpu.pbtxt, pose_detection_to_roi.pbtxt, v0.10.14) in numpy: the image
letterboxed to 224 x 224 in [-1, 1]; 2254 SSD anchors each regressing a face box and 4 keypoints, with a logit;
weighted non-maximum suppression; the crop a square centred on keypoint 0 (mid-hip), side 2 * |kp1 - kp0| * 1.25,
rotated so that keypoint 1 points up. Coordinates returned are image pixels, centres at integers.
"""

from __future__ import annotations

import dataclasses
import itertools
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
ROI_CENTRE_KEYPOINT = 0
ROI_ROTATION_KEYPOINT = 1
ROI_SCALE = 1.25
ROI_TARGET_ANGLE = math.pi / 2


@dataclasses.dataclass(frozen=True)
class PersonDetection:
    """One detected person in image pixels: score in [0, 1], face_box `[4]` (x_min, y_min, x_max, y_max) and the
    alignment keypoints `[4, 2]` (mid-hip, body-size point, mid-shoulder, upper-body-size point)."""

    score: float
    face_box: np.ndarray
    keypoints: np.ndarray


@dataclasses.dataclass(frozen=True)
class RotatedRegion:
    """A square region: centre and side in image pixels; `rotation` r (radians) shows the crop's "up" (0, -1) in
    the image as (sin r, -cos r)."""

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
    """Anchor centres `[2254, 2]` (x, y) in [0, 1] of the input (MediaPipe's SsdAnchorsCalculator): 2 per cell per
    layer, layers of one stride sharing a grid; order grid, row, column, anchor."""
    centres = []
    for stride, layers in itertools.groupby(ANCHOR_STRIDES):
        cells = math.ceil(DETECTOR_INPUT_SIZE / stride)
        rows, cols = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(cols + 0.5) / cells, (rows + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, 2 * len(list(layers)), axis=1).reshape(-1, 2))
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


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      min_score: float = MIN_DETECTION_SCORE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes `[N, 4]` (x_min, y_min, x_max, y_max), keypoints `[N, 4, 2]`, scores `[N]`) of the detections scoring
    >= `min_score`, from `raw_boxes [2254, 12]` and logits `[2254(, 1)]`; in [0, 1] of the input (pixel edges)."""
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


def weighted_non_max_suppression(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                                 min_iou: float = MIN_SUPPRESSION_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-maximum suppression: [(box `[4]`, keypoints `[K, 2]`, score)], best first, each the
    score-weighted mean of the detections overlapping the best remaining one with IoU > `min_iou`."""
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


def detections_to_image(merged: list[tuple[np.ndarray, np.ndarray, float]],
                        image_to_input: np.ndarray) -> list[PersonDetection]:
    """Maps detections from normalised letterboxed-input coordinates to image pixels."""
    # Normalised pixel-edge coordinates -> input pixel centres -> image pixels.
    to_image = affine.compose(affine.invert(image_to_input), affine.scale_translate(DETECTOR_INPUT_SIZE, -0.5, -0.5))
    return [detection_in_frame(PersonDetection(score=score, face_box=box, keypoints=points), to_image)
            for box, points, score in merged]


def detection_in_frame(detection: PersonDetection, to_frame: np.ndarray) -> PersonDetection:
    """The detection with its face box and keypoints mapped by the axis-aligned `[2, 3]` affine `to_frame`."""
    face_box = affine.apply(to_frame, np.asarray(detection.face_box).reshape(2, 2)).reshape(4)
    keypoints = affine.apply(to_frame, detection.keypoints)
    return PersonDetection(score=detection.score, face_box=face_box, keypoints=keypoints)


def detection_to_region(detection: PersonDetection, scale: float = ROI_SCALE) -> RotatedRegion:
    """The rotated square body crop of a detection (MediaPipe's AlignmentPointsRects + RectTransformation)."""
    centre = detection.keypoints[ROI_CENTRE_KEYPOINT]
    towards = detection.keypoints[ROI_ROTATION_KEYPOINT]
    delta_x, delta_y = towards - centre
    radius = math.hypot(delta_x, delta_y)
    angle = ROI_TARGET_ANGLE - math.atan2(-delta_y, delta_x)
    rotation = angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))  # wrapped to [-pi, pi)
    return RotatedRegion(centre_x=float(centre[0]), centre_y=float(centre[1]), side=2.0 * radius * scale,
                         rotation=rotation)


def region_to_crop_affine(region: RotatedRegion, crop_size: int) -> np.ndarray:
    """`[2, 3]` crop pixel -> image pixel of a `crop_size` square crop of `region` (centre on centre)."""
    pixel = region.side / crop_size
    cos, sin = math.cos(region.rotation), math.sin(region.rotation)
    linear = pixel * np.array([[cos, -sin], [sin, cos]])
    middle = (crop_size - 1) / 2.0
    translation = np.array([region.centre_x, region.centre_y]) - linear @ np.array([middle, middle])
    return np.concatenate([linear, translation[:, None]], axis=1)
