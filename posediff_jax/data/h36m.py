"""Human3.6M as a tensorflow-datasets builder that needs no TensorFlow (ArrayRecord + `as_data_source()`).

Files the user places in `manual_dir` (VideoPose3D's layout; VideoPose3D's DATASETS.md shows how they are made
from the official Human3.6M release, http://vision.imar.ro/human3.6m, academic non-commercial licence):
- `data_3d_h36m.npz` (required): `positions_3d[subject][action]` = `[frames, 32, 3]` world positions in metres.
- `data_2d_h36m_<detector>.npz`, or the same split per subject as `data_2d_h36m_<detector>_<subject>.npz`
  (optional, one or more per detector named in the config): `positions_2d[subject][action]` = list over the 4
  cameras (order of `cameras.CAMERA_IDS`) of `[frames, J, 2]` pixels; `metadata` (`joint_names`,
  `layout_name`, `num_joints`) tells the layout: MPII-16 (`skeleton.mpii16_to_h36m17`), COCO-17
  (`skeleton.coco17_to_h36m17`) or H36M-17 (as is). E.g. `data_2d_h36m_cpn_ft_h36m_dbb.npz` (detector
  `cpn_ft_h36m_dbb`), `data_2d_h36m_gt.npz` (`gt`), `data_2d_h36m_sh_pt_mpii_S9.npz` (`sh_pt_mpii`).
Cameras (intrinsics, distortion, per-subject extrinsics) are built in (`cameras.py`).

Every example is one frame seen by one camera:
`pose_3d [17, 3]` camera frame, mm, root-relative; `root_position [3]` mm; `keypoints_2d_gt [17, 2]`
(projection with lens distortion, as `geometry.project_to_pixels`); for each detector `d` of the config
`keypoints_2d_<d> [17, 2]` + `mask_<d> [17]` (False where the detector lacks the joint, the value is not finite
or the sequence has no / too few detected frames); `keypoints_2d_detected` + `detection_mask` repeat the
config's first detector (the field names single-detector readers use); `intrinsics [3, 3]`; `distortion [5]`;
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

from posediff_jax import geometry, skeleton
from posediff_jax.data.cameras import CAMERA_IDS, camera_parameters
from posediff_jax.data.tfds_support import frame_dataset_info, prepare_builder
from posediff_jax.data.videopose3d import DatasetFileError, read_positions_3d

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
SPLIT_SUBJECTS = {"train": TRAIN_SUBJECTS, "test": TEST_SUBJECTS}
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


def detection_files(manual_dir, detector: str) -> list:
    """`data_2d_h36m_<detector>.npz` and per-subject `data_2d_h36m_<detector>_S<n>.npz` in `manual_dir`."""
    folder = pathlib.Path(manual_dir).expanduser()
    return sorted(folder.glob(f"data_2d_h36m_{detector}.npz")) + sorted(folder.glob(f"data_2d_h36m_{detector}_S*.npz"))


def read_detections(manual_dir, detector: str) -> dict:
    """`{subject: {action: [4 cameras of ([frames, 17, 2], [frames, 17] bool)]}}` in H36M-17; {} if no file.

    Raises `DatasetFileError` naming the file for an unreadable file or a wrong layout.
    """
    if not detector:
        return {}
    detections = {}
    for path in detection_files(manual_dir, detector):
        try:
            with np.load(path, allow_pickle=True) as archive:  # VideoPose3D pickles dicts; the user's files only
                positions = archive["positions_2d"].item()
                metadata = archive["metadata"].item() if "metadata" in archive.files else {}
        except Exception as error:  # truncated zip, missing key, not an object array
            raise DatasetFileError(
                f"{path}: unreadable or not VideoPose3D's 2D layout (positions_2d: subject -> action -> list of 4 "
                f"[frames, J, 2]) ({type(error).__name__}: {error})") from None
        if not isinstance(positions, dict) or not isinstance(metadata, dict):
            raise DatasetFileError(f"{path}: positions_2d and metadata must be dicts (VideoPose3D's 2D layout)")
        for subject, actions in positions.items():
            if not isinstance(actions, dict):
                raise DatasetFileError(f"{path}: positions_2d[{subject!r}] is not a dict action -> cameras")
            for action, per_camera in actions.items():
                if not isinstance(per_camera, (list, tuple)) or len(per_camera) != len(CAMERA_IDS):
                    raise DatasetFileError(f"{path}: {subject} '{action}': expected a list of 4 cameras of "
                                           f"[frames, J, 2]")
                mapped = []
                for keypoints in per_camera:
                    keypoints = np.asarray(keypoints, np.float32)
                    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
                        raise DatasetFileError(f"{path}: {subject} '{action}' has shape {list(keypoints.shape)}, "
                                               "expected [frames, J, 2]")
                    mapped.append(to_h36m17(keypoints, metadata, path))
                detections.setdefault(subject, {})[action] = mapped
    return detections


def to_h36m17(keypoints: np.ndarray, metadata: dict, path) -> tuple:
    """`[frames, J, 2]` in MPII-16 / COCO-17 / H36M-17 -> (`[frames, 17, 2]`, `[frames, 17]` bool mask)."""
    joints = keypoints.shape[-2]
    names = [str(name).lower() for name in metadata.get("joint_names", ())]
    layout = str(metadata.get("layout_name", "")).lower()
    if joints == 16:
        mapped, mask = skeleton.mpii16_to_h36m17(keypoints)
        mask = np.broadcast_to(mask, mapped.shape[:-1])
    elif joints == 17 and (layout.startswith("coco") or names[:1] == ["nose"]):
        mapped, confidence = skeleton.coco17_to_h36m17(keypoints)
        mask = confidence > 0
    elif joints == 17:
        mapped, mask = keypoints, np.ones(keypoints.shape[:-1], bool)
    else:
        raise DatasetFileError(f"{path}: detections with {joints} joints; expected MPII-16, COCO-17 or H36M-17")
    mask = mask & np.isfinite(mapped).all(-1)
    return np.nan_to_num(mapped).astype(np.float32), mask


class H36M(tfds.core.GeneratorBasedBuilder):
    """Human3.6M frames in the camera frame (see the module docstring for files, fields, splits, configs)."""

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


def _detections_for_frames(per_camera, camera_index: int, frames: np.ndarray, sequence_length: int):
    """(`[n, 17, 2]`, `[n, 17]`) for the chosen frames; all-masked when absent or shorter than the 3D sequence
    (VideoPose3D trims longer detection sequences to the 3D length the same way)."""
    if per_camera is None or len(per_camera[camera_index][0]) < sequence_length:
        return np.zeros((len(frames), 17, 2), np.float32), np.zeros((len(frames), 17), bool)
    keypoints, mask = per_camera[camera_index]
    return keypoints[frames], mask[frames]


def sequence_examples(world_metres, per_detector: dict, subject: str, action: str, stride: int):
    """(key, example) pairs of one sequence for the 4 cameras (see the module docstring).

    `per_detector`: `{detector: None or [4 cameras of ([frames, 17, 2], [frames, 17])]}`, in config order.
    """
    world_metres = np.asarray(world_metres, np.float32)
    frames = np.arange(0, len(world_metres), stride)
    world = skeleton.from_h36m32(world_metres[frames]).astype(np.float64) * 1000.0
    for camera_index, camera_id in enumerate(CAMERA_IDS):
        parameters = camera_parameters(subject, camera_id)
        points = world @ parameters["rotation"].astype(np.float64).T + parameters["translation"]
        pixels = geometry.project_to_pixels_numpy(points, parameters["intrinsics"], parameters["distortion"])
        roots = points[:, 0].astype(np.float32)
        poses = (points - points[:, :1]).astype(np.float32)
        detected = {name: _detections_for_frames(per_camera, camera_index, frames, len(world_metres))
                    for name, per_camera in per_detector.items()}
        for row, frame in enumerate(frames):
            example = {
                "pose_3d": poses[row],
                "root_position": roots[row],
                "keypoints_2d_gt": pixels[row],
                "intrinsics": parameters["intrinsics"],
                "distortion": parameters["distortion"],
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

