"""Per-frame metrics `[batch]` of hypotheses `[batch, m, 17, 3]` (mm, root-relative), per benchmark protocol.

What differs per dataset is declared in `data.registry.EvaluationProtocol`. Every protocol: best-of-k P-best /
J-best MPJPE and PA-MPJPE, `mpjpe_one_draw` (one draw's error averaged over the m), the aggregated estimate's
errors, `diversity` and calibration coverage. Extras: 'pck_auc' (PCK@150 / AUC of the lowest-MPJPE hypothesis)
and 'pa_mpjpe_lsp14' (LSP-14 with SMPL's head, our joint 9, as the head top).
"""

from typing import Sequence

import jax.numpy as jnp
import numpy as np

from posediff_jax import metrics, skeleton
from posediff_jax.data import registry
from posediff_jax.evaluation import hypothesis_metrics
from posediff_jax.validation import PoseDiffError

PROTOCOLS = registry.names()
# LSP-14 from H36M-17 for 3DPW: head top read from SMPL's head, which `from_smpl24` puts at Neck/Nose.
PW3D_LSP14_FROM_H36M17 = np.where(skeleton.H36M17_TO_LSP14 == 10, 9, skeleton.H36M17_TO_LSP14)


def protocol_of(name: str) -> registry.EvaluationProtocol:
    if name not in registry.names():
        raise PoseDiffError(f"protocol: expected one of {registry.names()}, got {name!r}")
    return registry.get(name).protocol


def grouping(name: str) -> tuple:
    """(group fields, the field whose group means form the overall number, or None)."""
    protocol = protocol_of(name)
    return protocol.group_fields, protocol.average_over


def frame_metrics(protocol: str, hypotheses, target, num_hypotheses: Sequence[int],
                  calibration_levels: Sequence[float] = hypothesis_metrics.DEFAULT_CALIBRATION_LEVELS,
                  aggregate=None) -> dict:
    """Every per-frame column (name -> `[batch]`) of one batch; `aggregate` `[batch, 17, 3]` defaults to the mean."""
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
    columns = {}  # {mpjpe|pa_mpjpe}_{pbest|jbest}_m{k}
    for metric in ("mpjpe", "pa_mpjpe"):
        for mode, name in (("pose", "pbest"), ("joint", "jbest")):
            values = metrics.best_of_m(hyps, truth, metric=metric, mode=mode, num_hypotheses=list(num_hypotheses))
            columns.update({f"{metric}_{name}_m{k}": np.asarray(value) for k, value in values.items()})
    columns["mpjpe_one_draw"] = np.asarray(jnp.mean(metrics.mpjpe(hyps, truth[:, None]), axis=1))
    for name, value in hypothesis_metrics.aggregate_errors(single, truth).items():
        columns[f"aggregate_{name}"] = np.asarray(value)
    columns["diversity"] = np.asarray(hypothesis_metrics.diversity(hyps))
    for level, value in hypothesis_metrics.calibration(hyps, truth, calibration_levels).items():
        columns[hypothesis_metrics.calibration_key(level)] = np.asarray(value)
    for extra in spec.extra_metrics:
        columns.update(_extra(extra)[0](hypotheses, target, aggregate, joints, num_hypotheses))
    return columns


def _pck_auc_columns(hypotheses, target, aggregate, joints, num_hypotheses) -> dict:
    """PCK@150 / AUC on the protocol's joints (MPI-INF-3DHP) of the lowest-MPJPE hypothesis among the first k."""
    hyps, truth, single = hypotheses[:, :, joints], target[:, joints], aggregate[:, joints]
    measures = (metrics.mpjpe, metrics.pck, metrics.auc)
    errors, pck, area = (np.asarray(measure(hyps, truth[:, None])) for measure in measures)  # [batch, m] each
    rows, columns = np.arange(errors.shape[0]), {}
    for k in num_hypotheses:
        best = np.argmin(errors[:, :k], axis=1)
        columns[f"pck_pbest_m{k}"] = pck[rows, best]
        columns[f"auc_pbest_m{k}"] = area[rows, best]
    columns["aggregate_pck"] = np.asarray(metrics.pck(single, truth))
    columns["aggregate_auc"] = np.asarray(metrics.auc(single, truth))
    return columns


def _pck_auc_labels(num_hypotheses) -> dict:
    labels = {}
    for k in num_hypotheses:
        labels[f"pck_pbest_m{k}"] = f"PCK@150 P-best m={k}"
        labels[f"auc_pbest_m{k}"] = f"AUC P-best m={k}"
    return {**labels, "aggregate_pck": "PCK@150 aggregated estimate", "aggregate_auc": "AUC aggregated estimate"}


def _lsp14_columns(hypotheses, target, aggregate, joints, num_hypotheses) -> dict:
    """PA-MPJPE on LSP-14 with SMPL's head as the head top (3DPW); LSP-14 has its own joints."""
    lsp = PW3D_LSP14_FROM_H36M17
    lsp_hyps, lsp_truth = hypotheses[:, :, lsp], target[:, lsp]
    columns = {f"pa_mpjpe_lsp14_pbest_m{k}": np.asarray(value) for k, value in
               metrics.best_of_m(lsp_hyps, lsp_truth, "pa_mpjpe", "pose", list(num_hypotheses)).items()}
    columns["aggregate_pa_mpjpe_lsp14"] = np.asarray(metrics.pa_mpjpe(aggregate[:, lsp], lsp_truth))
    return columns


def _lsp14_labels(num_hypotheses) -> dict:
    labels = {f"pa_mpjpe_lsp14_pbest_m{k}": f"PA-MPJPE LSP-14 P-best m={k} (mm)" for k in num_hypotheses}
    return {**labels, "aggregate_pa_mpjpe_lsp14": "PA-MPJPE LSP-14 aggregated estimate (mm)"}


# Extra metric families a dataset's `EvaluationProtocol.extra_metrics` may name: (columns, labels) functions.
EXTRA_METRICS = {"pck_auc": (_pck_auc_columns, _pck_auc_labels), "pa_mpjpe_lsp14": (_lsp14_columns, _lsp14_labels)}


def _extra(name: str):
    if name not in EXTRA_METRICS:
        raise PoseDiffError(f"extra metric {name!r}: expected one of {sorted(EXTRA_METRICS)}")
    return EXTRA_METRICS[name]


def metric_labels(protocol: str, num_hypotheses: Sequence[int], calibration_levels: Sequence[float]) -> dict:
    """Ordered metric -> printed label for the report tables."""
    labels = {}
    for name, mode in (("pbest", "P-best"), ("jbest", "J-best")):
        for k in num_hypotheses:
            labels[f"mpjpe_{name}_m{k}"] = f"MPJPE {mode} m={k} (mm)"
            labels[f"pa_mpjpe_{name}_m{k}"] = f"PA-MPJPE {mode} m={k} (mm)"
    for extra in protocol_of(protocol).extra_metrics:
        labels.update(_extra(extra)[1](num_hypotheses))
    labels["mpjpe_one_draw"] = "MPJPE of one draw, mean over hypotheses (mm)"
    labels["aggregate_mpjpe"] = "MPJPE aggregated estimate (mm)"
    labels["aggregate_pa_mpjpe"] = "PA-MPJPE aggregated estimate (mm)"
    labels["diversity"] = "diversity: mean pairwise distance (mm)"
    for level in calibration_levels:
        labels[hypothesis_metrics.calibration_key(level)] = f"calibration coverage q={level:g}"
    return labels


def headline_metrics(protocol: str, num_hypotheses: Sequence[int]) -> list[str]:
    return protocol_of(protocol).headline_metrics(num_hypotheses)


def metric_precision(labels) -> dict:
    """Decimals for fraction-valued metrics (coverage, PCK, AUC); millimetres use the default."""
    fractions = ("coverage_", "pck_", "auc_", "aggregate_pck", "aggregate_auc")
    return {metric: 3 for metric in labels if metric.startswith(fractions)}
