"""Per-frame metrics of one batch of hypotheses, per benchmark protocol.

Each protocol turns hypotheses `[batch, m, 17, 3]` (mm, root-relative, camera frame) and ground truth
`[batch, 17, 3]` into named per-frame columns `[batch]`:

- every protocol: best-of-k P-best / J-best MPJPE and PA-MPJPE for every k in `num_hypotheses`
  (`{metric}_{pbest|jbest}_m{k}`), the aggregated single estimate's error (`aggregate_mpjpe`,
  `aggregate_pa_mpjpe`), the hypotheses' `diversity` and calibration coverage (`coverage_q50`, ...).
- 'h36m': the above on the 17 joints; the overall number is the mean of per-action means.
- 'mpi_inf_3dhp': plus `pck_pbest_m{k}` and `auc_pbest_m{k}` (PCK@150 mm / AUC of the hypothesis with the
  lowest MPJPE among the first k, no Procrustes, root-relative as in the benchmark) and `aggregate_pck` /
  `aggregate_auc`; reported per sequence and scene type, overall = mean over frames.
- 'pw3d': metrics on the joints 3DPW's SMPL ground truth has (16: SMPL has no head top) under the suffix-less
  names, plus `pa_mpjpe_lsp14_pbest_m{k}` / `aggregate_pa_mpjpe_lsp14` on the LSP-14 subset, with SMPL's head
  (our Neck/Nose, joint 9) standing in for the head top as in `skeleton.SMPL24_TO_LSP14`.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np

from posediff_jax import metrics, skeleton
from posediff_jax.evaluation import hypothesis_metrics
from posediff_jax.validation import PoseDiffError

PROTOCOLS = ("h36m", "mpi_inf_3dhp", "pw3d")
# Joints of the H36M-17 layout that 3DPW's SMPL ground truth provides (all but the head top).
PW3D_JOINTS = np.flatnonzero(skeleton.SMPL24_TO_H36M17 >= 0)
# LSP-14 from H36M-17 for 3DPW: head top read from SMPL's head, which `from_smpl24` puts at Neck/Nose.
PW3D_LSP14_FROM_H36M17 = np.where(skeleton.H36M17_TO_LSP14 == 10, 9, skeleton.H36M17_TO_LSP14)


def best_of_m_columns(hypotheses, target, num_hypotheses: Sequence[int], suffix: str = "") -> dict:
    """`{metric}{suffix}_{pbest|jbest}_m{k}` -> `[batch]` for MPJPE / PA-MPJPE and every k."""
    columns = {}
    for metric in ("mpjpe", "pa_mpjpe"):
        for mode, name in (("pose", "pbest"), ("joint", "jbest")):
            values = metrics.best_of_m(hypotheses, target, metric=metric, mode=mode, num_hypotheses=list(num_hypotheses))
            for k, value in values.items():
                columns[f"{metric}{suffix}_{name}_m{k}"] = np.asarray(value)
    return columns


def pck_of_best(hypotheses, target, num_hypotheses: Sequence[int]) -> dict:
    """PCK@150 / AUC of the lowest-MPJPE hypothesis among the first k, for every k: `[batch]` each."""
    errors = np.asarray(metrics.mpjpe(hypotheses, jnp.asarray(target)[:, None]))  # [batch, m]
    pck = np.asarray(metrics.pck(hypotheses, jnp.asarray(target)[:, None]))
    area = np.asarray(metrics.auc(hypotheses, jnp.asarray(target)[:, None]))
    rows = np.arange(errors.shape[0])
    columns = {}
    for k in num_hypotheses:
        best = np.argmin(errors[:, :k], axis=1)
        columns[f"pck_pbest_m{k}"] = pck[rows, best]
        columns[f"auc_pbest_m{k}"] = area[rows, best]
    return columns


def frame_metrics(
    protocol: str,
    hypotheses,
    target,
    num_hypotheses: Sequence[int],
    calibration_levels: Sequence[float] = hypothesis_metrics.DEFAULT_CALIBRATION_LEVELS,
    aggregate=None,
) -> dict:
    """All per-frame columns of one batch.

    Args:
      protocol: one of `PROTOCOLS`.
      hypotheses: `[batch, m, 17, 3]` mm root-relative.
      target: `[batch, 17, 3]` mm root-relative.
      num_hypotheses: the k of best-of-k (each <= m).
      calibration_levels: quantile levels for the coverage columns.
      aggregate: optional single estimates `[batch, 17, 3]` (default: the mean hypothesis).
    Returns:
      name -> `[batch]` numpy array.
    """
    if protocol not in PROTOCOLS:
        raise PoseDiffError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}")
    m = int(np.shape(hypotheses)[1])
    bad = [k for k in num_hypotheses if not 1 <= int(k) <= m]
    if bad:
        raise PoseDiffError(f"num_hypotheses: {bad} exceed the {m} hypotheses sampled per frame")
    hypotheses = jnp.asarray(hypotheses, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    if aggregate is None:
        aggregate = hypothesis_metrics.aggregate(hypotheses, "mean")
    joints = PW3D_JOINTS if protocol == "pw3d" else np.arange(skeleton.NUM_JOINTS)
    hyps, truth, single = hypotheses[:, :, joints], target[:, joints], jnp.asarray(aggregate)[:, joints]
    columns = best_of_m_columns(hyps, truth, num_hypotheses)
    for name, value in hypothesis_metrics.aggregate_errors(single, truth).items():
        columns[f"aggregate_{name}"] = np.asarray(value)
    columns["diversity"] = np.asarray(hypothesis_metrics.diversity(hyps))
    for level, value in hypothesis_metrics.calibration(hyps, truth, calibration_levels).items():
        columns[hypothesis_metrics.calibration_key(level)] = np.asarray(value)
    if protocol == "mpi_inf_3dhp":
        columns.update(pck_of_best(hyps, truth, num_hypotheses))
        columns["aggregate_pck"] = np.asarray(metrics.pck(single, truth))
        columns["aggregate_auc"] = np.asarray(metrics.auc(single, truth))
    if protocol == "pw3d":
        lsp = PW3D_LSP14_FROM_H36M17
        lsp_hyps, lsp_truth = hypotheses[:, :, lsp], target[:, lsp]
        for k, value in metrics.best_of_m(lsp_hyps, lsp_truth, "pa_mpjpe", "pose", list(num_hypotheses)).items():
            columns[f"pa_mpjpe_lsp14_pbest_m{k}"] = np.asarray(value)
        columns["aggregate_pa_mpjpe_lsp14"] = np.asarray(metrics.pa_mpjpe(jnp.asarray(aggregate)[:, lsp], lsp_truth))
    return columns


def metric_labels(protocol: str, num_hypotheses: Sequence[int], calibration_levels: Sequence[float]) -> dict:
    """Ordered metric -> printed label for the report tables."""
    labels = {}
    for k in num_hypotheses:
        labels[f"mpjpe_pbest_m{k}"] = f"MPJPE P-best m={k} (mm)"
        labels[f"pa_mpjpe_pbest_m{k}"] = f"PA-MPJPE P-best m={k} (mm)"
    for k in num_hypotheses:
        labels[f"mpjpe_jbest_m{k}"] = f"MPJPE J-best m={k} (mm)"
        labels[f"pa_mpjpe_jbest_m{k}"] = f"PA-MPJPE J-best m={k} (mm)"
    if protocol == "mpi_inf_3dhp":
        for k in num_hypotheses:
            labels[f"pck_pbest_m{k}"] = f"PCK@150 P-best m={k}"
            labels[f"auc_pbest_m{k}"] = f"AUC P-best m={k}"
        labels["aggregate_pck"] = "PCK@150 aggregated estimate"
        labels["aggregate_auc"] = "AUC aggregated estimate"
    if protocol == "pw3d":
        for k in num_hypotheses:
            labels[f"pa_mpjpe_lsp14_pbest_m{k}"] = f"PA-MPJPE LSP-14 P-best m={k} (mm)"
        labels["aggregate_pa_mpjpe_lsp14"] = "PA-MPJPE LSP-14 aggregated estimate (mm)"
    labels["aggregate_mpjpe"] = "MPJPE aggregated estimate (mm)"
    labels["aggregate_pa_mpjpe"] = "PA-MPJPE aggregated estimate (mm)"
    labels["diversity"] = "diversity: mean pairwise distance (mm)"
    for level in calibration_levels:
        labels[hypothesis_metrics.calibration_key(level)] = f"calibration coverage q={level:g}"
    return labels


def headline_metrics(protocol: str, num_hypotheses: Sequence[int]) -> list[str]:
    """Columns of the per-group tables."""
    first, last = min(num_hypotheses), max(num_hypotheses)
    if protocol == "mpi_inf_3dhp":
        return [f"pck_pbest_m{first}", f"pck_pbest_m{last}", f"auc_pbest_m{last}", f"mpjpe_pbest_m{last}"]
    if protocol == "pw3d":
        return [f"pa_mpjpe_pbest_m{first}", f"pa_mpjpe_pbest_m{last}", f"pa_mpjpe_lsp14_pbest_m{last}", f"mpjpe_pbest_m{last}"]
    return [f"mpjpe_pbest_m{first}", f"mpjpe_pbest_m{last}", f"pa_mpjpe_pbest_m{last}", "aggregate_mpjpe"]


def metric_precision(labels) -> dict:
    """Decimals for fraction-valued metrics (coverage, PCK, AUC); millimetres use the default."""
    return {metric: 3 for metric in labels if metric.startswith(("coverage_", "pck_", "auc_", "aggregate_pck", "aggregate_auc"))}
