"""Per-frame metrics of one batch of hypotheses, per benchmark protocol.

Each protocol turns hypotheses `[batch, m, 17, 3]` (mm, root-relative, camera frame) and ground truth
`[batch, 17, 3]` into named per-frame columns `[batch]`. What differs per dataset (the joints evaluated, the
grouping, how the overall average is formed, extra metrics, the headline columns) is declared in the dataset
registry (`posediff_jax.data.registry`, `EvaluationProtocol`); this module computes it:

- every protocol: on the protocol's joints, best-of-k P-best / J-best MPJPE and PA-MPJPE for every k in
  `num_hypotheses` (`{metric}_{pbest|jbest}_m{k}`), the error of one draw averaged over all m hypotheses
  (`mpjpe_one_draw`: what best-of-1 estimates, without its one draw's noise: on the first 60 frames of
  configs/eval_h36m.py three seeds of the default gave best-of-1 106.9 / 109.2 / 108.6 mm, the mean over 200
  hypotheses 110.8 / 110.2 for two of them), the aggregated single estimate's error (`aggregate_mpjpe`,
  `aggregate_pa_mpjpe`), the hypotheses' `diversity` and calibration coverage (`coverage_q50`, ...).
- extra metric 'pck_auc' (MPI-INF-3DHP): `pck_pbest_m{k}` and `auc_pbest_m{k}` (PCK@150 mm / AUC of the
  hypothesis with the lowest MPJPE among the first k, no Procrustes, root-relative as in the benchmark) and
  `aggregate_pck` / `aggregate_auc`.
- extra metric 'pa_mpjpe_lsp14' (3DPW): `pa_mpjpe_lsp14_pbest_m{k}` / `aggregate_pa_mpjpe_lsp14` on the LSP-14
  subset, with SMPL's head (our Neck/Nose, joint 9) standing in for the head top as in `skeleton.SMPL24_TO_LSP14`.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np

from posediff_jax import metrics, skeleton
from posediff_jax.data import registry
from posediff_jax.evaluation import hypothesis_metrics
from posediff_jax.validation import PoseDiffError

PROTOCOLS = registry.names()
# Joints of the H36M-17 layout that 3DPW's SMPL ground truth provides (all but the head top).
PW3D_JOINTS = np.asarray(registry.PW3D_JOINTS)
# LSP-14 from H36M-17 for 3DPW: head top read from SMPL's head, which `from_smpl24` puts at Neck/Nose.
PW3D_LSP14_FROM_H36M17 = np.where(skeleton.H36M17_TO_LSP14 == 10, 9, skeleton.H36M17_TO_LSP14)


def protocol_of(name: str) -> registry.EvaluationProtocol:
    """The registered dataset's `EvaluationProtocol`; `PoseDiffError` naming the known ones otherwise."""
    if name not in registry.names():
        raise PoseDiffError(f"protocol: expected one of {registry.names()}, got {name!r}")
    return registry.get(name).protocol


def grouping(name: str) -> tuple:
    """(group fields, field whose group means are averaged for the overall number or None) of a protocol."""
    protocol = protocol_of(name)
    return protocol.group_fields, protocol.average_over


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
    spec = protocol_of(protocol)
    m = int(np.shape(hypotheses)[1])
    bad = [k for k in num_hypotheses if not 1 <= int(k) <= m]
    if bad:
        raise PoseDiffError(f"num_hypotheses: {bad} exceed the {m} hypotheses sampled per frame")
    hypotheses = jnp.asarray(hypotheses, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    if aggregate is None:
        aggregate = hypothesis_metrics.aggregate(hypotheses, "mean")
    aggregate = jnp.asarray(aggregate, jnp.float32)
    joints = spec.joint_indices()
    hyps, truth, single = hypotheses[:, :, joints], target[:, joints], aggregate[:, joints]
    columns = best_of_m_columns(hyps, truth, num_hypotheses)
    columns["mpjpe_one_draw"] = np.asarray(jnp.mean(metrics.mpjpe(hyps, truth[:, None]), axis=1))
    for name, value in hypothesis_metrics.aggregate_errors(single, truth).items():
        columns[f"aggregate_{name}"] = np.asarray(value)
    columns["diversity"] = np.asarray(hypothesis_metrics.diversity(hyps))
    for level, value in hypothesis_metrics.calibration(hyps, truth, calibration_levels).items():
        columns[hypothesis_metrics.calibration_key(level)] = np.asarray(value)
    for extra in spec.extra_metrics:
        columns.update(_extra(extra).columns(hypotheses, target, aggregate, joints, num_hypotheses))
    return columns


class _PckAuc:
    """PCK@150 / AUC on the protocol's joints (MPI-INF-3DHP)."""

    @staticmethod
    def columns(hypotheses, target, aggregate, joints, num_hypotheses) -> dict:
        hyps, truth, single = hypotheses[:, :, joints], target[:, joints], aggregate[:, joints]
        columns = pck_of_best(hyps, truth, num_hypotheses)
        columns["aggregate_pck"] = np.asarray(metrics.pck(single, truth))
        columns["aggregate_auc"] = np.asarray(metrics.auc(single, truth))
        return columns

    @staticmethod
    def labels(num_hypotheses) -> dict:
        labels = {}
        for k in num_hypotheses:
            labels[f"pck_pbest_m{k}"] = f"PCK@150 P-best m={k}"
            labels[f"auc_pbest_m{k}"] = f"AUC P-best m={k}"
        labels["aggregate_pck"] = "PCK@150 aggregated estimate"
        labels["aggregate_auc"] = "AUC aggregated estimate"
        return labels


class _PaMpjpeLsp14:
    """PA-MPJPE on LSP-14 with SMPL's head as the head top (3DPW)."""

    @staticmethod
    def columns(hypotheses, target, aggregate, joints, num_hypotheses) -> dict:
        del joints  # LSP-14 has its own joint subset
        lsp = PW3D_LSP14_FROM_H36M17
        lsp_hyps, lsp_truth = hypotheses[:, :, lsp], target[:, lsp]
        columns = {}
        for k, value in metrics.best_of_m(lsp_hyps, lsp_truth, "pa_mpjpe", "pose", list(num_hypotheses)).items():
            columns[f"pa_mpjpe_lsp14_pbest_m{k}"] = np.asarray(value)
        columns["aggregate_pa_mpjpe_lsp14"] = np.asarray(metrics.pa_mpjpe(aggregate[:, lsp], lsp_truth))
        return columns

    @staticmethod
    def labels(num_hypotheses) -> dict:
        labels = {f"pa_mpjpe_lsp14_pbest_m{k}": f"PA-MPJPE LSP-14 P-best m={k} (mm)" for k in num_hypotheses}
        labels["aggregate_pa_mpjpe_lsp14"] = "PA-MPJPE LSP-14 aggregated estimate (mm)"
        return labels


# Extra metric families a dataset's `EvaluationProtocol.extra_metrics` may name: per-frame columns + labels.
EXTRA_METRICS = {"pck_auc": _PckAuc, "pa_mpjpe_lsp14": _PaMpjpeLsp14}


def _extra(name: str):
    if name not in EXTRA_METRICS:
        raise PoseDiffError(f"extra metric {name!r}: expected one of {sorted(EXTRA_METRICS)}")
    return EXTRA_METRICS[name]


def metric_labels(protocol: str, num_hypotheses: Sequence[int], calibration_levels: Sequence[float]) -> dict:
    """Ordered metric -> printed label for the report tables."""
    labels = {}
    for k in num_hypotheses:
        labels[f"mpjpe_pbest_m{k}"] = f"MPJPE P-best m={k} (mm)"
        labels[f"pa_mpjpe_pbest_m{k}"] = f"PA-MPJPE P-best m={k} (mm)"
    for k in num_hypotheses:
        labels[f"mpjpe_jbest_m{k}"] = f"MPJPE J-best m={k} (mm)"
        labels[f"pa_mpjpe_jbest_m{k}"] = f"PA-MPJPE J-best m={k} (mm)"
    for extra in protocol_of(protocol).extra_metrics:
        labels.update(_extra(extra).labels(num_hypotheses))
    labels["mpjpe_one_draw"] = "MPJPE of one draw, mean over hypotheses (mm)"
    labels["aggregate_mpjpe"] = "MPJPE aggregated estimate (mm)"
    labels["aggregate_pa_mpjpe"] = "PA-MPJPE aggregated estimate (mm)"
    labels["diversity"] = "diversity: mean pairwise distance (mm)"
    for level in calibration_levels:
        labels[hypothesis_metrics.calibration_key(level)] = f"calibration coverage q={level:g}"
    return labels


def headline_metrics(protocol: str, num_hypotheses: Sequence[int]) -> list[str]:
    """Columns of the per-group tables."""
    return protocol_of(protocol).headline_metrics(num_hypotheses)


def metric_precision(labels) -> dict:
    """Decimals for fraction-valued metrics (coverage, PCK, AUC); millimetres use the default."""
    return {metric: 3 for metric in labels if metric.startswith(("coverage_", "pck_", "auc_", "aggregate_pck", "aggregate_auc"))}
