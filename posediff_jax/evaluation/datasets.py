"""Evaluation frames as numpy arrays: from the tfds builders (posediff_jax.data) or VideoPose3D-layout files.

`load_frames(config)` returns a dict with frames on axis 0:
`pose_3d [N, 17, 3]` (mm, camera frame, root-relative), `root_position [N, 3]` (mm), `keypoints_2d_gt
[N, 17, 2]` (pixels, projected with lens distortion), `intrinsics [N, 3, 3]`, `distortion [N, 5]`,
optional `keypoints_2d_detected [N, 17, 2]` + `detection_mask [N, 17]` (bool), and labels `subject`,
`action`, `camera` (strings), `frame` (int), plus `sequence` / `scene` where the dataset has them.

Selection (`config.data`): `subjects`, `cameras` (empty: all), `actions` (empty: all), `frame_stride`
(every k-th frame of each sequence), `max_frames` (0: no cap; else that many frames spread evenly over the
selection, so every action stays represented).

Loaders (`config.data.loader`):
- 'tfds': the project's builders (`h36m`, `mpi_inf_3dhp`, `pw3d`) through `as_data_source`.
- 'videopose3d': Human3.6M read directly from VideoPose3D-layout files in `config.data.manual_dir`
  (`data_3d_h36m.npz`, `camera-parameters.json`, `data_2d_h36m_<detections>.npz`): the same conversion as
  the builder, for users who have only those files.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from posediff_jax import geometry, skeleton
from posediff_jax.validation import PoseDiffError

H36M_CAMERAS = ("54138969", "55011271", "58860488", "60457274")


def _select_evenly(count: int, max_frames: int) -> np.ndarray:
    if not max_frames or max_frames >= count:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, int(max_frames)).round().astype(int))


def _stack(records: list[dict]) -> dict:
    if not records:
        raise PoseDiffError("evaluation: no frames matched the selection (subjects / cameras / actions)")
    return {name: np.concatenate([record[name] for record in records], axis=0) for name in records[0]}


def subsample(frames: dict, max_frames: int) -> dict:
    """At most `max_frames` frames spread evenly over all (0: all)."""
    keep = _select_evenly(len(frames["pose_3d"]), max_frames)
    return {name: value[keep] for name, value in frames.items()}


def load_h36m_videopose3d(data_config) -> dict:
    """Human3.6M frames from VideoPose3D-layout files (see the module docstring)."""
    folder = pathlib.Path(data_config.manual_dir).expanduser()
    positions_path = folder / "data_3d_h36m.npz"
    cameras_path = folder / "camera-parameters.json"
    for path in (positions_path, cameras_path):
        if not path.is_file():
            raise PoseDiffError(f"Human3.6M file not found: {path} (set config.data.manual_dir)")
    positions = np.load(positions_path, allow_pickle=True)["positions_3d"].item()
    cameras = json.loads(cameras_path.read_text())
    detections = None
    detection_name = data_config.get("detections", "")
    if detection_name:
        # `data_2d_h36m_<name>.npz`, or per-subject files `data_2d_h36m_<name>_<subject>.npz`.
        found = sorted(folder.glob(f"data_2d_h36m_{detection_name}.npz")) + sorted(
            folder.glob(f"data_2d_h36m_{detection_name}_S*.npz")
        )
        if not found:
            raise PoseDiffError(f"no detection file data_2d_h36m_{detection_name}*.npz in {folder}")
        detections = {}
        for path in found:
            detections.update(np.load(path, allow_pickle=True)["positions_2d"].item())
    camera_ids = tuple(data_config.cameras) or H36M_CAMERAS
    stride = max(int(data_config.frame_stride), 1)
    records = []
    for subject in data_config.subjects:
        if subject not in positions:
            continue  # e.g. S11 is not in every copy of the data
        for action in sorted(positions[subject]):
            if data_config.actions and skeleton_action(action) not in data_config.actions:
                continue
            world = skeleton.from_h36m32(positions[subject][action]).astype(np.float64) * 1000.0  # m -> mm
            frame_numbers = np.arange(0, len(world), stride)
            world = world[frame_numbers]
            for camera in camera_ids:
                intrinsics = np.asarray(cameras["intrinsics"][camera]["calibration_matrix"], np.float64)
                distortion = np.asarray(cameras["intrinsics"][camera]["distortion"], np.float64)
                extrinsic = cameras["extrinsics"][subject][camera]
                rotation = np.asarray(extrinsic["R"], np.float64)
                translation = np.asarray(extrinsic["t"], np.float64).reshape(3)
                points = np.einsum("ij,fnj->fni", rotation, world) + translation
                count = len(points)
                record = {
                    "pose_3d": (points - points[:, :1]).astype(np.float32),
                    "root_position": points[:, 0].astype(np.float32),
                    "keypoints_2d_gt": geometry.project_to_pixels_numpy(points, intrinsics, distortion),
                    "intrinsics": np.broadcast_to(intrinsics, (count, 3, 3)).astype(np.float32),
                    "distortion": np.broadcast_to(distortion, (count, 5)).astype(np.float32),
                    "subject": np.full(count, subject),
                    "action": np.full(count, action),
                    "camera": np.full(count, camera),
                    "frame": frame_numbers.astype(np.int64),
                }
                if detections is not None:
                    per_camera = detections.get(subject, {}).get(action)
                    if per_camera is None:
                        raise PoseDiffError(
                            f"detections '{detection_name}' lack {subject} '{action}' (choose subjects it covers)"
                        )
                    keypoints = np.asarray(per_camera[H36M_CAMERAS.index(camera)])[frame_numbers]
                    keypoints17, mask = skeleton.mpii16_to_h36m17(keypoints)
                    record["keypoints_2d_detected"] = keypoints17.astype(np.float32)
                    record["detection_mask"] = np.broadcast_to(mask, (count, 17)).copy()
                records.append(record)
    return subsample(_stack(records), int(data_config.get("max_frames", 0)))


def skeleton_action(action: str) -> str:
    from posediff_jax.metrics import canonical_action

    return canonical_action(action)


def load_frames(config) -> dict:
    """The evaluation frames of `config` (see the module docstring)."""
    data_config = config.data
    loader = data_config.get("loader", "tfds")
    if loader == "videopose3d":
        if config.dataset != "h36m":
            raise PoseDiffError("config.data.loader 'videopose3d' reads Human3.6M only")
        return load_h36m_videopose3d(data_config)
    if loader == "tfds":
        from posediff_jax.evaluation import tfds_frames

        return tfds_frames.load_frames(config)
    raise PoseDiffError(f"config.data.loader: expected 'tfds' or 'videopose3d', got {loader!r}")
