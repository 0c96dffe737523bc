"""Plausibility of unconditional samples: bone lengths against the training data, left/right symmetry."""

from __future__ import annotations

import numpy as np

from posediff_jax import skeleton


def _lengths(poses) -> np.ndarray:
    return np.asarray(skeleton.bone_lengths(np.asarray(poses, np.float32)))


def _asymmetry(lengths) -> float:
    pairs = np.asarray(skeleton.SYMMETRIC_BONE_PAIRS)
    return float(np.abs(lengths[:, pairs[:, 0]] - lengths[:, pairs[:, 1]]).mean())


def plausibility_metrics(samples, reference_poses) -> dict:
    """How far unconditional samples `[N, 17, 3]` mm are from the data `[M, 17, 3]` mm, in mm.

    - `bone_length_deviation_mm`: mean over samples and bones of |sample bone length - data mean length of that
      bone|; `data_bone_length_deviation_mm` is the same for the data itself (its floor: subjects differ).
    - `bone_length_error_mm`: mean over bones of |mean sample length - mean data length| (a bias).
    - `bone_length_spread_mm` / `data_bone_length_spread_mm`: mean over bones of the lengths' std.
    - `asymmetry_mm` / `data_asymmetry_mm`: mean |left - right| length difference of paired bones.
    """
    sample_lengths, data_lengths = _lengths(samples), _lengths(reference_poses)
    data_mean = data_lengths.mean(0)
    return {
        "bone_length_deviation_mm": float(np.abs(sample_lengths - data_mean).mean()),
        "data_bone_length_deviation_mm": float(np.abs(data_lengths - data_mean).mean()),
        "bone_length_error_mm": float(np.abs(sample_lengths.mean(0) - data_mean).mean()),
        "bone_length_spread_mm": float(sample_lengths.std(0).mean()),
        "data_bone_length_spread_mm": float(data_lengths.std(0).mean()),
        "asymmetry_mm": _asymmetry(sample_lengths),
        "data_asymmetry_mm": _asymmetry(data_lengths),
    }


def per_bone_deviation(samples, reference_poses) -> dict:
    """`{bone name: mean |sample length - data mean length|}` mm, bones named 'child-parent'."""
    deviation = np.abs(_lengths(samples) - _lengths(reference_poses).mean(0)).mean(0)
    names = [f"{skeleton.JOINT_NAMES[child]}-{skeleton.JOINT_NAMES[parent]}" for child, parent in skeleton.BONES]
    return {name: float(value) for name, value in zip(names, deviation)}
