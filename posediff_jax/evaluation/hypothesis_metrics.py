"""What best-of-m hides: spread, single-estimate error and calibration of a set of hypotheses.

Best-of-m rewards a sampler that scatters hypotheses widely. These numbers say how wide the scatter is and
whether it is honest:

- **diversity**: the mean pairwise distance between hypotheses, `mean_{h != h'} MPJPE(hyp_h, hyp_h')` (mm).
- **aggregate error**: MPJPE / PA-MPJPE of one estimate made from all hypotheses (mean, median, or any
  aggregation the caller passes in).
- **calibration** (per-joint spread coverage): for every joint take the hypotheses' coordinate-wise median
  `c_j` and their distances `d_hj = ||hyp_hj - c_j||`. At level `q` the spread radius is the q-quantile of
  `d_hj` over hypotheses. The coverage is the fraction of joints whose ground truth lies within that radius,
  `||gt_j - c_j|| <= quantile_q(d_hj)`. A calibrated sampler, whose ground truth behaves like one more
  hypothesis, covers a fraction `q` of joints (the nominal level); over-confident samplers cover less,
  under-confident ones more.

All functions take hypotheses `[batch, m, J, 3]` (mm) and return per-frame values `[batch]` (or a dict of them),
so that per-frame results can be stored and averaged per action later.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.metrics import mpjpe, pa_mpjpe
from posediff_jax.validation import PoseDiffError, check_array

DEFAULT_CALIBRATION_LEVELS = (0.5, 0.9)
AGGREGATIONS = ("mean", "median", "geometric_median", "medoid", "mean_shift")


def _check_hypotheses(hypotheses):
    check_array("hypotheses", hypotheses, (None, None, None, 3))
    if np.shape(hypotheses)[1] < 1:
        raise PoseDiffError("hypotheses: need at least one hypothesis (m = 0)")


def _check_target(hypotheses, target):
    check_array("target", target, (None, None, 3))
    if np.shape(target)[0] != np.shape(hypotheses)[0] or np.shape(target)[1] != np.shape(hypotheses)[2]:
        raise PoseDiffError(
            "hypotheses [batch, m, J, 3] and target [batch, J, 3] disagree: "
            f"{list(np.shape(hypotheses))} vs {list(np.shape(target))}"
        )


@jax.jit
def _pairwise_mean_distance(hypotheses):
    """`[batch, m, J, 3]` -> `[batch]` mean over ordered pairs h != h' of the mean joint distance."""

    def one_frame(poses):  # [m, J, 3]
        m = poses.shape[0]

        def row(pose):  # [J, 3] -> sum over h' of MPJPE(pose, poses[h'])
            return jnp.sum(jnp.mean(jnp.linalg.norm(poses - pose, axis=-1), axis=-1))

        total = jnp.sum(jax.lax.map(row, poses))  # the diagonal contributes zeros
        return total / jnp.maximum(m * (m - 1), 1)

    return jax.lax.map(one_frame, hypotheses)


def diversity(hypotheses):
    """Mean pairwise distance between hypotheses, in mm.

    Args:
      hypotheses: `[batch, m, J, 3]` mm.
    Returns:
      `[batch]` mean over ordered pairs `h != h'` of `MPJPE(hyp_h, hyp_h')`; 0 when m = 1.
    """
    _check_hypotheses(hypotheses)
    return _pairwise_mean_distance(jnp.asarray(hypotheses, jnp.float32))


def aggregate(hypotheses, method: str = "mean"):
    """One estimate per frame from its hypotheses.

    Args:
      hypotheses: `[batch, m, J, 3]`.
      method: 'mean' (the average pose), 'median' (coordinate-wise median), or a mode-seeking estimate of
        `sampling.aggregate`: 'geometric_median' (per-joint spatial median), 'medoid', 'mean_shift'.
    Returns:
      `[batch, J, 3]`.
    """
    _check_hypotheses(hypotheses)
    if method not in AGGREGATIONS:
        raise PoseDiffError(f"aggregation: expected one of {AGGREGATIONS}, got {method!r}")
    hypotheses = jnp.asarray(hypotheses, jnp.float32)
    if method == "mean":
        return jnp.mean(hypotheses, axis=1)
    if method == "median":
        return jnp.median(hypotheses, axis=1)
    from posediff_jax.sampling import aggregate as aggregation

    return aggregation.aggregate(method, hypotheses)


def aggregate_errors(estimate, target) -> dict:
    """MPJPE and PA-MPJPE `[batch]` of single estimates `[batch, J, 3]` against `target [batch, J, 3]`."""
    check_array("estimate", estimate, (None, None, 3))
    check_array("target", target, (None, None, 3))
    return {"mpjpe": mpjpe(estimate, target), "pa_mpjpe": pa_mpjpe(estimate, target)}


@functools.partial(jax.jit, static_argnames=("levels",))
def _coverage(hypotheses, target, levels):
    center = jnp.median(hypotheses, axis=1)  # [batch, J, 3]
    spread = jnp.linalg.norm(hypotheses - center[:, None], axis=-1)  # [batch, m, J]
    truth = jnp.linalg.norm(target - center, axis=-1)  # [batch, J]
    radii = jnp.quantile(spread, jnp.asarray(levels, jnp.float32), axis=1)  # [levels, batch, J]
    return jnp.mean((truth[None] <= radii).astype(jnp.float32), axis=-1)  # [levels, batch]


def calibration(hypotheses, target, levels: Sequence[float] = DEFAULT_CALIBRATION_LEVELS) -> dict:
    """Per-joint spread coverage at quantile levels (see the module docstring).

    Args:
      hypotheses: `[batch, m, J, 3]` mm.
      target: `[batch, J, 3]` mm.
      levels: quantile levels in (0, 1).
    Returns:
      `{level: [batch] fraction of joints covered}`; compare each to its nominal `level`.
    """
    _check_hypotheses(hypotheses)
    _check_target(hypotheses, target)
    levels = tuple(float(level) for level in levels)
    for level in levels:
        if not 0.0 < level < 1.0:
            raise PoseDiffError(f"calibration levels: expected values in (0, 1), got {level}")
    covered = _coverage(jnp.asarray(hypotheses, jnp.float32), jnp.asarray(target, jnp.float32), levels)
    return {level: covered[index] for index, level in enumerate(levels)}


def calibration_key(level: float) -> str:
    """The result name of a coverage level, e.g. 0.9 -> 'coverage_q90'."""
    return f"coverage_q{int(round(100 * float(level))):02d}"
