"""Evaluation outputs: a summary (overall + per group) of per-frame columns, Markdown, JSON and per-frame `.npz`."""

import collections
import json
import math
import pathlib
from typing import Any, Mapping, Sequence

import numpy as np

from posediff_jax.evaluation.results_store import save_npz
from posediff_jax.io_utils import write_text_atomic
from posediff_jax.metrics import canonical_action
from posediff_jax.validation import PoseDiffError


def _group_means(values: np.ndarray, groups: np.ndarray) -> "collections.OrderedDict[str, float]":
    result = collections.OrderedDict()
    for group in sorted(set(groups.tolist())):
        selected = values[groups == group]
        selected = selected[np.isfinite(selected)]
        result[group] = float(np.mean(selected)) if selected.size else float("nan")
    return result


def summarize(per_frame: Mapping[str, np.ndarray], metrics: Sequence[str], group_fields: Sequence[str] = (),
              average_over_group: str | None = None, canonical_actions: bool = True) -> dict:
    """`{'num_frames', 'overall': {metric: mean}, 'by_<field>': {group: {metric: mean}}}` of per-frame columns.

    `average_over_group` (e.g. 'action'): 'overall' is the mean of that field's group means, else of the frames.
    `canonical_actions`: 'Walking 1' -> 'Walking' in a field called 'action'.
    """
    if not per_frame:
        raise PoseDiffError("no per-frame results to summarise (did any batch finish?)")
    missing = [name for name in list(metrics) + list(group_fields) if name not in per_frame]
    if missing:
        raise PoseDiffError(f"per-frame results lack the fields {missing}")
    num_frames = int(np.shape(per_frame[metrics[0]])[0]) if metrics else 0
    groups = {}
    for field in group_fields:
        labels = np.asarray(per_frame[field]).astype(str)
        if field == "action" and canonical_actions:
            labels = np.asarray([canonical_action(label) for label in labels])
        groups[field] = labels
    if average_over_group is not None and average_over_group not in groups:
        raise PoseDiffError(f"average_over_group {average_over_group!r} must be one of the group fields {list(groups)}")
    summary: dict[str, Any] = {"num_frames": num_frames, "overall": collections.OrderedDict(),
                               **{f"by_{field}": collections.OrderedDict() for field in group_fields}}
    for metric in metrics:
        values = np.asarray(per_frame[metric], np.float64).reshape(num_frames, -1).mean(axis=1)
        for field, labels in groups.items():
            for group, value in _group_means(values, labels).items():
                summary[f"by_{field}"].setdefault(group, collections.OrderedDict())[metric] = value
        if average_over_group is not None:
            means = list(_group_means(values, groups[average_over_group]).values())
            summary["overall"][metric] = float(np.nanmean(means)) if means else float("nan")
        else:
            finite = values[np.isfinite(values)]
            summary["overall"][metric] = float(np.mean(finite)) if finite.size else float("nan")
    return summary


def _format(value: Any, digits: int) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 1) -> str:
    """A GitHub Markdown table; floats printed with `digits` decimals, NaN as '-'."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_format(value, digits) for value in row) + " |")
    return "\n".join(lines)


def summary_markdown(summary: Mapping[str, Any], labels: Mapping[str, str], headline: Sequence[str] = (),
                     nominal: Mapping[str, float] | None = None, title: str = "", digits: int = 1,
                     precision: Mapping[str, int] | None = None) -> str:
    """One overall table (metric, value[, nominal]) and one per group field, for the labelled metrics.

    `headline`: the per-group columns (default: the first four labels); `precision`: decimals per metric.
    """
    nominal = dict(nominal or {})
    precision = dict(precision or {})

    def cell(metric, value):
        return _format(value, precision.get(metric, digits))

    parts = [f"### {title}\n"] if title else []
    rows = [[label, cell(metric, summary["overall"][metric]), cell(metric, nominal.get(metric))]
            for metric, label in labels.items() if metric in summary["overall"]]
    header = ["metric", f"value ({summary['num_frames']} frames)"]
    if nominal:
        header.append("nominal")
    else:
        rows = [row[:2] for row in rows]
    parts.append(markdown_table(header, rows, digits=digits))
    headline = [metric for metric in (headline or list(labels)[:4]) if metric in summary["overall"]]
    for key, groups in summary.items():
        if not key.startswith("by_") or not groups:
            continue
        field = key[3:]
        group_rows = [[group] + [cell(metric, values.get(metric)) for metric in headline]
                      for group, values in groups.items()]
        group_rows.append(["**average**"] + [cell(metric, summary["overall"][metric]) for metric in headline])
        parts.append(f"\nPer {field}:\n")
        parts.append(markdown_table([field] + [labels.get(metric, metric) for metric in headline], group_rows, digits))
    return "\n".join(parts) + "\n"


def write_json(path, payload: Mapping[str, Any]) -> pathlib.Path:
    """Writes `payload` as indented JSON atomically (NaN -> null)."""

    def clean(value):
        if isinstance(value, Mapping):
            return {str(key): clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        if isinstance(value, (np.floating, float)):
            return None if not math.isfinite(float(value)) else float(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.ndarray):
            return clean(value.tolist())
        return value

    path = pathlib.Path(path)
    write_text_atomic(path, json.dumps(clean(payload), indent=2) + "\n")
    return path


def write_reports(workdir, record: Mapping[str, Any], markdown: str) -> dict:
    """Writes `record` as `results.json` and `markdown` as `results.md` atomically; returns their paths."""
    markdown_path = pathlib.Path(workdir) / "results.md"
    paths = {"json": write_json(pathlib.Path(workdir) / "results.json", record)}
    write_text_atomic(markdown_path, markdown)
    return {**paths, "markdown": markdown_path}


def write_per_frame(path, per_frame: Mapping[str, np.ndarray]) -> pathlib.Path:
    """Writes the per-frame results to `path` (.npz) atomically."""
    save_npz(pathlib.Path(path), per_frame)
    return pathlib.Path(path)
