"""The evaluation's figure `results.png`: best-of-m curves and the per-group breakdown, from a summary only.

Left: every `<family>_m<k>` family against m (log axis), aggregated estimates dashed; mm and fractions on
separate panels. Right: the first headline metric at the largest m per group, worst at the top.
"""

import collections
import itertools
import re
from typing import Mapping, Optional, Sequence

import numpy as np

_FAMILY = re.compile(r"^(?P<family>.+)_m(?P<m>\d+)$")


def best_of_m_curves(values: Mapping[str, float]) -> "collections.OrderedDict[str, list[tuple[int, float]]]":
    """Families measured at two or more m: `{'mpjpe_pbest': [(1, 108.3), (10, 76.8), ...]}`, finite values only."""
    curves: "collections.OrderedDict[str, list[tuple[int, float]]]" = collections.OrderedDict()
    for name, value in values.items():
        match = _FAMILY.match(name)
        if match and value is not None and np.isfinite(value):
            curves.setdefault(match["family"], []).append((int(match["m"]), float(value)))
    return collections.OrderedDict((family, sorted(points)) for family, points in curves.items() if len(points) > 1)


def _unit(label: str) -> str:
    return "mm" if label.endswith("(mm)") else "fraction"


def _family_unit(family: str, points, labels: Mapping[str, str]) -> str:
    return _unit(labels.get(f"{family}_m{points[0][0]}", ""))


def _family_label(family: str, labels: Mapping[str, str]) -> str:
    """'MPJPE P-best' from the label of any of the family's metrics ('MPJPE P-best m=1 (mm)')."""
    for name, label in labels.items():
        match = _FAMILY.match(name)
        if match and match["family"] == family:
            return re.sub(r"\s*m=\d+", "", label).replace(" (mm)", "")
    return family


def summary_figure(summary: Mapping, labels: Mapping[str, str], headline: Sequence[str], title: str = ""):
    """The matplotlib Figure of `report.summarize`'s `summary`; None when no metric was measured at two m."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry to touch
    overall = summary["overall"]
    curves = best_of_m_curves(overall)
    if not curves:
        return None
    units = list(dict.fromkeys(_family_unit(family, points, labels) for family, points in curves.items()))
    group_field = next((key for key in summary if key.startswith("by_")), None)
    group_metric = _group_metric(headline, overall)
    columns = len(units) + (1 if group_field and group_metric else 0)
    figure = Figure(figsize=(5.2 * columns, 4.4))
    axes = list(figure.subplots(1, columns, squeeze=False)[0])
    for axis, unit in zip(axes, units):
        _draw_curves(axis, curves, overall, labels, unit)
    if group_field and group_metric:
        _draw_groups(axes[-1], summary[group_field], group_metric, labels.get(group_metric, group_metric),
                     group_field[len("by_"):])
    if title:
        figure.suptitle(title, fontsize=8, wrap=True)
    figure.tight_layout()
    return figure


def _group_metric(headline: Sequence[str], overall: Mapping[str, float]) -> Optional[str]:
    """The first headline metric at its largest m (e.g. 'mpjpe_pbest_m200')."""
    families = best_of_m_curves({name: overall.get(name, np.nan) for name in headline})
    if not families:
        return next((name for name in headline if name in overall), None)
    family, points = next(iter(families.items()))
    return f"{family}_m{points[-1][0]}"


def _draw_curves(axis, curves, overall, labels, unit: str) -> None:
    colours = itertools.cycle(plotting_colours())
    for family, points in curves.items():
        if _family_unit(family, points, labels) != unit:
            continue
        m, values = zip(*points)
        colour = next(colours)
        axis.plot(m, values, marker="o", color=colour, label=_family_label(family, labels))
        axis.annotate(f"{values[-1]:.1f}" if unit == "mm" else f"{values[-1]:.3f}", (m[-1], values[-1]),
                      textcoords="offset points", xytext=(4, 0), fontsize=7, color=colour, va="center")
    for name, value in overall.items():  # single estimates (aggregate_*) of the same unit, as references
        if name.startswith("aggregate_") and np.isfinite(value) and _unit(labels.get(name, "")) == unit:
            axis.axhline(value, linestyle="--", linewidth=1, color=next(colours),
                         label=f"{labels.get(name, name).replace(' (mm)', '')}: {value:.1f}")
    axis.set_xscale("log")
    ticks = sorted({m for points in curves.values() for m, _ in points})
    axis.set_xticks(ticks, [str(m) for m in ticks])
    axis.minorticks_off()
    axis.set_xlabel("hypotheses per input, m (log scale)")
    axis.set_ylabel("error (mm), lower is better" if unit == "mm" else "fraction, higher is better")
    axis.set_title("best of m hypotheses" if unit == "mm" else "best of m hypotheses (fractions)", fontsize=9)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7)


def _draw_groups(axis, groups: Mapping[str, Mapping[str, float]], metric: str, label: str, field: str) -> None:
    sign = 1.0 if _unit(label) != "mm" else -1.0  # errors: largest is worst; fractions (PCK, AUC): smallest
    rows = sorted(((name, values.get(metric, np.nan)) for name, values in groups.items()),
                  key=lambda row: sign * np.nan_to_num(row[1], nan=-sign * np.inf))
    names = [name for name, _ in rows][::-1]
    values = [value for _, value in rows][::-1]
    axis.barh(range(len(names)), values, color=plotting_colours()[0])
    axis.set_yticks(range(len(names)), names, fontsize=7)
    for index, value in enumerate(values):
        if np.isfinite(value):
            axis.annotate(f"{value:.1f}", (value, index), textcoords="offset points", xytext=(2, 0), fontsize=6,
                          va="center")
    axis.set_xlabel(label)
    axis.set_title(f"per {field}", fontsize=9)


def plotting_colours() -> list:
    import matplotlib
    return list(matplotlib.colormaps["tab10"].colors)


def write_summary_figure(path, summary: Mapping, labels: Mapping[str, str], headline: Sequence[str],
                         title: str = ""):
    """Writes `summary_figure(...)` as a PNG atomically; returns the path, or None when there is nothing to plot."""
    from posediff_jax.io_utils import atomic_path
    figure = summary_figure(summary, labels, headline, title)
    if figure is None:
        return None
    with atomic_path(path) as temporary:
        figure.savefig(str(temporary), dpi=110, format="png")
    return path
