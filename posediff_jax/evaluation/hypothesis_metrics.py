"""What best-of-m hides: spread, single-estimate error and calibration of hypotheses `[batch, m, J, 3]` (mm).

Calibration: with `c_j` the hypotheses' median of joint j, the coverage at level q is the fraction of joints
with `||gt_j - c_j|| <= quantile_q(||hyp_hj - c_j||)`; a calibrated sampler covers q. Results are per frame.
"""

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


@jax.jit
def _pairwise_mean_distance(hypotheses):
    def one_frame(poses):  # [m, J, 3]
        m = poses.shape[0]

        def row(pose):  # [J, 3] -> sum over h' of MPJPE(pose, poses[h'])
            return jnp.sum(jnp.mean(jnp.linalg.norm(poses - pose, axis=-1), axis=-1))

        total = jnp.sum(jax.lax.map(row, poses))  # the diagonal contributes zeros
        return total / jnp.maximum(m * (m - 1), 1)

    return jax.lax.map(one_frame, hypotheses)


def diversity(hypotheses):
    """`[batch]` mean over pairs `h != h'` of `MPJPE(hyp_h, hyp_h')` (mm); 0 when m = 1."""
    _check_hypotheses(hypotheses)
    return _pairwise_mean_distance(jnp.asarray(hypotheses, jnp.float32))


def aggregate(hypotheses, method: str = "mean"):
    """One estimate `[batch, J, 3]` per frame: 'mean', 'median' (per coordinate) or a `sampling.aggregate` method."""
    _check_hypotheses(hypotheses)
    if method not in AGGREGATIONS:
        raise PoseDiffError(f"aggregation: expected one of {AGGREGATIONS}, got {method!r}")
    hypotheses = jnp.asarray(hypotheses, jnp.float32)
    if method in ("mean", "median"):
        return getattr(jnp, method)(hypotheses, axis=1)
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
    """`{level: [batch] fraction of joints covered}` for quantile levels in (0, 1) (module docstring)."""
    _check_hypotheses(hypotheses)
    check_array("target", target, (None, None, 3))
    if np.shape(target)[0] != np.shape(hypotheses)[0] or np.shape(target)[1] != np.shape(hypotheses)[2]:
        raise PoseDiffError("hypotheses [batch, m, J, 3] and target [batch, J, 3] disagree: "
                            f"{list(np.shape(hypotheses))} vs {list(np.shape(target))}")
    levels = tuple(float(level) for level in levels)
    for level in levels:
        if not 0.0 < level < 1.0:
            raise PoseDiffError(f"calibration levels: expected values in (0, 1), got {level}")
    covered = _coverage(jnp.asarray(hypotheses, jnp.float32), jnp.asarray(target, jnp.float32), levels)
    return {level: covered[index] for index, level in enumerate(levels)}


def calibration_key(level: float) -> str:
    """The result name of a coverage level, e.g. 0.9 -> 'coverage_q90'."""
    return f"coverage_q{int(round(100 * float(level))):02d}"
