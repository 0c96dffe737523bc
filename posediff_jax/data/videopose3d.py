"""Human3.6M from VideoPose3D's files: the readers, the ONE world -> camera conversion (`camera_frames`), and
the direct evaluation reader.

Files in the user's `manual_dir` (made as VideoPose3D's DATASETS.md shows; `allow_pickle` only on these):
- `data_3d_h36m.npz`: `positions_3d[subject][action]` = `[frames, 32, 3]` world positions, metres.
- optional `data_2d_h36m_<detector>[_<subject>].npz`: `positions_2d[subject][action]` = 4 cameras (order of
  `CAMERA_IDS`) of `[frames, J, 2]` px; `metadata` tells the layout (MPII-16, COCO-17 or H36M-17).
Real detection files have `None` entries (S11 'Directions', camera 54138969, in every copy), empty, short or
NaN ones: they read as "no detections" (`CameraDetections.problem` says why) and are masked.
"""

import pathlib
from typing import NamedTuple, Sequence

import numpy as np

from posediff_jax import geometry, skeleton
from posediff_jax.data.cameras import CAMERA_IDS, camera_parameters, check_camera_file
from posediff_jax.validation import GARBLED_PIXELS, PoseDiffError

POSITIONS_FILE = "data_3d_h36m.npz"
CAMERA_FILE = "camera-parameters.json"  # optional; only cross-checked against the built-in cameras
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
SPLIT_SUBJECTS = {"train": TRAIN_SUBJECTS, "test": TEST_SUBJECTS}


class DatasetFileError(PoseDiffError):
    """A dataset file is missing, truncated or not in the expected layout."""


class DatasetWarning(UserWarning):
    """Part of a dataset file holds nothing (a `None` subject or action) and is skipped."""


class Positions3D(dict):
    """`{subject: {action: array}}` as read, with `skipped`: the `None` entries left out."""

    skipped: list = []


# A person's joints lie ~0.3-0.45 m from the pelvis on average; a copy saved in millimetres reads ~400.
PLAUSIBLE_MEAN_JOINT_DISTANCE_M = (0.05, 5.0)


def _check_metres(path, subject, action, array) -> None:
    """Raises `DatasetFileError` when an action's positions are not a person's in metres."""
    frames = np.asarray(array[:: max(1, len(array) // 8)], np.float64)
    if not len(frames):
        return
    spread = float(np.median(np.linalg.norm(frames - frames[:, :1], axis=-1).mean(-1)))
    low, high = PLAUSIBLE_MEAN_JOINT_DISTANCE_M
    if not low <= spread <= high:
        raise DatasetFileError(f"{path}: {subject} '{action}': the joints lie {spread:.4g} units from the pelvis on "
                               f"average, not a person's in metres ({low:g}-{high:g} m); expected VideoPose3D's "
                               "positions in metres (millimetres given?)")


def read_positions_3d(manual_dir) -> Positions3D:
    """`{subject: {action: [frames, 32, 3] metres}}` from `manual_dir/data_3d_h36m.npz`, validated.

    `None` subjects or actions are skipped with one `DatasetWarning`; non-finite positions are an error.
    """
    path = pathlib.Path(manual_dir).expanduser() / POSITIONS_FILE
    if not path.is_file():
        raise DatasetFileError(f"{path}: not found. Expected VideoPose3D's {POSITIONS_FILE} (positions_3d: subject "
                               "-> action -> [frames, 32, 3] metres) in the manual_dir")
    try:
        with np.load(path, allow_pickle=True) as archive:
            positions = archive["positions_3d"].item()
    except Exception as error:  # truncated zip, missing key, wrong object
        raise DatasetFileError(f"{path}: unreadable or not VideoPose3D's layout "
                               f"({type(error).__name__}: {error})") from None
    if not isinstance(positions, dict):
        raise DatasetFileError(f"{path}: positions_3d is not a dict subject -> action -> array")
    result, skipped = Positions3D(), []
    for subject, actions in positions.items():
        if actions is None:
            skipped.append(str(subject))
            continue
        if not isinstance(actions, dict):
            raise DatasetFileError(f"{path}: positions_3d[{subject!r}] is a {type(actions).__name__}, expected a "
                                   "dict action -> [frames, 32, 3] (or None)")
        kept = {}
        for action, array in actions.items():
            if array is None:
                skipped.append(f"{subject} '{action}'")
                continue
            if np.ndim(array) != 3 or np.shape(array)[1:] != (32, 3):
                raise DatasetFileError(
                    f"{path}: {subject} '{action}' has shape {list(np.shape(array))}, expected [frames, 32, 3]"
                )
            bad = ~np.isfinite(np.asarray(array)).all(axis=(1, 2))
            if bad.any():
                raise DatasetFileError(f"{path}: {subject} '{action}' has NaN or infinite positions in "
                                       f"{int(bad.sum())} of {len(bad)} frames (first: frame {int(np.argmax(bad))})")
            _check_metres(path, subject, action, array)
            kept[action] = array
        result[subject] = kept
    if skipped:
        import warnings
        warnings.warn(f"{path}: skipping {', '.join(skipped)} (None in the file)", DatasetWarning, stacklevel=2)
    result.skipped = skipped
    return result


def camera_frames(world_metres, subject: str, camera_id: str, pixels: bool = True) -> dict:
    """World positions `[frames, 32, 3]` m -> one camera's float32 `pose_3d` (mm, root-relative),
    `root_position` (mm), `intrinsics`, `distortion` and, with `pixels`, `keypoints_2d_gt` (with distortion)."""
    parameters = camera_parameters(subject, camera_id, np.float64)
    world = skeleton.from_h36m32(np.asarray(world_metres, np.float32)).astype(np.float64) * 1000.0
    points = world @ parameters["rotation"].T + parameters["translation"]
    converted = {"pose_3d": points - points[:, :1], "root_position": points[:, 0],
                 "intrinsics": parameters["intrinsics"], "distortion": parameters["distortion"]}
    if pixels:
        converted["keypoints_2d_gt"] = geometry.project_to_pixels_numpy(points, parameters["intrinsics"],
                                                                        parameters["distortion"])
    return {name: value.astype(np.float32) for name, value in converted.items()}


def read_camera_frame_poses(manual_dir, subjects: Sequence[str], stride: int = 1,
                            cameras: Sequence[str] = CAMERA_IDS, positions: Positions3D | None = None,
                            with_up: bool = False):
    """Root-relative camera-frame poses `[N, 17, 3]` mm for every subject, action and camera (in that order).

    `positions`: the file already read (read once for several splits). `with_up=True` also returns the world's
    vertical in each pose's camera frame, `R[:, 2]`, `[N, 3]`.
    """
    positions = read_positions_3d(manual_dir) if positions is None else positions
    present = [subject for subject in subjects if subject in positions]
    if not present:
        raise DatasetFileError(f"{POSITIONS_FILE}: none of the subjects {list(subjects)} is present "
                               f"(found {sorted(positions)})")
    poses, ups = [], []
    for subject in present:
        for action in sorted(positions[subject]):
            world = positions[subject][action][::stride]
            for camera_id in cameras:
                poses.append(camera_frames(world, subject, camera_id, pixels=False)["pose_3d"])
                rotation = camera_parameters(subject, camera_id)["rotation"]
                ups.append(np.broadcast_to(rotation[:, 2], (len(world), 3)))
    poses = np.concatenate(poses).astype(np.float32)
    return (poses, np.concatenate(ups).astype(np.float32)) if with_up else poses


class CameraDetections(NamedTuple):
    """One camera's H36M-17 detections of a sequence: `keypoints [frames, 17, 2]`, `mask [frames, 17]`, and
    `problem`: '' or why the entry holds none (then it has 0 frames)."""

    keypoints: np.ndarray
    mask: np.ndarray
    problem: str = ""


def detection_files(manual_dir, detector: str) -> list:
    """`data_2d_h36m_<detector>.npz` and per-subject `data_2d_h36m_<detector>_S<n>.npz` in `manual_dir`."""
    folder = pathlib.Path(manual_dir).expanduser()
    return sorted(folder.glob(f"data_2d_h36m_{detector}.npz")) + sorted(folder.glob(f"data_2d_h36m_{detector}_S*.npz"))


def read_detections(manual_dir, detector: str) -> dict:
    """`{subject: {action: [4 cameras of CameraDetections]}}`; {} if no file; a wrong layout is a `DatasetFileError`."""
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
                for camera_id, keypoints in zip(CAMERA_IDS, per_camera):
                    keypoints = None if keypoints is None else np.asarray(keypoints, np.float32)
                    if keypoints is None or keypoints.size == 0:  # "no detections"
                        problem = f"{'None' if keypoints is None else 'empty array'} in {path.name}"
                        mapped.append(CameraDetections(np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), bool),
                                                       problem))
                        continue
                    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
                        raise DatasetFileError(f"{path}: {subject} '{action}' camera {camera_id} has shape "
                                               f"{list(keypoints.shape)}, expected [frames, J, 2] (or None)")
                    mapped.append(CameraDetections(*to_h36m17(keypoints, metadata, path)))
                detections.setdefault(subject, {})[action] = mapped
    return detections


def to_h36m17(keypoints: np.ndarray, metadata: dict, path) -> tuple:
    """`[frames, J, 2]` in MPII-16 / COCO-17 / H36M-17 -> (`[frames, 17, 2]`, `[frames, 17]` bool mask); every
    H36M joint made from a non-finite or garbled source joint is masked."""
    finite = (np.isfinite(keypoints) & (np.abs(keypoints) <= GARBLED_PIXELS)).all(-1, keepdims=True)
    if not finite.all():
        mapped, mask = to_h36m17(np.where(finite, keypoints, 0.0).astype(np.float32), metadata, path)
        tainted, _ = to_h36m17(np.broadcast_to(~finite, keypoints.shape).astype(np.float32), metadata, path)
        return mapped, mask & ~(tainted != 0).any(-1)
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
    return mapped.astype(np.float32), np.asarray(mask, bool)


def detections_for_frames(camera: CameraDetections | None, frames: np.ndarray, sequence_length: int) -> tuple:
    """(`keypoints [n, 17, 2]`, `mask [n, 17]`, problem) for `frames` of a 3D sequence; all masked when the entry
    is absent, empty or shorter than the sequence (longer ones are trimmed, as VideoPose3D does)."""
    frames = np.asarray(frames)
    if camera is None:
        problem = "not in the detection files"
    elif camera.problem:
        problem = camera.problem
    elif len(camera.keypoints) < sequence_length:
        problem = f"{len(camera.keypoints)} detected frames for {sequence_length} 3D frames"
    else:
        return camera.keypoints[frames], camera.mask[frames], ""
    return np.zeros((len(frames), 17, 2), np.float32), np.zeros((len(frames), 17), bool), problem


def load_evaluation_frames(config) -> tuple[dict, dict]:
    """The 'videopose3d' loader: the h36m builder's frames read directly from `config.data.manual_dir` (no tfds);
    `config.data.detections` names the detector file `data_2d_h36m_<name>*.npz` ('' for none)."""
    from posediff_jax.data.evaluation_frames import stack_records
    from posediff_jax.metrics import canonical_action
    data_config = config.data
    if not data_config.get("manual_dir"):
        raise DatasetFileError("config.data.manual_dir is not set: point it at the folder with VideoPose3D's "
                               f"{POSITIONS_FILE}")
    folder = pathlib.Path(data_config.manual_dir).expanduser()
    positions = read_positions_3d(folder)
    if (folder / CAMERA_FILE).is_file():
        check_camera_file(folder / CAMERA_FILE)
    detector = data_config.get("detections", "")
    detections = None
    if detector:
        if not detection_files(folder, detector):
            raise DatasetFileError(f"no detection file data_2d_h36m_{detector}*.npz in {folder} "
                                   "(config.data.detections)")
        detections = read_detections(folder, detector)
    # str(): `--set data.cameras=(54138969,)` reads ints
    camera_ids = tuple(str(camera) for camera in data_config.get("cameras", ()) or ()) or CAMERA_IDS
    unknown = [camera for camera in camera_ids if camera not in CAMERA_IDS]
    if unknown:
        raise PoseDiffError(f"config.data.cameras: {unknown} are not Human3.6M cameras {CAMERA_IDS}")
    subjects = tuple(data_config.get("subjects", ()) or ()) or SPLIT_SUBJECTS[data_config.get("split", "test")]
    actions = set(data_config.get("actions", ()) or ())
    stride = max(int(data_config.get("frame_stride", 1)), 1)
    records, problems = [], {}
    for subject in subjects:
        if subject not in positions:
            continue  # e.g. S11 is not in every copy of the data
        for action in sorted(positions[subject]):
            if actions and canonical_action(action) not in actions:
                continue
            world = positions[subject][action]
            frames = np.arange(0, len(world), stride)
            for camera_id in camera_ids:
                record = camera_frames(world[frames], subject, camera_id)
                count = len(frames)
                record.update(intrinsics=np.broadcast_to(record["intrinsics"], (count, 3, 3)),
                              distortion=np.broadcast_to(record["distortion"], (count, 5)),
                              subject=np.full(count, subject), action=np.full(count, action),
                              camera=np.full(count, camera_id), frame=frames.astype(np.int64))
                if detections is not None:
                    per_camera = detections.get(subject, {}).get(action)
                    camera = per_camera[CAMERA_IDS.index(camera_id)] if per_camera is not None else None
                    keypoints, mask, problem = detections_for_frames(camera, frames, len(world))
                    record["keypoints_2d_detected"], record["detection_mask"] = keypoints, mask
                    if problem:
                        problems[(subject, action, camera_id)] = problem
                records.append(record)
    return stack_records(records), problems
