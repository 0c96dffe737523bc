"""Evaluation frames from the project's tfds builders (`posediff_jax.data`: h36m, mpi_inf_3dhp, pw3d).

Reads `builder.as_data_source(split)` example by example, keeps the frames `config.data` selects (subjects,
cameras, actions, frame stride, frame cap) and stacks them into the layout of `datasets.load_frames`.
Builder fields used: `pose_3d`, `root_position`, `keypoints_2d_gt`, `intrinsics`, optional `distortion`,
detector keypoints + mask (`keypoints_2d_detected` / `detection_mask`, or `keypoints_2d` / `keypoints_mask`),
optional `joint_mask` (joints the ground truth has; rendered heatmaps skip the others), and the labels
`subject`, `action`, `camera`, `frame` (+ `sequence`, `scene` when present; for MPI-INF-3DHP the test sequence
is the subject TS1..TS6 when no `sequence` field exists). `config.data.builder_config` picks the builder's
config (default: the builder's default, e.g. h36m 'protocol').
"""

from __future__ import annotations

import numpy as np

from posediff_jax.data.tfds_support import text
from posediff_jax.evaluation.datasets import subsample
from posediff_jax.metrics import canonical_action
from posediff_jax.validation import PoseDiffError

DETECTION_FIELDS = (("keypoints_2d_detected", "detection_mask"), ("keypoints_2d", "keypoints_mask"),
                    ("detector_keypoints", "detector_mask"))
LABELS = ("subject", "action", "camera", "sequence", "scene")


def load_frames(config) -> dict:
    import tensorflow_datasets as tfds

    from posediff_jax.data import h36m, mpi_inf_3dhp, pw3d

    project_builders = {"h36m": h36m.H36M, "mpi_inf_3dhp": mpi_inf_3dhp.MPIInf3DHP, "pw3d": pw3d.PW3D}
    data_config = config.data
    builder_name = data_config.get("builder", "") or config.dataset
    download_config = None
    if data_config.get("manual_dir"):
        download_config = tfds.download.DownloadConfig(manual_dir=data_config.manual_dir)
    data_dir = data_config.get("data_dir") or None
    if builder_name in project_builders:
        builder_config = data_config.get("builder_config", "") or None
        builder = project_builders[builder_name](config=builder_config, data_dir=data_dir, file_format="array_record")
    else:
        try:
            builder = tfds.builder(builder_name, data_dir=data_dir)
        except Exception as error:  # tfds raises DatasetNotFoundError (a KeyError) for unknown names
            raise PoseDiffError(f"dataset builder {builder_name!r} is not available here ({error})") from None
    builder.download_and_prepare(download_config=download_config)
    source = builder.as_data_source(split=data_config.get("split", "test"))
    subjects = set(data_config.get("subjects", ()) or ())
    cameras = set(data_config.get("cameras", ()) or ())
    actions = set(data_config.get("actions", ()) or ())
    stride = max(int(data_config.get("frame_stride", 1)), 1)
    records = []
    for index in range(len(source)):
        example = source[index]
        labels = {name: text(example[name]) for name in LABELS if name in example}
        if subjects and labels.get("subject") not in subjects:
            continue
        if cameras and labels.get("camera") not in cameras:
            continue
        if actions and canonical_action(labels.get("action", "")) not in actions:
            continue
        frame = int(example.get("frame", index))
        if frame % stride:
            continue
        record = {
            "pose_3d": np.asarray(example["pose_3d"], np.float32),
            "root_position": np.asarray(example["root_position"], np.float32),
            "keypoints_2d_gt": np.asarray(example["keypoints_2d_gt"], np.float32),
            "intrinsics": np.asarray(example["intrinsics"], np.float32),
            "frame": frame,
        }
        if "distortion" in example:
            record["distortion"] = np.asarray(example["distortion"], np.float32)
        if "joint_mask" in example:  # joints the ground truth lacks (3DPW: SMPL has no head top)
            record["joint_mask"] = np.asarray(example["joint_mask"]).astype(bool)
        for keypoints_name, mask_name in DETECTION_FIELDS:
            if keypoints_name in example and mask_name in example:
                record["keypoints_2d_detected"] = np.asarray(example[keypoints_name], np.float32)
                record["detection_mask"] = np.asarray(example[mask_name]).astype(bool)
                break
        record.update(labels)
        if config.dataset == "mpi_inf_3dhp" and "sequence" not in labels:
            record["sequence"] = labels.get("subject", "")
        records.append(record)
    if not records:
        raise PoseDiffError(f"{builder_name}: no frames matched the selection in config.data")
    frames = {name: np.stack([record[name] for record in records]) for name in records[0]}
    for name in ("subject", "action", "camera"):
        frames.setdefault(name, np.full(len(records), ""))
    return subsample(frames, int(data_config.get("max_frames", 0)))
