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
    """How far unconditional samples `[N, 17, 3]` are from the data `[M, 17, 3]`, in mm: the mean |bone length -
    the data's mean| (deviation; the data's own is its floor), |mean sample - mean data length| (error), the
    lengths' std (spread) and the mean |left - right| difference of paired bones (asymmetry)."""
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
    """`{bone name: mean |sample length - data mean length|}` mm (`skeleton.BONE_NAMES`)."""
    deviation = np.abs(_lengths(samples) - _lengths(reference_poses).mean(0)).mean(0)
    return {name: float(value) for name, value in zip(skeleton.BONE_NAMES, deviation)}
