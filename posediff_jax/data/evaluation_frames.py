"""Evaluation frames as numpy arrays for every registered dataset: `load_frames(config)`.

Frames (axis 0): `pose_3d [N, 17, 3]` (mm, camera frame, root-relative), `root_position [N, 3]`,
`keypoints_2d_gt [N, 17, 2]` (px, with distortion), `intrinsics`, `distortion`, optional
`keypoints_2d_detected` + `detection_mask`, optional `joint_mask`, and labels `subject`, `action`, `camera`,
`frame` (+ `sequence`, `scene`). `config.data` selects `subjects`, `cameras`, `actions`, `frame_stride` and
`max_frames` (spread evenly). A loader (`config.data.loader`: 'tfds', or 'videopose3d' for Human3.6M) is
`config -> (frames, {(subject, action, camera): why no detections})`. With evidence 'detections', frames without
any detected joint are skipped before `max_frames`, named in one warning and listed in `frames.skipped`.
"""

import collections
import logging

import numpy as np

from posediff_jax.data import registry
from posediff_jax.validation import PoseDiffError

LOG = logging.getLogger(__name__)
DETECTION_FIELDS = (("keypoints_2d_detected", "detection_mask"), ("keypoints_2d", "keypoints_mask"),
                    ("detector_keypoints", "detector_mask"))
LABELS = ("subject", "action", "camera", "sequence", "scene")
FLOAT_FIELDS = ("pose_3d", "root_position", "keypoints_2d_gt", "intrinsics")


class EvaluationFrames(dict):
    """The frames (name -> array) and `skipped`: `{subject, action, camera, frames, reason}` per sequence-camera."""

    def __init__(self, frames, skipped=()):
        super().__init__(frames)
        self.skipped = list(skipped)


def stack_records(records: list) -> dict:
    """Concatenates per-sequence dicts of `[n, ...]` arrays along axis 0."""
    if not records:
        raise PoseDiffError("evaluation: no frames matched the selection in config.data (subjects / cameras / actions)")
    return {name: np.concatenate([record[name] for record in records], axis=0) for name in records[0]}


def skip_frames_without_detections(frames: dict, problems: dict, dataset: str = "") -> tuple:
    """(frames with at least one detected joint, skipped entries); reasons from `problems`, else 'no detected joint'."""
    if "detection_mask" not in frames:
        return frames, []
    usable = np.asarray(frames["detection_mask"]).any(-1)
    if usable.all():
        return frames, []
    count = len(usable)
    labels = [np.asarray(frames.get(name, np.full(count, ""))) for name in ("subject", "action", "camera")]
    skipped = collections.Counter(tuple(str(label[index]) for label in labels) for index in np.flatnonzero(~usable))
    entries = [{"subject": subject, "action": action, "camera": camera, "frames": number,
                "reason": problems.get((subject, action, camera), "no detected joint")}
               for (subject, action, camera), number in skipped.items()]
    total = sum(entry["frames"] for entry in entries)
    if total == count:
        raise PoseDiffError(f"{dataset or 'evaluation'}: none of the {count} selected frames has 2D detections "
                            f"(e.g. {_describe(entries[0])}); choose data that has them or another evidence.source")
    shown = "; ".join(_describe(entry) for entry in entries[:3])
    more = f"; and {len(entries) - 3} more" if len(entries) > 3 else ""
    LOG.warning("%s: skipped %d of %d frames (%d sequence-cameras) without 2D detections: %s%s",
                dataset or "evaluation", total, count, len(entries), shown, more)
    return {name: value[usable] for name, value in frames.items()}, entries


def _describe(entry: dict) -> str:
    return (f"{entry['subject']} '{entry['action']}' camera {entry['camera'] or '-'}: {entry['frames']} frames, "
            f"{entry['reason']}")


def load_frames(config) -> EvaluationFrames:
    """The evaluation frames of `config.dataset` through its loader `config.data.loader`."""
    dataset = registry.get(config.dataset)
    frames, problems = dataset.loader(config.data.get("loader", "tfds") or "tfds")(config)
    skipped = []
    evidence = config.get("evidence", None)
    if evidence is not None and evidence.get("source", "") == "detections":
        frames, skipped = skip_frames_without_detections(frames, problems, dataset.name)
    count, max_frames = len(frames["pose_3d"]), int(config.data.get("max_frames", 0))
    if max_frames and max_frames < count:  # spread evenly over all
        keep = np.unique(np.linspace(0, count - 1, max_frames).round().astype(int))
        frames = {name: value[keep] for name, value in frames.items()}
    return EvaluationFrames(frames, skipped)


def _builder(config):
    import tensorflow_datasets as tfds
    data_config = config.data
    builder_name = data_config.get("builder", "") or config.dataset
    data_dir = data_config.get("data_dir") or None
    if builder_name in registry.names():
        builder_config = data_config.get("builder_config", "") or None
        return registry.get(builder_name).builder_class()(config=builder_config, data_dir=data_dir,
                                                          file_format="array_record")
    try:
        return tfds.builder(builder_name, data_dir=data_dir)
    except Exception as error:  # tfds raises DatasetNotFoundError (a KeyError) for unknown names
        raise PoseDiffError(f"dataset builder {builder_name!r} is not available here ({error})") from None


def load_tfds_frames(config) -> tuple:
    """`(frames, {})` from a tfds builder (`config.data.builder`, default the dataset's), prepared once; detections
    from any pair of `DETECTION_FIELDS`, missing labels as the dataset's `label_defaults` say."""
    import tensorflow_datasets as tfds

    from posediff_jax.data.tfds_support import text
    from posediff_jax.metrics import canonical_action
    data_config = config.data
    dataset = registry.get(config.dataset)
    builder = _builder(config)
    download_config = None
    if data_config.get("manual_dir"):
        download_config = tfds.download.DownloadConfig(manual_dir=data_config.manual_dir)
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
        frame = int(example.get("frame", index))
        if ((subjects and labels.get("subject") not in subjects) or (cameras and labels.get("camera") not in cameras)
                or (actions and canonical_action(labels.get("action", "")) not in actions) or frame % stride):
            continue
        record = {name: np.asarray(example[name], np.float32) for name in FLOAT_FIELDS}
        record["frame"] = frame
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
        for label, source_label in dataset.label_defaults.items():
            record.setdefault(label, labels.get(source_label, ""))
        records.append(record)
    if not records:
        raise PoseDiffError(f"{builder.name}: no frames matched the selection in config.data")
    frames = {name: np.stack([record[name] for record in records]) for name in records[0]}
    for name in ("subject", "action", "camera"):
        frames.setdefault(name, np.full(len(records), ""))
    return frames, {}
