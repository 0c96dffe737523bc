"""Readers for VideoPose3D's Human3.6M files (`data_3d_h36m.npz`, `data_2d_h36m_<detector>.npz`).

`data_3d_h36m.npz`: `positions_3d` holds `{subject: {action: [frames, 32, 3] world metres}}` (a pickled dict of
arrays inside the npz, as VideoPose3D writes it; `allow_pickle` is used only on files from the user's own
manual_dir). Download/preparation: VideoPose3D's DATASETS.md (`prepare_data_h36m.py`).
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np

from posediff_jax import skeleton
from posediff_jax.data.cameras import CAMERA_IDS, camera_parameters
from posediff_jax.validation import PoseDiffError

POSITIONS_FILE = "data_3d_h36m.npz"


class DatasetFileError(PoseDiffError):
    """A dataset file is missing, truncated or not in the expected layout."""


def read_positions_3d(manual_dir) -> dict:
    """`{subject: {action: [frames, 32, 3] metres}}` from `manual_dir/data_3d_h36m.npz`, validated."""
    path = pathlib.Path(manual_dir).expanduser() / POSITIONS_FILE
    if not path.is_file():
        raise DatasetFileError(
            f"{path}: not found. Expected VideoPose3D's {POSITIONS_FILE} (positions_3d: subject -> action -> "
            "[frames, 32, 3] metres) in the manual_dir"
        )
    try:
        with np.load(path, allow_pickle=True) as archive:
            positions = archive["positions_3d"].item()
    except Exception as error:  # truncated zip, missing key, wrong object
        raise DatasetFileError(f"{path}: unreadable or not VideoPose3D's layout ({type(error).__name__}: {error})") from None
    if not isinstance(positions, dict):
        raise DatasetFileError(f"{path}: positions_3d is not a dict subject -> action -> array")
    for subject, actions in positions.items():
        for action, array in actions.items():
            if np.ndim(array) != 3 or np.shape(array)[1:] != (32, 3):
                raise DatasetFileError(
                    f"{path}: {subject} '{action}' has shape {list(np.shape(array))}, expected [frames, 32, 3]"
                )
    return positions


def read_camera_frame_poses(manual_dir, subjects: Sequence[str], stride: int = 1,
                            cameras: Sequence[str] = CAMERA_IDS) -> np.ndarray:
    """Root-relative camera-frame poses `[N, 17, 3]` in mm for every subject, action and camera."""
    positions = read_positions_3d(manual_dir)
    missing = [subject for subject in subjects if subject not in positions]
    if len(missing) == len(subjects):
        raise DatasetFileError(f"{POSITIONS_FILE}: none of the subjects {list(subjects)} is present "
                               f"(found {sorted(positions)})")
    poses = []
    for subject in subjects:
        if subject not in positions:
            continue
        for action in sorted(positions[subject]):
            world = skeleton.from_h36m32(np.asarray(positions[subject][action], np.float32)[::stride]) * 1000.0
            for camera_id in cameras:
                parameters = camera_parameters(subject, camera_id)
                points = world @ parameters["rotation"].T + parameters["translation"]
                poses.append(points - points[:, :1])
    return np.concatenate(poses).astype(np.float32)
