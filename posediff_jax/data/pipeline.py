"""The training input pipeline for the pose prior.

Random access over poses (an in-memory `[N, 17, 3]` array, or any data source with `__len__` /
`__getitem__` returning `{'pose_3d': [17, 3]}` such as a tfds `as_data_source()` split), seeded shuffling per
epoch, per-process sharding for multi-host training, and valid-pose augmentations.

`PoseBatchIterator.batch_at(step)` is a pure function of (seed, step, process index): a resumed run sees
exactly the batches an uninterrupted run would have seen, and processes read disjoint slices of the same
global permutation.
"""

from __future__ import annotations

import pathlib
from typing import Optional, Sequence

import numpy as np

from posediff_jax.data.augment import augment_poses
from posediff_jax.normalization import NormalizationStats, compute_normalization_stats
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import PoseDiffError, check_array

NORMALIZATION_FILE = "normalization_stats.npz"


def poses_from_source(source, field: str = "pose_3d") -> np.ndarray:
    """Reads every example's pose from a random-access source into `[N, 17, 3]` float32."""
    if isinstance(source, np.ndarray):
        return check_array("poses", source.astype(np.float32), (None, NUM_JOINTS, 3))
    return np.stack([np.asarray(source[index][field], np.float32) for index in range(len(source))])


class PoseBatchIterator:
    """Deterministic, sharded, augmented batches of root-relative poses.

    Args:
      poses: `[N, 17, 3]` mm.
      global_batch_size: examples per step over all processes.
      seed: shuffling and augmentation seed.
      augment: flip + vertical-axis rotation (see `augment.py`).
      process_index / process_count: this process's slice (default: `jax.process_index()` / `process_count()`).
    """

    def __init__(self, poses, global_batch_size: int, seed: int, augment: bool = True,
                 process_index: Optional[int] = None, process_count: Optional[int] = None,
                 flip_probability: float = 0.5, max_rotation_degrees: float = 180.0):
        if process_index is None or process_count is None:
            import jax

            process_index, process_count = jax.process_index(), jax.process_count()
        self.poses = check_array("poses", np.asarray(poses, np.float32), (None, NUM_JOINTS, 3))
        if global_batch_size % process_count:
            raise PoseDiffError(
                f"global_batch_size: {global_batch_size} does not split over {process_count} processes"
            )
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
        """`{'pose': [local_batch, 17, 3] float32}` for `step`."""
        poses = self.poses[self.indices_at(step)]
        if self.augment:
            rng = np.random.default_rng([self.seed, int(step), self.process_index, 1])
            poses = augment_poses(poses, rng, self.flip_probability, self.max_rotation_degrees)
        return {"pose": poses}

    def __iter__(self):
        step = 0
        while True:
            yield self.batch_at(step)
            step += 1


def poses_fingerprint(poses: np.ndarray) -> str:
    """A cheap content hash of `[N, 17, 3]` poses (count + ~1000 evenly spaced poses)."""
    import hashlib

    sample = np.ascontiguousarray(np.asarray(poses, np.float32)[:: max(1, len(poses) // 1000)])
    return f"{len(poses)}:" + hashlib.sha1(sample.tobytes()).hexdigest()


def cached_normalization_stats(poses: np.ndarray, cache_dir=None) -> NormalizationStats:
    """Normalisation statistics computed once and cached as `normalization_stats.npz` in `cache_dir`
    (reused only for the same poses: the file records their fingerprint)."""
    fingerprint = poses_fingerprint(poses)
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


def load_training_poses(data_dir=None, manual_dir=None, split: str = "train", subjects: Optional[Sequence[str]] = None,
                        stride: int = 1) -> np.ndarray:
    """Root-relative camera-frame poses `[N, 17, 3]` mm of Human3.6M (all four cameras).

    Reads VideoPose3D's `data_3d_h36m.npz` in `manual_dir` with the same conversion as the `h36m` tfds builder
    (`videopose3d.read_camera_frame_poses`): the prior needs only the poses, and reading them in bulk takes
    seconds where writing the 732k training examples through tfds takes minutes. `data_dir` is accepted for
    symmetry with the builders and unused here.
    """
    del data_dir
    if not manual_dir:
        raise PoseDiffError(
            "config.data.manual_dir is not set: point it at the folder with VideoPose3D's data_3d_h36m.npz "
            "(see posediff_jax/data/h36m.py for where the files come from)"
        )
    from posediff_jax.data.h36m import SPLIT_SUBJECTS
    from posediff_jax.data.videopose3d import read_camera_frame_poses

    return read_camera_frame_poses(manual_dir, subjects or SPLIT_SUBJECTS[split], stride)
