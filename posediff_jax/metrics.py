"""Pose metrics in millimetres: MPJPE, PA-MPJPE, N-MPJPE, PCK, AUC, and best-of-m over hypotheses.

Single-estimate metrics reduce the joint axis of `pred, target [..., J, 3]`. Best-of-m over hypotheses
`[batch, m, J, 3]`: P-best (`mode='pose'`, the best hypothesis per pose) or J-best (`mode='joint'`, the best per
joint, averaged), each hypothesis aligned on its own for PA-MPJPE, in chunks under a running minimum.
"""

from __future__ import annotations

import collections
import functools
import re
from typing import Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.device_arrays import on_one_cpu_device
from posediff_jax.geometry import procrustes_align
from posediff_jax.validation import PoseDiffError, check_array

PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = tuple(np.linspace(0.0, 150.0, 31).tolist())


def _check_pair(pred, target):
    check_array("pred", pred, ("...", "joints", 3))
    check_array("target", target, ("...", "joints", 3))
    if np.shape(pred)[-2] != np.shape(target)[-2]:
        raise PoseDiffError(f"pred and target: joint counts differ ({np.shape(pred)[-2]} vs {np.shape(target)[-2]})")


def joint_errors(pred, target):
    """Euclidean error per joint: `[..., J, 3], [..., J, 3] -> [..., J]`."""
    _check_pair(pred, target)
    return jnp.linalg.norm(jnp.asarray(pred) - jnp.asarray(target), axis=-1)


def mpjpe(pred, target):
    """Mean per-joint position error `[...]` (no alignment; pass root-relative poses)."""
    return jnp.mean(joint_errors(pred, target), axis=-1)


def pa_mpjpe(pred, target):
    """MPJPE after similarity Procrustes alignment of `pred` onto `target`: `[...]`."""
    _check_pair(pred, target)
    pred, target = on_one_cpu_device(pred), on_one_cpu_device(target)  # LAPACK on several CPU devices hangs
    return mpjpe(procrustes_align(jnp.asarray(pred), jnp.asarray(target)), target)


def n_mpjpe(pred, target):
    """MPJPE after the least-squares scale of `pred` (VideoPose3D's N-MPJPE): `[...]`."""
    _check_pair(pred, target)
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    scale = jnp.sum(pred * target, axis=(-2, -1)) / jnp.maximum(jnp.sum(pred * pred, axis=(-2, -1)), 1e-12)
    return mpjpe(scale[..., None, None] * pred, target)


def pck(pred, target, threshold: float = PCK_THRESHOLD_MM):
    """Fraction of joints with error below `threshold` mm, in [0, 1]: `[...]`."""
    return jnp.mean((joint_errors(pred, target) < threshold).astype(jnp.float32), axis=-1)


def auc(pred, target, thresholds: Sequence[float] = AUC_THRESHOLDS_MM):
    """Area under the PCK curve over `thresholds` (default 0..150 mm in 31 steps), in [0, 1]: `[...]`."""
    errors = joint_errors(pred, target)
    levels = jnp.asarray(thresholds, errors.dtype)
    return jnp.mean((errors[..., None] < levels).astype(jnp.float32), axis=(-2, -1))


_ALIGNMENTS = {
    "mpjpe": lambda hypotheses, target: hypotheses,
    "pa_mpjpe": lambda hypotheses, target: procrustes_align(hypotheses, jnp.broadcast_to(target, hypotheses.shape)),
}
BEST_OF_M_METRICS = tuple(_ALIGNMENTS)
BEST_OF_M_MODES = ("pose", "joint")


@functools.partial(jax.jit, static_argnames=("metric", "chunk_size"))
def _best_of_m_errors(hypotheses, target, metric: str, chunk_size: int):
    """Running minima over hypothesis chunks: (per-pose best `[batch]`, per-joint best `[batch, J]`)."""
    batch, m, joints, _ = hypotheses.shape
    num_chunks = -(-m // chunk_size)
    padded = num_chunks * chunk_size
    hypotheses = jnp.pad(hypotheses, ((0, 0), (0, padded - m), (0, 0), (0, 0)))
    chunks = hypotheses.reshape(batch, num_chunks, chunk_size, joints, 3).swapaxes(0, 1)
    valid_chunks = (jnp.arange(padded) < m).reshape(num_chunks, 1, chunk_size)  # the padding is not a hypothesis
    align = _ALIGNMENTS[metric]

    def body(carry, inputs):
        best_pose, best_joint = carry
        chunk, chunk_valid = inputs  # [batch, chunk, J, 3], [1, chunk]
        errors = jnp.linalg.norm(align(chunk, target[:, None]) - target[:, None], axis=-1)  # [batch, chunk, J]
        errors = jnp.where(chunk_valid[..., None], errors, jnp.inf)
        best_pose = jnp.minimum(best_pose, jnp.min(jnp.mean(errors, axis=-1), axis=1))
        best_joint = jnp.minimum(best_joint, jnp.min(errors, axis=1))
        return (best_pose, best_joint), None

    init = (jnp.full((batch,), jnp.inf, hypotheses.dtype), jnp.full((batch, joints), jnp.inf, hypotheses.dtype))
    (best_pose, best_joint), _ = jax.lax.scan(body, init, (chunks, valid_chunks))
    return best_pose, best_joint


def best_of_m(hypotheses, target, metric: str = "mpjpe", mode: str = "pose", num_hypotheses=None,
              chunk_size: int = 256):
    """`[batch]` best-of-m errors (mm) of `hypotheses [batch, m, J, 3]` against `target [batch, J, 3]`.

    `num_hypotheses`: use the first k (an int, or a sequence of ints: a dict `{k: [batch]}`); `chunk_size`:
    hypotheses aligned at a time.
    """
    if metric not in _ALIGNMENTS:
        raise PoseDiffError(f"metric: expected one of {BEST_OF_M_METRICS}, got {metric!r}")
    if mode not in BEST_OF_M_MODES:
        raise PoseDiffError(f"mode: expected one of {BEST_OF_M_MODES}, got {mode!r}")
    check_array("hypotheses", hypotheses, ("batch", None, "joints", 3))
    check_array("target", target, ("batch", "joints", 3))
    if np.shape(hypotheses)[0] != np.shape(target)[0] or np.shape(hypotheses)[2] != np.shape(target)[1]:
        raise PoseDiffError(f"hypotheses [batch, m, J, 3] and target [batch, J, 3] disagree: "
                            f"{list(np.shape(hypotheses))} vs {list(np.shape(target))}")
    m = np.shape(hypotheses)[1]
    if m == 0:
        raise PoseDiffError("hypotheses: need at least one hypothesis (m = 0)")
    if metric == "pa_mpjpe":  # its SVD (LAPACK) must not run on several CPU devices at once: on_one_cpu_device
        hypotheses, target = on_one_cpu_device(hypotheses), on_one_cpu_device(target)  # once for every k below
    if num_hypotheses is not None and not isinstance(num_hypotheses, (int, np.integer)):
        return {int(k): best_of_m(hypotheses, target, metric, mode, int(k), chunk_size) for k in num_hypotheses}
    k = m if num_hypotheses is None else int(num_hypotheses)
    if not 1 <= k <= m:
        raise PoseDiffError(f"num_hypotheses: expected 1..{m}, got {k}")
    hypotheses = jnp.asarray(hypotheses, jnp.float32)[:, :k]
    target = jnp.asarray(target, jnp.float32)
    best_pose, best_joint = _best_of_m_errors(hypotheses, target, metric, int(min(chunk_size, k)))
    return best_pose if mode == "pose" else jnp.mean(best_joint, axis=-1)


def canonical_action(action: str) -> str:
    """'Walking 1' -> 'Walking', 'SittingDown 2' -> 'SittingDown' (sub-sequence numbers dropped)."""
    return re.sub(r"\s*\d+$", "", action.strip()).strip()


def per_action_mean(values, actions: Iterable[str], canonical: bool = True) -> dict:
    """`{action: mean, ..., 'average': mean of the means}` of `values [N]` (actions sorted; the H36M protocol)."""
    values = np.asarray(values, np.float64).reshape(-1)
    actions = [canonical_action(a) if canonical else a for a in actions]
    if len(actions) != values.shape[0]:
        raise PoseDiffError(f"values and actions: lengths differ ({values.shape[0]} vs {len(actions)})")
    groups: Mapping[str, list] = collections.defaultdict(list)
    for value, action in zip(values, actions):
        groups[action].append(value)
    result = collections.OrderedDict((action, float(np.mean(groups[action]))) for action in sorted(groups))
    result["average"] = float(np.mean(list(result.values()))) if result else float("nan")
    return result
