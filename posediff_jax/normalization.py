"""Pose normalisation: the network sees `(pose - mean) / std`, per-coordinate statistics `[17, 3]` of the training
poses (std floored: the root is always zero); energies see millimetres."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from posediff_jax.device_arrays import to_device
from posediff_jax.pytrees import pytree_dataclass
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import PoseDiffError, check_array


@pytree_dataclass
class NormalizationStats:
    """Per-coordinate statistics. mean: `[17, 3]` mm; std: `[17, 3]` mm (floored)."""

    mean: jnp.ndarray
    std: jnp.ndarray

    def normalize(self, pose):
        """`[..., 17, 3]` mm -> `[..., 17, 3]` model space."""
        return (pose - self.mean) / self.std

    def denormalize(self, x):
        """`[..., 17, 3]` model space -> `[..., 17, 3]` mm."""
        return x * self.std + self.mean

    def to_dict(self) -> dict:
        """Plain float32 numpy arrays (for JSON / npz / checkpoints)."""
        return {"mean": np.asarray(self.mean, np.float32), "std": np.asarray(self.std, np.float32)}

    @classmethod
    def from_dict(cls, values: dict) -> "NormalizationStats":
        try:
            mean, std = values["mean"], values["std"]
        except KeyError as missing:
            raise PoseDiffError(f"normalisation statistics: missing key {missing}") from None
        mean = check_array("normalization.mean", np.asarray(mean, np.float32), (NUM_JOINTS, 3))
        std = check_array("normalization.std", np.asarray(std, np.float32), (NUM_JOINTS, 3))
        if np.any(std <= 0):
            raise PoseDiffError("normalization.std: all entries must be positive")
        return cls(mean=to_device(mean), std=to_device(std))


def compute_normalization_stats(poses, min_std: float = 1.0) -> NormalizationStats:
    """Statistics of root-relative training poses `[N, 17, 3]` mm, the std floored at `min_std` mm."""
    poses = np.asarray(check_array("poses", poses, (None, NUM_JOINTS, 3)), dtype=np.float64)
    if poses.shape[0] < 2:
        raise PoseDiffError(f"poses: need at least 2 poses to compute statistics, got {poses.shape[0]}")
    mean = poses.mean(axis=0)
    std = np.maximum(poses.std(axis=0), min_std)
    return NormalizationStats(mean=jnp.asarray(mean, jnp.float32), std=jnp.asarray(std, jnp.float32))


def identity_normalization() -> NormalizationStats:
    """Mean 0, std 1 (for tests and for models trained on raw millimetres)."""
    return NormalizationStats(mean=jnp.zeros((NUM_JOINTS, 3), jnp.float32), std=jnp.ones((NUM_JOINTS, 3), jnp.float32))
