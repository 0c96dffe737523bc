"""Tiny files in the real layouts, for tests (written at test time; nothing binary is committed)."""

from __future__ import annotations

import pathlib

import numpy as np

from posediff_jax.training.synthetic import synthetic_poses


def write_h36m_fixture(folder, subjects=("S1", "S9"), actions=("Walking 1", "Eating"), frames: int = 130,
                       detector: str = "sh_pt_mpii") -> pathlib.Path:
    """`data_3d_h36m.npz` (world metres, 32 joints) and an MPII-16 `data_2d_h36m_<detector>.npz` for the last subject."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    positions = {}
    for s_index, subject in enumerate(subjects):
        positions[subject] = {}
        for a_index, action in enumerate(actions):
            poses17 = synthetic_poses(frames, seed=10 * s_index + a_index)  # camera-like axes, mm
            world = np.zeros((frames, 32, 3), np.float32)
            from posediff_jax.skeleton import H36M32_TO_H36M17

            # World frame of H36M: z up; put the person 1 m above the floor, moving slowly along x.
            body = np.stack([poses17[..., 0], poses17[..., 2], -poses17[..., 1] + 1000.0], -1)
            body[..., 0] += np.linspace(0, 500, frames)[:, None]
            world[:, H36M32_TO_H36M17] = body
            positions[subject][action] = world / 1000.0
    np.savez(folder / "data_3d_h36m.npz", positions_3d=np.array(positions, dtype=object))
    if detector:
        detections = {subjects[-1]: {action: [np.random.default_rng(i).uniform(0, 1000, (frames, 16, 2)).astype(np.float32)
                                              for i in range(4)] for action in actions}}
        metadata = {"layout_name": "mpii16", "num_joints": 16}
        np.savez(folder / f"data_2d_h36m_{detector}.npz", positions_2d=np.array(detections, dtype=object),
                 metadata=np.array(metadata, dtype=object))
    return folder
