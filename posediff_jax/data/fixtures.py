"""Tiny test files in the real layouts of Human3.6M (VideoPose3D), 3DPW and MPI-INF-3DHP, from synthetic poses."""

import pathlib
import pickle

import numpy as np

from posediff_jax import skeleton
from posediff_jax.data.synthetic import synthetic_poses


# Defects real VideoPose3D detection files have (`detection_defects` of `write_h36m_fixture`).
DETECTION_DEFECTS = ("none", "empty", "short", "nan_rows")


def write_h36m_fixture(folder, subjects=("S1", "S9"), actions=("Walking 1", "Eating"), frames: int = 130,
                       detector: str = "sh_pt_mpii", detection_defects=None) -> pathlib.Path:
    """`data_3d_h36m.npz` (world metres, 32 joints) and an MPII-16 `data_2d_h36m_<detector>.npz` for the last subject.

    `detection_defects`: `{(action, camera_index): defect}` as real files have them: 'none' (a `None` entry),
    'empty', 'short' (30 frames short), 'nan_rows' (frame 64 all NaN, joint 0 of frame 0 NaN).
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    positions = {}
    for s_index, subject in enumerate(subjects):
        positions[subject] = {}
        for a_index, action in enumerate(actions):
            poses17 = synthetic_poses(frames, seed=10 * s_index + a_index)  # camera-like axes, mm
            world = np.zeros((frames, 32, 3), np.float32)
            # World frame of H36M: z up; put the person 1 m above the floor, moving slowly along x.
            body = np.stack([poses17[..., 0], poses17[..., 2], -poses17[..., 1] + 1000.0], -1)
            body[..., 0] += np.linspace(0, 500, frames)[:, None]
            world[:, skeleton.H36M32_TO_H36M17] = body
            positions[subject][action] = world / 1000.0
    np.savez(folder / "data_3d_h36m.npz", positions_3d=np.array(positions, dtype=object))
    if detector:
        uniform = [np.random.default_rng(i).uniform(0, 1000, (frames, 16, 2)) for i in range(4)]
        detections = {subjects[-1]: {action: [array.astype(np.float32) for array in uniform] for action in actions}}
        for (action, camera_index), defect in (detection_defects or {}).items():
            per_camera = detections[subjects[-1]][action]
            if defect == "none":
                per_camera[camera_index] = None
            elif defect == "empty":
                per_camera[camera_index] = np.zeros((0,), np.float32)
            elif defect == "short":
                per_camera[camera_index] = per_camera[camera_index][: frames - 30]
            elif defect == "nan_rows":
                per_camera[camera_index][64] = np.nan
                per_camera[camera_index][0, 0] = np.nan
            else:
                raise ValueError(f"detection defect {defect!r}: expected one of {DETECTION_DEFECTS}")
        metadata = {"layout_name": "mpii16", "num_joints": 16, "joint_names": list(skeleton.MPII16_NAMES)}
        np.savez(folder / f"data_2d_h36m_{detector}.npz", positions_2d=np.array(detections, dtype=object),
                 metadata=np.array(metadata, dtype=object))
    return folder


def _smpl24_from_h36m17(poses17: np.ndarray) -> np.ndarray:
    """`[n, 17, 3]` -> `[n, 24, 3]`: H36M joints at their SMPL counterparts, the other SMPL joints at a neighbour."""
    smpl = np.zeros(poses17.shape[:-2] + (24, 3), poses17.dtype)
    have = skeleton.SMPL24_TO_H36M17 >= 0
    smpl[..., skeleton.SMPL24_TO_H36M17[have], :] = poses17[..., np.flatnonzero(have), :]
    for smpl_joint, source in ((3, 0), (9, 8), (10, 7), (11, 8), (13, 12), (14, 12), (22, 20), (23, 21)):
        smpl[..., smpl_joint, :] = smpl[..., source, :] + 10.0 * (smpl_joint % 3 + 1)
    return smpl


def write_pw3d_fixture(folder, sequences=("downtown_walking_00", "outdoors_fencing_01"), frames: int = 40,
                       people: int = 2, corrupt: str = "") -> pathlib.Path:
    """`sequenceFiles/test/<sequence>.pkl` in 3DPW's layout; every 7th frame of person 0 invalid; `corrupt`: cut."""
    folder = pathlib.Path(folder)
    target = folder / "sequenceFiles" / "test"
    target.mkdir(parents=True, exist_ok=True)
    intrinsics = np.array([[1962.0, 0.0, 540.0], [0.0, 1969.0, 960.0], [0.0, 0.0, 1.0]])
    for s_index, name in enumerate(sequences):
        rng = np.random.default_rng(s_index)
        angles = np.linspace(0.0, 0.3, frames)
        cam_poses = np.tile(np.eye(4), (frames, 1, 1))
        cam_poses[:, 0, 0], cam_poses[:, 0, 2] = np.cos(angles), np.sin(angles)
        cam_poses[:, 2, 0], cam_poses[:, 2, 2] = -np.sin(angles), np.cos(angles)
        cam_poses[:, :3, 3] = [0.2, 0.1, 4.0]
        joint_positions, valid, poses2d = [], [], []
        for person in range(people):
            camera = _smpl24_from_h36m17(synthetic_poses(frames, seed=100 * s_index + person).astype(np.float64))
            camera = camera / 1000.0 + np.array([0.8 * person - 0.4, 0.0, 4.5])  # metres, in front of the camera
            rotation_t = np.swapaxes(cam_poses[:, :3, :3], 1, 2)
            world = np.einsum("fij,fnj->fni", rotation_t, camera - cam_poses[:, None, :3, 3])  # X = R^T (x - t)
            joint_positions.append(world.reshape(frames, 72))
            valid.append((np.arange(frames) % 7 != 3).astype(np.float64) if person == 0 else np.ones(frames))
            points, confidence = rng.uniform(0, 1000, (frames, 2, 18)), rng.uniform(0, 1, (frames, 1, 18))
            poses2d.append(np.concatenate([points, confidence], 1))
        data = {"sequence": name, "jointPositions": joint_positions, "cam_poses": cam_poses,
                "cam_intrinsics": intrinsics, "campose_valid": valid, "poses2d": poses2d,
                "img_frame_ids": np.arange(frames), "genders": ["m"] * people,
                "betas": [np.zeros(10)] * people}
        payload = pickle.dumps(data, protocol=2)
        if name == corrupt:
            payload = payload[: len(payload) // 2]
        (target / f"{name}.pkl").write_bytes(payload)
    return folder


def write_mpi_inf_3dhp_fixture(folder, sequences=("TS1", "TS3", "TS5"), frames: int = 30,
                               with_metric: bool = True) -> pathlib.Path:
    """`data_test_3dhp.npz` in the converted layout (`mpi_inf_3dhp.py`); every 5th frame invalid."""
    from posediff_jax.data.mpi_inf_3dhp import SEQUENCE_CAMERAS
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    to_3dhp = np.argsort(skeleton.MPI_INF_3DHP17_TO_H36M17)  # inverse of the 3DHP -> H36M permutation
    data = {}
    for index, name in enumerate(sequences):
        h36m = synthetic_poses(frames, seed=50 + index).astype(np.float64) + np.array([0.0, 0.0, 4000.0])
        intrinsics = SEQUENCE_CAMERAS[name]["intrinsics"]
        pixels = h36m[..., :2] / h36m[..., 2:] * np.diag(intrinsics)[:2] + intrinsics[:2, 2]
        entry = {
            "data_3d": (h36m[:, to_3dhp] * 0.95).astype(np.float32),  # 'universal' skeleton: rescaled
            "data_2d": pixels[:, to_3dhp].astype(np.float32),
            "valid": (np.arange(frames) % 5 != 2).astype(np.float64),
            "activity": (np.arange(frames) % 7 + 1).astype(np.float64),
        }
        if with_metric:
            entry["data_3d_metric"] = h36m[:, to_3dhp].astype(np.float32)
        data[name] = entry
    np.savez(folder / "data_test_3dhp.npz", data=np.array(data, dtype=object))
    return folder
