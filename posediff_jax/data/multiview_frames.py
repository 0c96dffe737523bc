"""Evaluation frames seen by a camera rig: `load_multiview_frames(config)` for datasets with extrinsics.

The frames are those `evaluation_frames.load_frames` selects for the reference camera (`config.data.cameras[0]`),
so one view gives the single-view benchmark's frames exactly; the other views are the same subject, action and
frame in the next `config.data.views - 1` cameras of `cameras.CAMERA_IDS` after the reference. Per-view fields
gain a `[N, V, ...]` axis (`keypoints_2d_gt`, `keypoints_2d_detected`, `detection_mask`, `intrinsics`,
`distortion`), with
`world_rotation [N, V, 3, 3]`, `world_translation [N, V, 3]` (mm, `X_cam = R X_world + t`) and `view_present
[N, V]`; a view without the frame (or without any detected joint) is absent and carries no evidence. The ground
truth (`pose_3d`, `root_position`) and the labels are the reference camera's.
"""

import copy

import numpy as np

from posediff_jax.data import cameras as camera_lib
from posediff_jax.data import evaluation_frames
from posediff_jax.validation import PoseDiffError

VIEW_FIELDS = ("keypoints_2d_gt", "keypoints_2d_detected", "detection_mask", "intrinsics", "distortion")


def rig_cameras(reference: str, views: int) -> tuple:
    """The reference camera and the next `views - 1` of `CAMERA_IDS` after it (cyclically)."""
    if reference not in camera_lib.CAMERA_IDS:
        raise PoseDiffError(f"data.cameras: the reference camera must be one of {camera_lib.CAMERA_IDS}, "
                            f"got {reference!r}")
    if not 1 <= views <= len(camera_lib.CAMERA_IDS):
        raise PoseDiffError(f"data.views: expected 1..{len(camera_lib.CAMERA_IDS)}, got {views}")
    start = camera_lib.CAMERA_IDS.index(reference)
    return tuple(camera_lib.CAMERA_IDS[(start + offset) % len(camera_lib.CAMERA_IDS)] for offset in range(views))


def load_multiview_frames(config) -> evaluation_frames.EvaluationFrames:
    """The reference camera's evaluation frames with every view's 2D and extrinsics (module docstring)."""
    data = config.data
    rig = rig_cameras(str((tuple(data.cameras) or camera_lib.CAMERA_IDS)[0]), int(data.get("views", 1)))
    reference = evaluation_frames.load_frames(_selection(config, rig[:1], int(data.max_frames)))
    others = evaluation_frames.load_frames(_selection(config, rig[1:], 0)) if len(rig) > 1 else {}
    count = len(reference["frame"])
    index = {(str(s), str(a), str(c), int(f)): row for row, (s, a, c, f) in
             enumerate(zip(*(others.get(name, []) for name in ("subject", "action", "camera", "frame"))))}
    rows = np.array([[index.get((str(reference["subject"][i]), str(reference["action"][i]), camera,
                                 int(reference["frame"][i])), -1) for camera in rig[1:]] for i in range(count)],
                    int).reshape(count, len(rig) - 1)
    present = np.concatenate([np.ones((count, 1), bool), rows >= 0], axis=1)
    frames = dict(reference)
    for name in VIEW_FIELDS:
        if name in reference:
            frames[name] = np.stack([np.asarray(reference[name])] + [
                np.asarray(others[name])[np.maximum(column, 0)] for column in rows.T], axis=1)
    if "detection_mask" in frames:
        frames["detection_mask"] = frames["detection_mask"] & present[..., None]
    extrinsics = [[camera_lib.camera_parameters(str(subject), camera) for camera in rig]
                  for subject in reference["subject"]]
    frames["world_rotation"] = np.array([[view["rotation"] for view in row] for row in extrinsics], np.float32)
    frames["world_translation"] = np.array([[view["translation"] for view in row] for row in extrinsics], np.float32)
    frames["view_present"] = present
    return evaluation_frames.EvaluationFrames(frames, getattr(reference, "skipped", []))


def _selection(config, cameras, max_frames):
    selection = copy.deepcopy(config)
    selection.data.cameras, selection.data.max_frames = tuple(cameras), max_frames
    return selection
