"""Photo -> heatmap evidence for the guided sampler: detect people, crop, run BlazePose, map to H36M-17.

Frames (all pixel centres at integer coordinates, docs/architecture.md):
- image: the photo after EXIF rotation, `[H, W]`. Every returned coordinate is in this frame. A photo whose
  shorter side is below 256 px is upscaled (Lanczos, `upscale_for_detection`) for the person detector and the
  landmark crops only; detections are mapped back, so keypoints stay in the original photo's pixels.
- crop: the 256 x 256 landmark-model input; `crop_to_image` `[2, 3]` is the rotated, scaled square region
  around the person (`person_detection.region_to_crop_affine`).
- heatmap: the 64 x 64 grid; cell k covers crop pixels 4k .. 4k + 3, its centre is crop pixel 4k + 1.5
  (`affine.rescale_pixel_grid(4)`). `image_to_heatmap = crop_to_heatmap ∘ image_to_crop`.

Heatmap normalisation: the model emits per-cell logits; each joint's map is the softmax over its 64 x 64
cells (`softmax(logits)[r, c] = exp(logits[r, c]) / sum exp(logits)`), i.e. the logits read as an unnormalised
log-density. Values are floored at 1e-30 (then renormalised) so every cell is strictly positive and the log is
finite everywhere. `make_heatmap_evidence` then divides each map by its peak, so the evidence holds
`exp(logits - max logits)`. Joints with no BlazePose counterpart get a uniform map and weight 0 (`joint_map`).
Joint weights are the landmark visibility probabilities (sigmoid of the visibility logit).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from posediff_jax import skeleton
from posediff_jax.detector import affine, blazepose, camera, image_io, joint_map, person_detection
from posediff_jax.detector.errors import CropTooSmallError, NoPersonFoundError

# A person region smaller than this (image pixels, side of the square body crop) is too small to read.
MINIMUM_REGION_SIDE = 64.0
# Images whose shorter side is below this (pixels) are upscaled (Lanczos) before the person detector and the
# landmark model see them. A small, JPEG-compressed photo read through the detector's bilinear letterbox loses
# the person (the shipped photo at 200 x 157, bicubic, JPEG quality 75: no detection; upscaled: score 0.56).
# Everything returned stays in the original image's pixels.
DETECTION_MIN_SHORT_SIDE = blazepose.LANDMARK_INPUT_SIZE
# Assumed 3D distance pelvis -> thorax (mm), for the rough initial root depth only.
ASSUMED_TORSO_LENGTH_MM = 480.0
# Smallest heatmap value (float32 keeps ~1e-38; softmax tails reach ~1e-18, midpoint tails ~1e-36).
HEATMAP_FLOOR = 1e-30
HEATMAP_NORMALIZATION = "softmax over the 64x64 cells of each joint's logits"

EVIDENCE_FIELDS = (
    "heatmaps", "image_to_heatmap", "joint_weights", "intrinsics", "keypoints_2d", "root_translation",
    "use_given_root",
)  # fmt: skip


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(values, np.float64)))


def softmax_heatmaps(logits: np.ndarray) -> np.ndarray:
    """`[J, H, W]` logits -> `[J, H, W]` probabilities, each joint's map summing to 1."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=(-2, -1), keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=(-2, -1), keepdims=True)


def crop_to_heatmap_affine() -> np.ndarray:
    """`[2, 3]` crop pixel (256 grid) -> heatmap cell (64 grid)."""
    return affine.rescale_pixel_grid(blazepose.LANDMARK_INPUT_SIZE / blazepose.HEATMAP_SIZE)


def landmarks_to_image(landmarks: np.ndarray, crop_to_image: np.ndarray) -> np.ndarray:
    """Landmark (x, y) `[N, >=2]` in crop pixel-edge units -> image pixels `[N, 2]`."""
    return affine.apply(crop_to_image, np.asarray(landmarks)[:, :2] - 0.5)


def initial_root_translation(keypoints_2d: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """A rough camera-frame pelvis position `[3]` (mm): depth from the pixel torso length.

    Only a starting value (`use_given_root` is False: the sampler solves the root per hypothesis).
    """
    torso_pixels = float(np.linalg.norm(keypoints_2d[8] - keypoints_2d[0]))
    focal = float(np.sqrt(intrinsics[0, 0] * intrinsics[1, 1]))
    depth = focal * ASSUMED_TORSO_LENGTH_MM / max(torso_pixels, 1.0)
    x = (keypoints_2d[0, 0] - intrinsics[0, 2]) / intrinsics[0, 0] * depth
    y = (keypoints_2d[0, 1] - intrinsics[1, 2]) / intrinsics[1, 1] * depth
    return np.array([x, y, depth], dtype=np.float32)


def upscale_for_detection(
    image: np.ndarray, min_short_side: int = DETECTION_MIN_SHORT_SIDE
) -> tuple[np.ndarray, np.ndarray]:
    """An image the detector can read, and the map to it from the original's pixels.

    Args:
      image: `[H, W, 3]` uint8 RGB.
      min_short_side: images whose shorter side is smaller are upscaled (Lanczos) to this shorter side.
    Returns:
      (working `[H', W', 3]` uint8, image_to_working `[2, 3]`): the image itself and the identity when it is
      large enough; else the upscaled image and x' = s_x x + (s_x - 1) / 2 (pixel centres at integers, the
      outer pixel edges coincide; s_x = W' / W, likewise for y).
    """
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


def detection_in_frame(detection: person_detection.PersonDetection, to_frame: np.ndarray):
    """The detection with its face box and keypoints mapped by the axis-aligned `[2, 3]` affine `to_frame`."""
    face_box = affine.apply(to_frame, np.asarray(detection.face_box).reshape(2, 2)).reshape(4)
    keypoints = affine.apply(to_frame, detection.keypoints)
    return person_detection.PersonDetection(score=detection.score, face_box=face_box, keypoints=keypoints)


def person_to_evidence_fields(
    image: np.ndarray,
    detection: person_detection.PersonDetection,
    intrinsics: np.ndarray,
    source: np.ndarray | None = None,
    image_to_source: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Runs the landmark model on one detected person.

    Args:
      image: `[H, W, 3]` the photo; `detection` and everything returned are in its pixels.
      detection: the person, in `image` pixels.
      intrinsics: `[3, 3]` of `image`.
      source, image_to_source: optional image the crop is sampled from (e.g. the upscaled photo of
        `upscale_for_detection`) and the `[2, 3]` map into it; default: `image` itself.
    Returns:
      (fields, info): `fields` has exactly `EVIDENCE_FIELDS` (numpy, float32); `info` is described in
      `image_to_evidence`.
    """
    region = person_detection.detection_to_region(detection)
    crop_to_image = person_detection.region_to_crop_affine(region, blazepose.LANDMARK_INPUT_SIZE)
    if source is None:
        source, image_to_source = image, affine.scale_translate(1.0, 0.0, 0.0)
    crop = blazepose.crop_person(source, affine.compose(image_to_source, crop_to_image))
    outputs = blazepose.run_landmark_model(crop)

    body = outputs.landmarks[: joint_map.NUM_BLAZEPOSE_LANDMARKS]
    landmarks_image = landmarks_to_image(outputs.landmarks, crop_to_image)
    visibility = sigmoid(outputs.landmarks[:, 3])
    presence = sigmoid(outputs.landmarks[:, 4])
    probabilities = softmax_heatmaps(outputs.heatmap_logits[: joint_map.NUM_BLAZEPOSE_LANDMARKS])

    keypoints_2d = joint_map.map_keypoints(landmarks_image[: joint_map.NUM_BLAZEPOSE_LANDMARKS])
    joint_weights = joint_map.map_confidences(visibility[: joint_map.NUM_BLAZEPOSE_LANDMARKS])
    heatmaps = joint_map.map_heatmaps(probabilities)
    heatmaps = np.maximum(heatmaps, HEATMAP_FLOOR)  # float32-safe: log stays finite everywhere
    heatmaps = heatmaps / heatmaps.sum(axis=(-2, -1), keepdims=True)
    image_to_heatmap = affine.compose(crop_to_heatmap_affine(), affine.invert(crop_to_image))

    fields = {
        "heatmaps": heatmaps.astype(np.float32),
        "image_to_heatmap": image_to_heatmap.astype(np.float32),
        "joint_weights": joint_weights.astype(np.float32),
        "intrinsics": np.asarray(intrinsics, np.float32),
        "keypoints_2d": keypoints_2d.astype(np.float32),
        "root_translation": initial_root_translation(keypoints_2d, intrinsics),
        "use_given_root": False,
    }
    height, width = image.shape[:2]
    visible = landmarks_image[: joint_map.NUM_BLAZEPOSE_LANDMARKS][visibility[: body.shape[0]] > 0.5]
    if len(visible) == 0:
        visible = landmarks_image[: joint_map.NUM_BLAZEPOSE_LANDMARKS]
    person_box = np.concatenate([visible.min(axis=0), visible.max(axis=0)])
    person_box = np.clip(person_box, 0.0, [width - 1, height - 1, width - 1, height - 1])
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
        "heatmap_probabilities": fields["heatmaps"],
    }  # fmt: skip
    return fields, info


def to_heatmap_evidence(fields: dict[str, Any]):
    """`posediff_jax.guidance.evidence.HeatmapEvidence` from the fields (validated, peak-normalised).

    `make_heatmap_evidence` divides each joint's probability map by its maximum (so the evidence holds
    `exp(logits - max logits)`: 1 at the peak, the same log-scale per joint for the energy); the softmax
    probabilities stay in `info['heatmap_probabilities']`. `root_translation` keeps the rough initial value
    with `use_given_root` False (the energies then solve the root themselves). Without the guidance package
    (never in a full install) the plain dict of fields is returned.
    """
    try:
        from posediff_jax.guidance.evidence import make_heatmap_evidence
    except ImportError:
        return dict(fields)
    evidence = make_heatmap_evidence(
        heatmaps=fields["heatmaps"],
        image_to_heatmap=fields["image_to_heatmap"],
        intrinsics=fields["intrinsics"],
        joint_weights=fields["joint_weights"],
        keypoints_2d=fields["keypoints_2d"],
    )
    return evidence.replace(root_translation=np.asarray(fields["root_translation"], np.float32))


def image_to_evidence(
    image_path: str | os.PathLike,
    all_people: bool = False,
    intrinsics=None,
    field_of_view_degrees: float | None = None,
    min_detection_score: float = person_detection.MIN_DETECTION_SCORE,
) -> list[tuple[Any, dict[str, Any]]]:
    """Photo -> heatmap evidence for each person, largest first.

    Args:
      image_path: a photo (any format Pillow reads; EXIF orientation is applied).
      all_people: False: only the largest person; True: every detection.
      intrinsics: `[3, 3]` real camera matrix of the photo (after EXIF rotation), or None to build one from
        `field_of_view_degrees` over the longer side, else the photo's Exif 35 mm equivalent focal length, else
        the default field of view (`camera.resolve_intrinsics`).
      field_of_view_degrees: the field of view when `intrinsics` is None (None: Exif, else the default 50).
      min_detection_score: person detector threshold.
    Returns:
      list of (evidence, info). `evidence` is a `HeatmapEvidence`: heatmaps `[17, 64, 64]` (H36M-17 order,
      each joint's softmax divided by its maximum, see `to_heatmap_evidence`), image_to_heatmap `[2, 3]`,
      joint_weights `[17]`, intrinsics `[3, 3]`, keypoints_2d `[17, 2]` image pixels, root_translation `[3]`
      (rough, mm), use_given_root False.
      `info` holds: person_box `[4]` (x_min, y_min, x_max, y_max of the visible landmarks), face_box `[4]`,
      detection_score, region (centre, side, rotation of the crop), crop_to_image `[2, 3]`, landmarks
      `[39, 5]` (raw model output: x, y in crop pixels, z, visibility logit, presence logit), landmarks_image
      `[39, 2]`, landmark_visibility / landmark_presence `[39]` probabilities, joint_confidences `[17]`,
      pose_presence, heatmap_probabilities `[17, 64, 64]` (softmax, each map sums to 1), intrinsics_source
      (`camera.resolve_intrinsics`: 'given', 'assumed field of view 50 degrees' or 'Exif 35 mm equivalent ...'),
      image_size (W, H), image_path, person_index.
    Raises:
      ImageReadError, NoPersonFoundError, CropTooSmallError, DetectorNotInstalledError (all PoseDiffError).
    """
    image = image_io.read_image(image_path)
    height, width = image.shape[:2]
    focal_35mm = image_io.exif_focal_length_35mm(image_path) if intrinsics is None else None
    intrinsics_matrix, intrinsics_source = camera.resolve_intrinsics(
        width, height, intrinsics, field_of_view_degrees, focal_35mm
    )
    working, image_to_working = upscale_for_detection(image)
    working_to_image = affine.invert(image_to_working)
    detections = [detection_in_frame(detection, working_to_image)
                  for detection in blazepose.detect_people(working, min_score=min_detection_score)]
    if not detections:
        raise NoPersonFoundError(
            f"image {os.fspath(image_path)!r}: no person found (detector score threshold {min_detection_score}; "
            f"{width} x {height} pixels)"
        )
    sides = [person_detection.detection_to_region(detection).side for detection in detections]
    order = np.argsort(-np.asarray(sides), kind="stable")
    large_enough = [int(index) for index in order if sides[index] >= MINIMUM_REGION_SIDE]
    if not large_enough:
        raise CropTooSmallError(
            f"image {os.fspath(image_path)!r}: the largest person is {max(sides):.0f} pixels tall (body region); "
            f"needs >= {MINIMUM_REGION_SIDE:.0f}. Use a larger image or crop closer to the person."
        )
    if not all_people:
        large_enough = large_enough[:1]
    results = []
    for person_index, detection_index in enumerate(large_enough):
        fields, info = person_to_evidence_fields(image, detections[detection_index], intrinsics_matrix,
                                                 source=working, image_to_source=image_to_working)
        info.update(
            intrinsics_source=intrinsics_source,
            image_size=(width, height),
            image_path=os.fspath(image_path),
            person_index=person_index,
        )
        results.append((to_heatmap_evidence(fields), info))
    return results


def default_image_path() -> str:
    """The shipped example photo (Apollo 11 crew, NASA, public domain)."""
    import pathlib

    return str(pathlib.Path(__file__).resolve().parents[1] / "assets" / "images" / "apollo11_crew.jpg")


def heatmap_peaks_in_image(heatmaps: np.ndarray, image_to_heatmap: np.ndarray, window: int = 3) -> np.ndarray:
    """Sub-cell peak of each heatmap mapped back to image pixels `[J, 2]`.

    The peak is the probability-weighted mean over a (2 window + 1)^2 neighbourhood of the arg-max cell.
    """
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


