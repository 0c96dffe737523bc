"""Training poses for the prior and deterministic batches.

Sources: Human3.6M's `data_3d_h36m.npz` or a compact pose file (`write_pose_file`: world-frame poses, expanded
over the four cameras when read). `PoseBatchIterator.indices_at(step)` depends only on (seed, step, process):
resumed runs see the same examples and processes read disjoint slices of one permutation per epoch.
"""

import pathlib
from typing import NamedTuple, Optional, Sequence

import numpy as np

from posediff_jax.data.augment import ROTATION_AXES, augment_poses, check_up_vectors
from posediff_jax.data.cameras import CAMERA_IDS, camera_parameters
from posediff_jax.normalization import NormalizationStats, compute_normalization_stats
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import PoseDiffError, check_array

NORMALIZATION_FILE = "normalization_stats.npz"


class PoseBatchIterator:
    """Deterministic, sharded, augmented batches of root-relative poses `[N, 17, 3]` mm.

    `up_vectors`: `[N, 3]` the world's up in each camera frame (None: the camera's -y); process index and count
    default to JAX's.
    """

    def __init__(self, poses, global_batch_size: int, seed: int, augment: bool = True,
                 process_index: Optional[int] = None, process_count: Optional[int] = None,
                 flip_probability: float = 0.5, max_rotation_degrees: float = 180.0,
                 up_vectors=None, rotation_axis: str = "world_vertical"):
        if process_index is None or process_count is None:
            import jax
            process_index, process_count = jax.process_index(), jax.process_count()
        self.poses = check_array("poses", np.asarray(poses, np.float32), (None, NUM_JOINTS, 3))
        if rotation_axis not in ROTATION_AXES:
            raise PoseDiffError(f"rotation_axis: expected one of {ROTATION_AXES}, got {rotation_axis!r}")
        self.up_vectors = (None if up_vectors is None
                           else check_up_vectors(up_vectors, len(self.poses)).astype(np.float32))
        self.rotation_axis = rotation_axis
        if global_batch_size % process_count:
            raise PoseDiffError(f"global_batch_size: {global_batch_size} does not split over {process_count} processes")
        if len(self.poses) < global_batch_size:
            raise PoseDiffError(f"poses: {len(self.poses)} poses are fewer than one global batch ({global_batch_size})")
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // process_count
        self.process_index, self.process_count = process_index, process_count
        self.seed, self.augment = seed, augment
        self.flip_probability, self.max_rotation_degrees = flip_probability, max_rotation_degrees
        self.batches_per_epoch = len(self.poses) // global_batch_size
        self._cached_epoch, self._cached_permutation = None, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._cached_epoch:
            self._cached_permutation = np.random.default_rng([self.seed, epoch]).permutation(len(self.poses))
            self._cached_epoch = epoch
        return self._cached_permutation

    def indices_at(self, step: int) -> np.ndarray:
        """This process's example indices for `step` (a slice of the epoch's global permutation)."""
        epoch, position = divmod(int(step), self.batches_per_epoch)
        start = position * self.global_batch_size + self.process_index * self.local_batch_size
        return self._permutation(epoch)[start:start + self.local_batch_size]

    def batch_at(self, step: int) -> dict:
        """`{'pose': [local_batch, 17, 3] float32}` for `step`, augmented with NumPy (`augment.py`)."""
        poses = self.poses[self.indices_at(step)]
        if self.augment:
            rng = np.random.default_rng([self.seed, int(step), self.process_index, 1])
            up = None if self.up_vectors is None else self.up_vectors[self.indices_at(step)]
            poses = augment_poses(poses, rng, self.flip_probability, self.max_rotation_degrees, up,
                                  self.rotation_axis)
        return {"pose": poses}


def cached_normalization_stats(poses: np.ndarray, cache_dir=None) -> NormalizationStats:
    """Normalisation statistics, cached in `cache_dir`, reused for the same poses (hash of ~1000 of them + count)."""
    import hashlib
    sample = np.ascontiguousarray(np.asarray(poses, np.float32)[:: max(1, len(poses) // 1000)])
    fingerprint = f"{len(poses)}:" + hashlib.sha1(sample.tobytes()).hexdigest()
    if cache_dir is not None:
        path = pathlib.Path(cache_dir) / NORMALIZATION_FILE
        if path.is_file():
            with np.load(path) as data:
                if "fingerprint" in data.files and str(data["fingerprint"]) == fingerprint:
                    return NormalizationStats.from_dict({"mean": data["mean"], "std": data["std"]})
    stats = compute_normalization_stats(poses)
    if cache_dir is not None:
        from posediff_jax.io_utils import save_npz_atomic
        save_npz_atomic(pathlib.Path(cache_dir) / NORMALIZATION_FILE, fingerprint=np.array(fingerprint),
                        **stats.to_dict())
    return stats


class PoseData(NamedTuple):
    """Training poses `[N, 17, 3]` mm, their up vectors `[N, 3]` (camera frame), held-out poses `[M, 17, 3]`."""

    train: np.ndarray
    train_up: np.ndarray
    held_out: np.ndarray


def _require_manual_dir(manual_dir):
    if not manual_dir:
        raise PoseDiffError("config.data.manual_dir is not set: point it at the folder with VideoPose3D's "
                            "data_3d_h36m.npz (see posediff_jax/data/h36m.py for where the files come from)")
    return manual_dir


def load_training_poses(data_dir=None, manual_dir=None, split: str = "train", subjects: Optional[Sequence[str]] = None,
                        stride: int = 1, with_up: bool = False, positions=None):
    """Root-relative camera-frame poses `[N, 17, 3]` mm of Human3.6M, all cameras (`read_camera_frame_poses`);
    `data_dir` is accepted for symmetry with the builders and unused."""
    del data_dir
    _require_manual_dir(manual_dir)
    from posediff_jax.data.videopose3d import SPLIT_SUBJECTS, read_camera_frame_poses
    return read_camera_frame_poses(manual_dir, subjects or SPLIT_SUBJECTS[split], stride, positions=positions,
                                   with_up=with_up)


POSE_FILE_FORMAT = "posediff_jax.pose_file/1"
POSE_FILE_KEYS = ("subject_names", "cameras", "train_world", "train_subject", "held_out_world", "held_out_subject")


def check_stride(name: str, step) -> int:
    """`step` if a whole number >= 1 (no bool), else a `PoseDiffError` naming `name`."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise PoseDiffError(f"{name}: must be a whole number >= 1, got {step!r}")
    return step


def write_pose_file(path, manual_dir, train_subjects: Sequence[str] = ("S1", "S5", "S6", "S7", "S8"),
                    held_out_subjects: Sequence[str] = ("S9",), stride: int = 1, held_out_stride: int = 16):
    """Writes a compact training file of world-frame root-relative poses (float32 mm); returns the path.

    `train_world` [M, 17, 3] and `held_out_world` come with per-pose indices into `subject_names`.
    """
    from posediff_jax.data.videopose3d import read_positions_3d
    from posediff_jax.io_utils import atomic_path
    from posediff_jax.skeleton import from_h36m32
    for name, step in (("stride", stride), ("held_out_stride", held_out_stride)):
        check_stride(f"write_pose_file: {name}", step)
    positions = read_positions_3d(manual_dir)  # None subjects: skipped with a warning (positions.skipped)
    skipped = set(getattr(positions, "skipped", ()))
    requested = sorted(set(train_subjects) | set(held_out_subjects))
    missing = [name for name in requested if name not in positions and name not in skipped]
    if missing:
        raise PoseDiffError(f"write_pose_file: subjects {missing} are not in {manual_dir} (found "
                            f"{sorted(set(positions) | skipped)})")
    names = [name for name in requested if name in positions]

    def world_poses(subjects, step, split):
        poses, labels = [], []
        for subject in subjects:
            for action in sorted(positions.get(subject, {})):
                world = from_h36m32(np.asarray(positions[subject][action], np.float32)[::step]) * 1000.0
                poses.append(world - world[:, :1])
                labels.append(np.full(len(world), names.index(subject), np.int8))
        if not poses:
            raise PoseDiffError(f"write_pose_file: no {split} poses: subjects {list(subjects)} hold no sequences in "
                                f"{manual_dir}" + (f" (skipped as None: {sorted(skipped)})" if skipped else ""))
        return np.concatenate(poses).astype(np.float32), np.concatenate(labels)

    train_world, train_subject = world_poses(train_subjects, stride, "training")
    held_out_world, held_out_subject = world_poses(held_out_subjects, held_out_stride, "held-out")
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, format=np.array(POSE_FILE_FORMAT), subject_names=np.array(names),
                                cameras=np.array(CAMERA_IDS), train_world=train_world, train_subject=train_subject,
                                held_out_world=held_out_world, held_out_subject=held_out_subject)
    return pathlib.Path(path)


def _expand_over_cameras(world: np.ndarray, labels: np.ndarray, names, cameras):
    poses, ups = [], []
    for index, subject in enumerate(names):
        subject_world = world[labels == index]
        if not len(subject_world):
            continue
        for camera_id in cameras:
            rotation = camera_parameters(str(subject), str(camera_id))["rotation"]
            poses.append(subject_world @ rotation.T)
            ups.append(np.broadcast_to(rotation[:, 2], (len(subject_world), 3)))
    return np.concatenate(poses).astype(np.float32), np.concatenate(ups).astype(np.float32)


def read_pose_file(path) -> PoseData:
    """`write_pose_file`'s file -> `PoseData` of camera-frame poses (every pose x camera) and up vectors."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise PoseDiffError(f"{path}: pose file not found (make one with tools/make_pose_file.py)")
    try:
        with np.load(path) as data:
            fields = {key: data[key] for key in data.files}
    except Exception as error:
        raise PoseDiffError(f"{path}: unreadable pose file ({type(error).__name__}: {error})") from None
    if str(fields.get("format", "")) != POSE_FILE_FORMAT:
        raise PoseDiffError(f"{path}: not a pose file (format {str(fields.get('format'))!r}, expected "
                            f"{POSE_FILE_FORMAT!r})")
    missing = [key for key in POSE_FILE_KEYS if key not in fields]
    if missing:
        raise PoseDiffError(f"{path}: pose file lacks {missing} (remake it with tools/make_pose_file.py)")
    names, cameras = [str(name) for name in fields["subject_names"]], [str(camera) for camera in fields["cameras"]]
    unknown = [camera for camera in cameras if camera not in CAMERA_IDS]
    if not cameras or unknown:
        raise PoseDiffError(f"{path}: cameras {cameras} must be Human3.6M cameras {list(CAMERA_IDS)}")
    splits = []
    for split in ("train", "held_out"):
        world = check_array(f"{path}: {split}_world", fields[f"{split}_world"], (None, NUM_JOINTS, 3))
        labels = _check_labels(path, split, fields[f"{split}_subject"], len(world), names)
        splits.append(_expand_over_cameras(world, labels, names, cameras))
    (train, train_up), (held_out, _) = splits
    return PoseData(train, train_up, held_out)


def _check_labels(path, split: str, labels, count: int, names) -> np.ndarray:
    """A pose file's labels, checked: one index into `names` per pose, and at least one pose."""
    labels = np.asarray(labels)
    if labels.shape != (count,) or (count and labels.dtype.kind not in "iu"):
        raise PoseDiffError(f"{path}: {split}_subject must hold one subject index per pose ({count}), got shape "
                            f"{list(labels.shape)} of {labels.dtype}")
    if count == 0:
        raise PoseDiffError(f"{path}: no {split} poses (the {split.replace('_', '-')} split is empty)")
    bad = (labels < 0) | (labels >= len(names))
    if bad.any():
        raise PoseDiffError(f"{path}: {split}_subject holds {int(bad.sum())} label(s) outside 0..{len(names) - 1} "
                            f"(subject_names {names}), e.g. {int(labels[bad][0])}")
    return labels


def load_pose_data(data_config) -> PoseData:
    """Training poses, up vectors and held-out poses (every 16th frame of `eval_subjects`) of `config.data`."""
    if data_config.source == "npz":
        if not data_config.get("poses_file"):
            raise PoseDiffError("config.data.poses_file is not set (source 'npz' reads a pose file: "
                                "tools/make_pose_file.py writes one)")
        return read_pose_file(data_config.poses_file)
    if data_config.source != "h36m":
        raise PoseDiffError(f"config.data.source: load_pose_data reads 'h36m' or 'npz', got {data_config.source!r}")
    manual_dir = data_config.manual_dir or None
    from posediff_jax.data.videopose3d import read_positions_3d
    # One read for both splits, so that a file's DatasetWarning is printed once.
    positions = read_positions_3d(_require_manual_dir(manual_dir))
    train, train_up = load_training_poses(None, manual_dir, "train", tuple(data_config.train_subjects),
                                          data_config.stride, with_up=True, positions=positions)
    held_out = load_training_poses(None, manual_dir, "test", tuple(data_config.eval_subjects), 16,
                                   positions=positions)
    return PoseData(train, train_up, held_out)
