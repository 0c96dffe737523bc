"""Photo -> heatmap evidence for the guided sampler: detect people, crop, run BlazePose, map to H36M-17.

Frames (pixel centres at integers, docs/architecture.md): the image (after EXIF rotation; every returned
coordinate is in its pixels, even when a small photo is upscaled for the models, `upscale_for_detection`); the
256 x 256 crop (`crop_to_image`, the rotated square region around the person); the 64 x 64 heatmap, whose cell k
covers crop pixels 4k .. 4k + 3 (`image_to_heatmap = crop_to_heatmap ∘ image_to_crop`).

Each joint's map is the softmax of the model's logits over its cells, floored at 1e-30 (a finite log everywhere);
`make_heatmap_evidence` divides it by its peak. Joints without a BlazePose counterpart get a uniform map and
weight 0 (`joint_map`); the other weights are the landmarks' visibility probabilities.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np

from posediff_jax import skeleton
from posediff_jax.detector import affine, blazepose, camera, image_io, joint_map, person_detection
from posediff_jax.detector.errors import CropTooSmallError, NoPersonFoundError

# A person region smaller than this (image pixels, side of the square body crop) is too small to read.
MINIMUM_REGION_SIDE = 64.0
# Photos with a shorter side below this are upscaled (Lanczos) for the models: through the detector's bilinear
# letterbox a small, JPEG-compressed photo loses the person.
DETECTION_MIN_SHORT_SIDE = blazepose.LANDMARK_INPUT_SIZE
# Assumed 3D distance pelvis -> thorax (mm), for the rough initial root depth only.
ASSUMED_TORSO_LENGTH_MM = 480.0
# Smallest heatmap value (float32 keeps ~1e-38; softmax tails reach ~1e-18, midpoint tails ~1e-36).
HEATMAP_FLOOR = 1e-30
HEATMAP_NORMALIZATION = "softmax over the 64x64 cells of each joint's logits"

EVIDENCE_FIELDS = ("heatmaps", "image_to_heatmap", "joint_weights", "intrinsics", "keypoints_2d", "root_translation",
                   "use_given_root")


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(values, np.float64)))


def initial_root_translation(keypoints_2d: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """A rough camera-frame pelvis `[3]` mm, depth from the pixel torso length (the sampler solves its own)."""
    torso_pixels = float(np.linalg.norm(keypoints_2d[8] - keypoints_2d[0]))
    focal = float(np.sqrt(intrinsics[0, 0] * intrinsics[1, 1]))
    depth = focal * ASSUMED_TORSO_LENGTH_MM / max(torso_pixels, 1.0)
    x = (keypoints_2d[0, 0] - intrinsics[0, 2]) / intrinsics[0, 0] * depth
    y = (keypoints_2d[0, 1] - intrinsics[1, 2]) / intrinsics[1, 1] * depth
    return np.array([x, y, depth], dtype=np.float32)


def upscale_for_detection(image: np.ndarray,
                          min_short_side: int = DETECTION_MIN_SHORT_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(working image `[H', W', 3]` uint8, image_to_working `[2, 3]`): `image` and the identity when its shorter
    side reaches `min_short_side`, else the Lanczos upscale to it and `x' = s x + (s - 1) / 2` per axis."""
    height, width = image.shape[:2]
    if min(height, width) >= min_short_side:
        return image, affine.scale_translate(1.0, 0.0, 0.0)
    from PIL import Image

    factor = min_short_side / min(height, width)
    new_width, new_height = max(round(width * factor), 1), max(round(height * factor), 1)
    working = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize((new_width, new_height), Image.LANCZOS))
    scale_x, scale_y = new_width / width, new_height / height
    image_to_working = np.array([[scale_x, 0.0, (scale_x - 1.0) / 2.0], [0.0, scale_y, (scale_y - 1.0) / 2.0]])
    return working, image_to_working


def person_evidence(image: np.ndarray, detection: person_detection.PersonDetection, intrinsics: np.ndarray,
                    source: np.ndarray | None = None, image_to_source: np.ndarray | None = None):
    """(`HeatmapEvidence`, info) of one detected person: the landmark model run on its crop of `source` (default:
    `image`; `image_to_source` maps into it), everything in `image` pixels (info: `image_to_evidence`)."""
    from posediff_jax.guidance.evidence import make_heatmap_evidence

    region = person_detection.detection_to_region(detection)
    crop_to_image = person_detection.region_to_crop_affine(region, blazepose.LANDMARK_INPUT_SIZE)
    if source is None:
        source, image_to_source = image, affine.scale_translate(1.0, 0.0, 0.0)
    crop = blazepose.crop_person(source, affine.compose(image_to_source, crop_to_image))
    outputs = blazepose.run_landmark_model(crop)
    body = joint_map.NUM_BLAZEPOSE_LANDMARKS
    landmarks_image = affine.apply(crop_to_image, outputs.landmarks[:, :2] - 0.5)  # pixel edges -> centres
    visibility, presence = sigmoid(outputs.landmarks[:, 3]), sigmoid(outputs.landmarks[:, 4])
    keypoints_2d = joint_map.map_keypoints(landmarks_image[:body])
    joint_weights = joint_map.map_confidences(visibility[:body])
    logits = np.asarray(outputs.heatmap_logits[:body], np.float64)
    softmax = np.exp(logits - logits.max(axis=(-2, -1), keepdims=True))  # over each joint's cells
    softmax = softmax / softmax.sum(axis=(-2, -1), keepdims=True)
    heatmaps = np.maximum(joint_map.map_heatmaps(softmax), HEATMAP_FLOOR)
    heatmaps = (heatmaps / heatmaps.sum(axis=(-2, -1), keepdims=True)).astype(np.float32)
    crop_to_heatmap = affine.rescale_pixel_grid(blazepose.LANDMARK_INPUT_SIZE / blazepose.HEATMAP_SIZE)
    image_to_heatmap = affine.compose(crop_to_heatmap, affine.invert(crop_to_image))
    evidence = make_heatmap_evidence(heatmaps=heatmaps, image_to_heatmap=image_to_heatmap.astype(np.float32),
                                     intrinsics=np.asarray(intrinsics, np.float32),
                                     joint_weights=joint_weights.astype(np.float32),
                                     keypoints_2d=keypoints_2d.astype(np.float32))
    # A rough initial root, with use_given_root False: the energies solve the root themselves.
    evidence = evidence.replace(root_translation=initial_root_translation(keypoints_2d, intrinsics))
    height, width = image.shape[:2]
    visible = landmarks_image[:body][visibility[:body] > 0.5]
    if len(visible) == 0:
        visible = landmarks_image[:body]
    person_box = np.clip(np.concatenate([visible.min(axis=0), visible.max(axis=0)]),
                         0.0, [width - 1, height - 1, width - 1, height - 1])
    info = {
        "person_box": person_box.astype(np.float32),
        "face_box": detection.face_box.astype(np.float32),
        "detection_score": float(detection.score),
        "region": {"centre_x": region.centre_x, "centre_y": region.centre_y, "side": region.side,
                   "rotation": region.rotation},
        "crop_to_image": crop_to_image.astype(np.float32),
        "landmarks": outputs.landmarks.astype(np.float32),
        "landmarks_image": landmarks_image.astype(np.float32),
        "landmark_visibility": visibility.astype(np.float32),
        "landmark_presence": presence.astype(np.float32),
        "joint_confidences": joint_weights.astype(np.float32),
        "joint_names": skeleton.JOINT_NAMES,
        "pose_presence": outputs.pose_presence,
        "heatmap_normalization": HEATMAP_NORMALIZATION,
        "heatmap_probabilities": heatmaps,
    }  # fmt: skip
    return evidence, info


def image_to_evidence(image_path: str | os.PathLike, all_people: bool = False, intrinsics=None,
                      field_of_view_degrees: float | None = None,
                      min_detection_score: float = person_detection.MIN_DETECTION_SCORE) -> list[tuple[Any, dict]]:
    """Photo -> [(evidence, info)] for its largest person (`all_people`: every one), largest first.

    `intrinsics [3, 3]`: the photo's real camera, else `camera.resolve_intrinsics`. `evidence`: `HeatmapEvidence`
    (heatmaps `[17, 64, 64]`, keypoints_2d `[17, 2]` image pixels, a rough root). `info`: person_box `[4]` (of the
    visible landmarks), face_box, detection_score, region, crop_to_image `[2, 3]`, landmarks `[39, 5]` (raw),
    landmarks_image `[39, 2]`, landmark_visibility / landmark_presence `[39]`, joint_confidences `[17]`,
    pose_presence, heatmap_probabilities `[17, 64, 64]` (each sums to 1), intrinsics_source, image_size (W, H),
    image_path, person_index. Raises the detector's `PoseDiffError`s (`errors.py`).
    """
    image = image_io.read_image(image_path)
    height, width = image.shape[:2]
    focal_35mm = image_io.exif_focal_length_35mm(image_path) if intrinsics is None else None
    intrinsics_matrix, intrinsics_source = camera.resolve_intrinsics(width, height, intrinsics, field_of_view_degrees,
                                                                     focal_35mm)
    working, image_to_working = upscale_for_detection(image)
    working_to_image = affine.invert(image_to_working)
    detections = [person_detection.detection_in_frame(detection, working_to_image)
                  for detection in blazepose.detect_people(working, min_score=min_detection_score)]
    if not detections:
        raise NoPersonFoundError(f"image {os.fspath(image_path)!r}: no person found (detector score threshold "
                                 f"{min_detection_score}; {width} x {height} pixels)")
    sides = [person_detection.detection_to_region(detection).side for detection in detections]
    order = np.argsort(-np.asarray(sides), kind="stable")
    large_enough = [int(index) for index in order if sides[index] >= MINIMUM_REGION_SIDE]
    if not large_enough:
        raise CropTooSmallError(
            f"image {os.fspath(image_path)!r}: the largest person is {max(sides):.0f} pixels tall (body region); "
            f"needs >= {MINIMUM_REGION_SIDE:.0f}. Use a larger image or crop closer to the person.")
    results = []
    for person_index, detection_index in enumerate(large_enough if all_people else large_enough[:1]):
        evidence, info = person_evidence(image, detections[detection_index], intrinsics_matrix, source=working,
                                         image_to_source=image_to_working)
        info.update(intrinsics_source=intrinsics_source, image_size=(width, height),
                    image_path=os.fspath(image_path), person_index=person_index)
        results.append((evidence, info))
    return results


def default_image_path() -> str:
    """The shipped example photo (Apollo 11 crew, NASA, public domain)."""
    return str(pathlib.Path(__file__).resolve().parents[1] / "assets" / "images" / "apollo11_crew.jpg")


def heatmap_peaks_in_image(heatmaps: np.ndarray, image_to_heatmap: np.ndarray, window: int = 3) -> np.ndarray:
    """`[J, 2]` image pixels of each map's sub-cell peak: the weighted mean over the (2 window + 1)^2 cells
    around its argmax."""
    heatmaps = np.asarray(heatmaps, np.float64)
    peaks = np.zeros((heatmaps.shape[0], 2))
    for joint, heatmap in enumerate(heatmaps):
        row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        rows = slice(max(row - window, 0), min(row + window + 1, heatmap.shape[0]))
        cols = slice(max(col - window, 0), min(col + window + 1, heatmap.shape[1]))
        patch = heatmap[rows, cols]
        grid_rows, grid_cols = np.mgrid[rows, cols]
        peaks[joint] = [np.sum(patch * grid_cols) / np.sum(patch), np.sum(patch * grid_rows) / np.sum(patch)]
    return affine.apply(affine.invert(image_to_heatmap), peaks)
