"""Human3.6M as a tensorflow-datasets builder that needs no TensorFlow (ArrayRecord + `as_data_source()`).

`manual_dir`: VideoPose3D's `data_3d_h36m.npz` and optional `data_2d_h36m_<detector>[_<subject>].npz`
(layouts and defects: `videopose3d.py`). One example per frame and camera: the common frame fields
(`tfds_support.frame_dataset_info`), `keypoints_2d_<d>` + `mask_<d>` per detector `d` of the config, and
`keypoints_2d_detected` + `detection_mask` repeating the first one. Order (subject, action, camera, frame) is
fixed. Splits: 'train' S1, S5-S8; 'test' S9, S11. Configs: 'stride1' (every frame), 'protocol' (test every
64th), 'small' (train every 50th, test every 64th).
"""

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
    """Human3.6M frames in the camera frame."""

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
    """(key, example) pairs of one sequence for the 4 cameras; `per_detector`: `{detector: None or [4 cameras]}`."""
    frames = np.arange(0, len(world_metres), stride)
    for camera_index, camera_id in enumerate(CAMERA_IDS):
        converted = camera_frames(np.asarray(world_metres)[frames], subject, camera_id)
        detected = {}
        for name, per_camera in per_detector.items():
            camera = per_camera[camera_index] if per_camera is not None else None
            detected[name] = detections_for_frames(camera, frames, len(world_metres))[:2]
        none = (np.zeros((len(frames), 17, 2), np.float32), np.zeros((len(frames), 17), bool))
        first_keypoints, first_mask = next(iter(detected.values()), none)  # `keypoints_2d_detected` repeats it
        for row, frame in enumerate(frames):
            example = {name: converted[name][row] for name in ("pose_3d", "root_position", "keypoints_2d_gt")}
            example.update(intrinsics=converted["intrinsics"], distortion=converted["distortion"], subject=subject,
                           action=action, camera=camera_id, frame=int(frame))
            for name, (keypoints, mask) in detected.items():
                example[f"keypoints_2d_{name}"] = keypoints[row]
                example[f"mask_{name}"] = mask[row]
            example["keypoints_2d_detected"], example["detection_mask"] = first_keypoints[row], first_mask[row]
            yield f"{subject}/{action}/{camera_id}/{int(frame):06d}", example


def prepare(manual_dir, data_dir=None, config="protocol") -> H36M:
    """Prepares (once) and returns the builder; bad input files raise `DatasetFileError`."""
    read_positions_3d(manual_dir)  # a clear error naming the file before tfds creates anything
    return prepare_builder(H36M, manual_dir, data_dir, config)
