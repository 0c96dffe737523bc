"""Human3.6M as a tensorflow-datasets builder that needs no TensorFlow (ArrayRecord + `as_data_source()`).

Files the user places in `manual_dir`: VideoPose3D's `data_3d_h36m.npz` (required) and, per detector named in
the config, `data_2d_h36m_<detector>.npz` or per-subject `data_2d_h36m_<detector>_<subject>.npz` (optional),
e.g. `cpn_ft_h36m_dbb`, `gt`, `sh_pt_mpii`. Layouts, how the files are made, and how real files' defects
(S11 'Directions' camera 54138969 is `None` in every public copy) are read: `videopose3d.py`. Frames are
converted with `videopose3d.camera_frames` (the project's one Human3.6M conversion; cameras built in,
`cameras.py`).

Every example is one frame seen by one camera:
`pose_3d [17, 3]` camera frame, mm, root-relative; `root_position [3]` mm; `keypoints_2d_gt [17, 2]`
(projection with lens distortion, as `geometry.project_to_pixels`); for each detector `d` of the config
`keypoints_2d_<d> [17, 2]` + `mask_<d> [17]` (False where the detector lacks the joint, the value is not finite
or the sequence-camera has no / too few detected frames, e.g. a `None` entry); `keypoints_2d_detected` +
`detection_mask` repeat the config's first detector (the field names single-detector readers use);
`intrinsics [3, 3]`; `distortion [5]`;
`subject`, `action`, `camera` (text); `frame` (index in the sequence of the 3D file).
Example order is fixed (subject, action, camera, frame): `disable_shuffling`, so index i means the same frame
in every preparation; the training pipeline shuffles with its own seed.

Splits: 'train' = S1, S5, S6, S7, S8; 'test' = S9, S11 (subjects missing from the files are skipped).
Configs (frame strides; the 3D file's frames, i.e. 25 Hz for VideoPose3D's training subjects):
- 'stride1': every frame of both splits.
- 'protocol': train every frame, test every 64th frame (the peers' evaluation stride).
- 'small': train every 50th, test every 64th frame (quick: for CI and smoke tests).

Speed (2-core machine, measured on the real files): writing runs at several thousand examples per second;
`protocol` is ~740k train examples. The prior needs only the poses: `data.pipeline.load_training_poses`
reads the same poses in bulk (seconds) from `manual_dir` with the same conversion.

Preparation is atomic (tfds writes an `incomplete.*` folder and renames it when done; a crash leaves only that
folder, which tfds never reads and removes), and prepared data is reused by later calls.

    builder = H36M(config="small", data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir="path/to/files"))
    test = builder.as_data_source(split="test")   # random access; test[0]["pose_3d"]
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

import numpy as np
import tensorflow_datasets as tfds

from posediff_jax.data.cameras import CAMERA_IDS
from posediff_jax.data.tfds_support import frame_dataset_info, prepare_builder
from posediff_jax.data.videopose3d import (SPLIT_SUBJECTS, TEST_SUBJECTS, TRAIN_SUBJECTS,  # noqa: F401 (re-exported)
                                           DatasetFileError, camera_frames, detections_for_frames, read_detections,
                                           read_positions_3d)

DETECTOR_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclasses.dataclass
class H36MConfig(tfds.core.BuilderConfig):
    """Frame strides per split and the 2D detectors whose files are read (names as in `data_2d_h36m_<name>`)."""

    train_stride: int = 1
    test_stride: int = 64
    detectors: tuple = ("sh_pt_mpii", "cpn_ft_h36m_dbb")

    def __post_init__(self):
        for name in self.detectors:
            if not DETECTOR_NAME.match(name):
                raise DatasetFileError(f"detector name {name!r}: expected lower-case letters, digits and '_'")
        if self.train_stride < 1 or self.test_stride < 1:
            raise DatasetFileError(f"strides must be >= 1, got {self.train_stride}, {self.test_stride}")


class H36M(tfds.core.GeneratorBasedBuilder):
    """Human3.6M frames in the camera frame (see the module docstring for files, fields, splits, configs)."""

    # Not bumped for the single conversion (videopose3d.camera_frames, float64 cameras) nor for masking None /
    # empty / NaN detection entries: files that prepared under 1.2.0 give the same examples up to float32
    # rounding (<= 5e-4 mm, 6e-5 px), and files with such entries failed to prepare before, so nothing stale exists.
    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {"1.0.0": "First release.", "1.1.0": "Several detectors per config.",
                     "1.2.0": "Examples kept in generation order (subject, action, camera, frame)."}
    BUILDER_CONFIGS = [
        H36MConfig(name="stride1", description="every frame of train and test", train_stride=1, test_stride=1),
        H36MConfig(name="protocol", description="train every frame, test every 64th frame", train_stride=1,
                   test_stride=64),
        H36MConfig(name="small", description="train every 50th frame, test every 64th frame", train_stride=50,
                   test_stride=64),
    ]
    DEFAULT_CONFIG_NAME = "protocol"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Place VideoPose3D's data_3d_h36m.npz (required) and, optionally, its 2D detection files
    data_2d_h36m_<detector>.npz (or per subject data_2d_h36m_<detector>_S9.npz ...) in the manual_dir.
    VideoPose3D's DATASETS.md (github.com/facebookresearch/VideoPose3D) shows how they are made from the
    Human3.6M release (http://vision.imar.ro/human3.6m; academic, non-commercial licence) and where the
    detection files (cpn_ft_h36m_dbb, detectron_ft_h36m, sh_pt_mpii, ...) are downloaded.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        tensor = tfds.features.Tensor
        detectors = {}
        for detector in self.builder_config.detectors:
            detectors[f"keypoints_2d_{detector}"] = tensor(shape=(17, 2), dtype=np.float32)
            detectors[f"mask_{detector}"] = tensor(shape=(17,), dtype=np.bool_)
        return frame_dataset_info(self, __doc__, "http://vision.imar.ro/human3.6m",
                                  keypoints_2d_detected=tensor(shape=(17, 2), dtype=np.float32),
                                  detection_mask=tensor(shape=(17,), dtype=np.bool_), **detectors)

    def _split_generators(self, dl_manager):
        manual_dir = pathlib.Path(dl_manager.manual_dir)
        positions = read_positions_3d(manual_dir)  # validates before anything is written
        detections = {name: read_detections(manual_dir, name) for name in self.builder_config.detectors}
        return {
            "train": self._generate_examples(positions, detections, TRAIN_SUBJECTS, self.builder_config.train_stride),
            "test": self._generate_examples(positions, detections, TEST_SUBJECTS, self.builder_config.test_stride),
        }

    def _generate_examples(self, positions, detections, subjects, stride):
        for subject in subjects:
            for action in sorted(positions.get(subject, {})):
                per_detector = {name: found.get(subject, {}).get(action) for name, found in detections.items()}
                yield from sequence_examples(positions[subject][action], per_detector, subject, action, stride)


def sequence_examples(world_metres, per_detector: dict, subject: str, action: str, stride: int):
    """(key, example) pairs of one sequence for the 4 cameras (see the module docstring).

    `per_detector`: `{detector: None or [4 cameras of videopose3d.CameraDetections]}`, in config order. A camera
    without usable detections (None / empty in the file, shorter than the 3D sequence) gets all-False masks.
    """
    frames = np.arange(0, len(world_metres), stride)
    for camera_index, camera_id in enumerate(CAMERA_IDS):
        converted = camera_frames(np.asarray(world_metres)[frames], subject, camera_id)
        detected = {}
        for name, per_camera in per_detector.items():
            camera = per_camera[camera_index] if per_camera is not None else None
            detected[name] = detections_for_frames(camera, frames, len(world_metres))[:2]
        for row, frame in enumerate(frames):
            example = {
                "pose_3d": converted["pose_3d"][row],
                "root_position": converted["root_position"][row],
                "keypoints_2d_gt": converted["keypoints_2d_gt"][row],
                "intrinsics": converted["intrinsics"],
                "distortion": converted["distortion"],
                "subject": subject,
                "action": action,
                "camera": camera_id,
                "frame": int(frame),
            }
            for name, (keypoints, mask) in detected.items():
                example[f"keypoints_2d_{name}"] = keypoints[row]
                example[f"mask_{name}"] = mask[row]
            if detected:
                first_keypoints, first_mask = next(iter(detected.values()))
                example["keypoints_2d_detected"], example["detection_mask"] = first_keypoints[row], first_mask[row]
            else:
                example["keypoints_2d_detected"] = np.zeros((17, 2), np.float32)
                example["detection_mask"] = np.zeros(17, bool)
            yield f"{subject}/{action}/{camera_id}/{int(frame):06d}", example


def prepare(manual_dir, data_dir=None, config="protocol") -> H36M:
    """Prepares (once; later calls reuse it) and returns the builder; bad input files raise `DatasetFileError`."""
    read_positions_3d(manual_dir)  # a clear error naming the file before tfds creates anything
    return prepare_builder(H36M, manual_dir, data_dir, config)

