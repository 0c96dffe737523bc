"""Evaluation frames as numpy arrays, for every registered dataset (`data.registry`).

`load_frames(config)` returns an `EvaluationFrames` (a dict with frames on axis 0):
`pose_3d [N, 17, 3]` (mm, camera frame, root-relative), `root_position [N, 3]` (mm), `keypoints_2d_gt
[N, 17, 2]` (pixels, projected with lens distortion), `intrinsics [N, 3, 3]`, `distortion [N, 5]`,
optional `keypoints_2d_detected [N, 17, 2]` + `detection_mask [N, 17]` (bool), optional `joint_mask [N, 17]`,
and labels `subject`, `action`, `camera` (strings), `frame` (int), plus `sequence` / `scene` where the dataset
has them. Its attribute `skipped` lists what was left out (below).

Selection (`config.data`): `subjects`, `cameras`, `actions` (canonical names; empty: all), `frame_stride` (every
k-th frame of each sequence), `max_frames` (0: no cap; else that many frames spread evenly over the selection,
so every action stays represented).

Loaders (`config.data.loader`, per dataset in the registry): 'tfds' (`load_tfds_frames`: the project's builders,
or any tfds builder named by `config.data.builder`, through `as_data_source`) and, for Human3.6M,
'videopose3d' (`videopose3d.load_evaluation_frames`: VideoPose3D's files read directly). A loader is
`(config) -> (frames, problems)`: the selected frames before skipping and the frame cap, and
`{(subject, action, camera): why that sequence-camera has no detections}`.

Frames without evidence: when `config.evidence.source` is 'detections', a frame whose detection mask has no
joint (the detector file has `None`, an empty or too short entry, or a NaN row for it) cannot be evaluated.
Such frames are skipped before `max_frames` is applied, ONE warning line names them, and
`frames.skipped` lists `{subject, action, camera, frames, reason}` per sequence-camera for the report.
With any other evidence source they are kept (their detections are not used).
"""

from __future__ import annotations

import logging

import numpy as np

from posediff_jax.data import registry
from posediff_jax.validation import PoseDiffError

LOG = logging.getLogger(__name__)
DETECTION_FIELDS = (("keypoints_2d_detected", "detection_mask"), ("keypoints_2d", "keypoints_mask"),
                    ("detector_keypoints", "detector_mask"))
LABELS = ("subject", "action", "camera", "sequence", "scene")


class EvaluationFrames(dict):
    """The frames (name -> array, frames on axis 0) and `skipped`: one dict per sequence-camera left out,
    `{'subject', 'action', 'camera', 'frames': count, 'reason'}`."""

    def __init__(self, frames, skipped=()):
        super().__init__(frames)
        self.skipped = list(skipped)


def select_evenly(count: int, max_frames: int) -> np.ndarray:
    """Indices of at most `max_frames` of `count` frames spread evenly (0: all)."""
    if not max_frames or max_frames >= count:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, int(max_frames)).round().astype(int))


def subsample(frames: dict, max_frames: int) -> dict:
    """At most `max_frames` frames spread evenly over all (0: all)."""
    keep = select_evenly(len(frames["pose_3d"]), max_frames)
    return {name: value[keep] for name, value in frames.items()}


def stack_records(records: list) -> dict:
    """Concatenates per-sequence dicts of `[n, ...]` arrays along axis 0."""
    if not records:
        raise PoseDiffError("evaluation: no frames matched the selection in config.data (subjects / cameras / actions)")
    return {name: np.concatenate([record[name] for record in records], axis=0) for name in records[0]}


def skip_frames_without_detections(frames: dict, problems: dict, dataset: str = "") -> tuple:
    """(frames with at least one detected joint, skipped entries); see the module docstring.

    Args:
      frames: loader output with `detection_mask [N, 17]` and the labels `subject`, `action`, `camera`.
      problems: `{(subject, action, camera): reason}` from the loader; frames without one get 'no detected
        joint' (a NaN row, a detector that found nobody, or a tfds builder's masked entry).
    """
    if "detection_mask" not in frames:
        return frames, []
    usable = np.asarray(frames["detection_mask"]).any(-1)
    if usable.all():
        return frames, []
    count = len(usable)
    labels = [np.asarray(frames.get(name, np.full(count, ""))) for name in ("subject", "action", "camera")]
    skipped = {}
    for index in np.flatnonzero(~usable):
        key = tuple(str(label[index]) for label in labels)
        skipped[key] = skipped.get(key, 0) + 1
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
    """The evaluation frames of `config` (see the module docstring): `config.dataset` picks the registered
    dataset, `config.data.loader` its loader."""
    dataset = registry.get(config.dataset)
    frames, problems = dataset.loader(config.data.get("loader", "tfds") or "tfds")(config)
    skipped = []
    evidence = config.get("evidence", None)
    if evidence is not None and evidence.get("source", "") == "detections":
        frames, skipped = skip_frames_without_detections(frames, problems, dataset.name)
    return EvaluationFrames(subsample(frames, int(config.data.get("max_frames", 0))), skipped)


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
    """Frames from a tfds builder (`config.data.builder`, default the dataset's own): `(frames, {})`.

    Reads `builder.as_data_source(config.data.split)` example by example and keeps the frames `config.data`
    selects. Builder fields used: `pose_3d`, `root_position`, `keypoints_2d_gt`, `intrinsics`, optional
    `distortion`, detector keypoints + mask (`keypoints_2d_detected` / `detection_mask`, or `keypoints_2d` /
    `keypoints_mask`), optional `joint_mask` (joints the ground truth has; rendered heatmaps skip the others),
    and the labels `subject`, `action`, `camera`, `frame` (+ `sequence`, `scene` when present; missing labels
    follow the dataset's `label_defaults`). `config.data.builder_config` picks the builder's config (default:
    the builder's default, e.g. h36m 'protocol'). The builder is prepared from `config.data.manual_dir` once.
    """
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
        for label, source_label in dataset.label_defaults.items():
            record.setdefault(label, labels.get(source_label, ""))
        records.append(record)
    if not records:
        raise PoseDiffError(f"{builder.name}: no frames matched the selection in config.data")
    frames = {name: np.stack([record[name] for record in records]) for name in records[0]}
    for name in ("subject", "action", "camera"):
        frames.setdefault(name, np.full(len(records), ""))
    return frames, {}
