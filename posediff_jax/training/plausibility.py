"""Plausibility of unconditional samples: bone lengths against the training data, left/right symmetry."""

from __future__ import annotations

import numpy as np

from posediff_jax import skeleton


def bone_length_statistics(poses) -> dict:
    """Per-bone mean length `[16]` and mean |left - right| asymmetry (mm) of poses `[N, 17, 3]`."""
    lengths = np.asarray(skeleton.bone_lengths(np.asarray(poses, np.float32)))
    left = np.array([a for a, _ in skeleton.SYMMETRIC_BONE_PAIRS])
    right = np.array([b for _, b in skeleton.SYMMETRIC_BONE_PAIRS])
    return {"mean_lengths": lengths.mean(0), "asymmetry": float(np.abs(lengths[:, left] - lengths[:, right]).mean())}


def plausibility_metrics(samples, reference_poses) -> dict:
    """How far unconditional samples are from the data, in mm.

    - `bone_length_error_mm`: mean over bones of |mean sample length - mean data length|.
    - `bone_length_spread_mm`: mean over bones of the sample lengths' standard deviation (a rigid skeleton has 0;
      compare with the data's own spread, `data_bone_length_spread_mm`).
    - `asymmetry_mm` / `data_asymmetry_mm`: mean |left - right| bone length difference.
    """
    samples = np.asarray(samples, np.float32)
    reference = np.asarray(reference_poses, np.float32)
    sample_stats, data_stats = bone_length_statistics(samples), bone_length_statistics(reference)
    sample_lengths = np.asarray(skeleton.bone_lengths(samples))
    data_lengths = np.asarray(skeleton.bone_lengths(reference))
    return {
        "bone_length_error_mm": float(np.abs(sample_stats["mean_lengths"] - data_stats["mean_lengths"]).mean()),
        "bone_length_spread_mm": float(sample_lengths.std(0).mean()),
        "data_bone_length_spread_mm": float(data_lengths.std(0).mean()),
        "asymmetry_mm": sample_stats["asymmetry"],
        "data_asymmetry_mm": data_stats["asymmetry"],
    }
