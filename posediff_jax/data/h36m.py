"""Human3.6M as a tensorflow-datasets builder that needs no TensorFlow (ArrayRecord + `as_data_source()`).

Files the user places in `manual_dir` (VideoPose3D's layout; see VideoPose3D's DATASETS.md for how they are
made from the official Human3.6M release):
- `data_3d_h36m.npz` (required): `positions_3d[subject][action]` = `[frames, 32, 3]` world positions in metres.
- `data_2d_h36m_<detector>.npz` or per-subject `data_2d_h36m_<detector>_<subject>.npz` (optional):
  `positions_2d[subject][action]` = list over the 4 cameras (order of `cameras.CAMERA_IDS`) of `[frames, J, 2]`
  pixels, with `metadata['joint_names']` or J telling the layout (MPII-16, COCO-17 or H36M-17).
Cameras (intrinsics, distortion, per-subject extrinsics) are built in (`cameras.py`).

Every example is one frame seen by one camera:
`pose_3d [17, 3]` camera frame, mm, root-relative; `root_position [3]` mm; `keypoints_2d_gt [17, 2]` (projection
with lens distortion); `keypoints_2d_detected [17, 2]` + `detection_mask [17]` (the config's detector mapped to
H36M-17; mask False where the detector lacks the joint or has no detections for the sequence);
`intrinsics [3, 3]`; `distortion [5]`; `subject`, `action`, `camera` (text); `frame` (index in the sequence).

Splits: 'train' = S1, S5, S6, S7, S8; 'test' = S9, S11 (subjects missing from the files are skipped).
Configs: 'protocol' (train every frame, test every 64th frame, the peers' evaluation stride), 'small'
(train every 50th, test every 64th: quick to prepare, for CI and smoke tests). Preparation is atomic (tfds writes
an `incomplete.*` folder and renames it when done), and a prepared dataset is reused.

    builder = H36M(config="small", data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir="path/to/files"))
    test = builder.as_data_source(split="test")   # random access; test[0]["pose_3d"]
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from posediff_jax import geometry, skeleton
from posediff_jax.data.cameras import CAMERA_IDS, camera_parameters
from posediff_jax.data.videopose3d import DatasetFileError, read_positions_3d

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")


@dataclasses.dataclass
class H36MConfig(tfds.core.BuilderConfig):
    train_stride: int = 1
    test_stride: int = 64
    detector: str = "sh_pt_mpii"  # data_2d_h36m_<detector>*.npz; '' for none


def read_detections(manual_dir, detector: str) -> dict:
    """`{subject: {action: [4 cameras of [frames, 17, 2]], ...}}` mapped to H36M-17, plus masks; {} if absent."""
    if not detector:
        return {}
    folder = pathlib.Path(manual_dir)
    files = sorted(folder.glob(f"data_2d_h36m_{detector}.npz")) + sorted(folder.glob(f"data_2d_h36m_{detector}_S*.npz"))
    detections = {}
    for path in files:
        try:
            with np.load(path, allow_pickle=True) as archive:  # VideoPose3D's layout pickles dicts; user's files only
                positions = archive["positions_2d"].item()
                metadata = archive["metadata"].item() if "metadata" in archive.files else {}
        except Exception as error:
            raise DatasetFileError(f"{path}: unreadable or not VideoPose3D's 2D layout ({type(error).__name__}: {error})") from None
        for subject, actions in positions.items():
            for action, per_camera in actions.items():
                if len(per_camera) != len(CAMERA_IDS):
                    raise DatasetFileError(f"{path}: {subject} '{action}' has {len(per_camera)} cameras, expected 4")
                mapped = [to_h36m17(np.asarray(keypoints, np.float32), metadata, path) for keypoints in per_camera]
                detections.setdefault(subject, {})[action] = mapped
    return detections


def to_h36m17(keypoints: np.ndarray, metadata: dict, path) -> tuple:
    """`[frames, J, 2]` in MPII-16 / COCO-17 / H36M-17 -> (`[frames, 17, 2]`, `[17]` mask)."""
    joints = keypoints.shape[-2]
    names = tuple(metadata.get("joint_names", ()))
    if joints == 16:
        return skeleton.mpii16_to_h36m17(keypoints)
    if joints == 17 and names[:1] == ("nose",):
        mapped, confidence = skeleton.coco17_to_h36m17(keypoints)
        return mapped, confidence[0] > 0
    if joints == 17:
        return keypoints, np.ones(17, bool)
    raise DatasetFileError(f"{path}: detections with {joints} joints; expected MPII-16, COCO-17 or H36M-17")


class H36M(tfds.core.GeneratorBasedBuilder):
    """Human3.6M frames in the camera frame (see the module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        H36MConfig(name="protocol", description="train every frame, test every 64th frame", train_stride=1, test_stride=64),
        H36MConfig(name="small", description="train every 50th frame, test every 64th frame", train_stride=50, test_stride=64),
    ]
    DEFAULT_CONFIG_NAME = "protocol"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Place VideoPose3D's data_3d_h36m.npz (and optionally data_2d_h36m_<detector>.npz detection files) in the
    manual_dir. See VideoPose3D's DATASETS.md: they are made from the Human3.6M release (academic,
    non-commercial licence; http://vision.imar.ro/human3.6m).
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "pose_3d": tfds.features.Tensor(shape=(17, 3), dtype=np.float32),
                "root_position": tfds.features.Tensor(shape=(3,), dtype=np.float32),
                "keypoints_2d_gt": tfds.features.Tensor(shape=(17, 2), dtype=np.float32),
                "keypoints_2d_detected": tfds.features.Tensor(shape=(17, 2), dtype=np.float32),
                "detection_mask": tfds.features.Tensor(shape=(17,), dtype=np.bool_),
                "intrinsics": tfds.features.Tensor(shape=(3, 3), dtype=np.float32),
                "distortion": tfds.features.Tensor(shape=(5,), dtype=np.float32),
                "subject": tfds.features.Text(),
                "action": tfds.features.Text(),
                "camera": tfds.features.Text(),
                "frame": tfds.features.Scalar(dtype=np.int64),
            }),
            homepage="http://vision.imar.ro/human3.6m",
        )

    def _split_generators(self, dl_manager):
        manual_dir = pathlib.Path(dl_manager.manual_dir)
        positions = read_positions_3d(manual_dir)  # validates before anything is written
        detections = read_detections(manual_dir, self.builder_config.detector)
        return {
            "train": self._generate_examples(positions, detections, TRAIN_SUBJECTS, self.builder_config.train_stride),
            "test": self._generate_examples(positions, detections, TEST_SUBJECTS, self.builder_config.test_stride),
        }

    def _generate_examples(self, positions, detections, subjects, stride):
        for subject in subjects:
            for action in sorted(positions.get(subject, {})):
                yield from sequence_examples(positions[subject][action], detections.get(subject, {}).get(action),
                                             subject, action, stride)


def sequence_examples(world_metres, per_camera_detections, subject: str, action: str, stride: int):
    """(key, example) pairs of one sequence for the 4 cameras (see the module docstring)."""
    frames = np.arange(0, len(world_metres), stride)
    world = skeleton.from_h36m32(np.asarray(world_metres, np.float32)[frames]) * 1000.0
    for camera_index, camera_id in enumerate(CAMERA_IDS):
        parameters = camera_parameters(subject, camera_id)
        points = world @ parameters["rotation"].T + parameters["translation"]
        pixels = np.asarray(geometry.project_to_pixels(points, parameters["intrinsics"], parameters["distortion"]))
        detected = np.zeros((len(frames), 17, 2), np.float32)
        mask = np.zeros(17, bool)
        if per_camera_detections is not None:
            keypoints, mask = per_camera_detections[camera_index]
            if len(keypoints) >= len(world_metres):
                detected = np.asarray(keypoints, np.float32)[frames]
            else:
                mask = np.zeros(17, bool)  # detections shorter than the sequence: not trusted
        for row, frame in enumerate(frames):
            yield f"{subject}/{action}/{camera_id}/{frame}", {
                "pose_3d": (points[row] - points[row, :1]).astype(np.float32),
                "root_position": points[row, 0].astype(np.float32),
                "keypoints_2d_gt": pixels[row].astype(np.float32),
                "keypoints_2d_detected": detected[row],
                "detection_mask": np.asarray(mask, bool),
                "intrinsics": parameters["intrinsics"],
                "distortion": parameters["distortion"],
                "subject": subject,
                "action": action,
                "camera": camera_id,
                "frame": int(frame),
            }


def prepare(manual_dir, data_dir=None, config: str = "protocol") -> H36M:
    """Prepares (once; later calls reuse it) and returns the builder; bad input files raise `DatasetFileError`."""
    read_positions_3d(manual_dir)  # a clear error naming the file before tfds creates anything
    builder = H36M(config=config, data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder
