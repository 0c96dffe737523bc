"""Running BlazePose's two TFLite models (person detector, landmark model) with the optional `ai-edge-litert`.

Models ship in `posediff_jax/assets/blazepose/` (Apache-2.0, from the mediapipe 0.10.14 wheel). The landmark model
takes a `[1, 256, 256, 3]` RGB crop in [0, 1] and gives 39 landmarks x (x, y, z, visibility logit, presence logit)
(x, y in crop pixels, pixel-edge convention; 0-32 the body's, `joint_map.BLAZEPOSE_NAMES`), a presence probability
and `[1, 64, 64, 39]` heatmap logits (a cell = 4 x 4 crop pixels).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib

import numpy as np

from posediff_jax.detector import affine, person_detection
from posediff_jax.detector.errors import DetectorNotInstalledError

LANDMARK_INPUT_SIZE = 256
HEATMAP_SIZE = 64
NUM_LANDMARKS = 39
DETECTOR_MODEL = "pose_detection.tflite"
LANDMARK_MODEL = "pose_landmark_full.tflite"
INSTALL_HINT = "the image detector needs the TFLite runtime: pip install 'posediff_jax[detector]' (ai-edge-litert)"


@dataclasses.dataclass(frozen=True)
class LandmarkOutputs:
    """One crop's landmarks `[39, 5]` (as the model emits them), heatmap_logits `[39, 64, 64]`, pose_presence."""

    landmarks: np.ndarray
    heatmap_logits: np.ndarray
    pose_presence: float


def asset_directory() -> pathlib.Path:
    """Folder of the shipped BlazePose models (overridable with POSEDIFF_BLAZEPOSE_DIR)."""
    override = os.environ.get("POSEDIFF_BLAZEPOSE_DIR")
    if override:
        return pathlib.Path(override)
    return pathlib.Path(__file__).resolve().parents[1] / "assets" / "blazepose"


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise DetectorNotInstalledError(f"{INSTALL_HINT} ({error})") from None
    return Interpreter


@functools.lru_cache(maxsize=4)
def load_interpreter(model_path: str, num_threads: int | None = None):
    """A ready (tensors allocated) TFLite interpreter for `model_path`; cached per path."""
    interpreter_class = _interpreter_class()
    if not os.path.isfile(model_path):
        raise DetectorNotInstalledError(f"detector model {model_path!r} not found (broken install? reinstall)")
    interpreter = interpreter_class(model_path=model_path, num_threads=num_threads or os.cpu_count() or 1)
    interpreter.allocate_tensors()
    return interpreter


def _run(interpreter, input_tensor: np.ndarray) -> dict[str, np.ndarray]:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], input_tensor.astype(np.float32))
    interpreter.invoke()
    details = interpreter.get_output_details()
    return {detail["name"]: interpreter.get_tensor(detail["index"]).copy() for detail in details}


def detect_people(image: np.ndarray,
                  min_score: float = person_detection.MIN_DETECTION_SCORE) -> list[person_detection.PersonDetection]:
    """Runs the person detector on an RGB image `[H, W, 3]` uint8; detections best score first."""
    height, width = image.shape[:2]
    image_to_input = person_detection.letterbox_affine(height, width)
    size = person_detection.DETECTOR_INPUT_SIZE
    letterboxed = affine.warp_image(image, affine.invert(image_to_input), size, size)
    input_tensor = (letterboxed / 127.5 - 1.0)[None]
    outputs = _run(load_interpreter(str(asset_directory() / DETECTOR_MODEL)), input_tensor)
    boxes_and_scores = sorted(outputs.items(), key=lambda item: item[1].shape[-1], reverse=True)
    raw_boxes, raw_scores = boxes_and_scores[0][1][0], boxes_and_scores[1][1][0]
    boxes, keypoints, scores = person_detection.decode_detections(raw_boxes, raw_scores,
                                                                  person_detection.make_anchors(), min_score)
    merged = person_detection.weighted_non_max_suppression(boxes, keypoints, scores)
    return person_detection.detections_to_image(merged, image_to_input)


def crop_person(image: np.ndarray, crop_to_image: np.ndarray) -> np.ndarray:
    """The landmark model's input: `[256, 256, 3]` float32 RGB in [0, 1] sampled through `crop_to_image`."""
    crop = affine.warp_image(image, crop_to_image, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE)
    return crop / 255.0


def run_landmark_model(crop: np.ndarray) -> LandmarkOutputs:
    """Runs the landmark model on a `[256, 256, 3]` crop in [0, 1]."""
    outputs = _run(load_interpreter(str(asset_directory() / LANDMARK_MODEL)), np.asarray(crop)[None])
    by_shape = {tuple(value.shape): value for value in outputs.values()}
    landmarks = by_shape[(1, NUM_LANDMARKS * 5)].reshape(NUM_LANDMARKS, 5)
    heatmaps = by_shape[(1, HEATMAP_SIZE, HEATMAP_SIZE, NUM_LANDMARKS)][0].transpose(2, 0, 1)
    presence = float(by_shape[(1, 1)].reshape(()))
    return LandmarkOutputs(landmarks=landmarks, heatmap_logits=heatmaps, pose_presence=presence)
