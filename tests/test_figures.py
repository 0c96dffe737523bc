"""The evaluation figure (posediff_jax/evaluation/figures.py): which metrics become best-of-m curves, the panels a
summary gets, and the PNG written beside results.md."""

import numpy as np

from posediff_jax.evaluation import figures

LABELS = {
    "mpjpe_pbest_m1": "MPJPE P-best m=1 (mm)", "mpjpe_pbest_m10": "MPJPE P-best m=10 (mm)",
    "mpjpe_pbest_m200": "MPJPE P-best m=200 (mm)", "pck_pbest_m1": "PCK P-best m=1", "pck_pbest_m200":
    "PCK P-best m=200", "aggregate_mpjpe": "MPJPE aggregated estimate (mm)", "diversity": "diversity (mm)",
}


def summary(with_fractions=False):
    overall = {"mpjpe_pbest_m200": 60.0, "mpjpe_pbest_m1": 110.0, "mpjpe_pbest_m10": 75.0,
               "aggregate_mpjpe": 88.0, "diversity": 80.0}
    if with_fractions:
        overall.update({"pck_pbest_m1": 0.6, "pck_pbest_m200": 0.9})
    groups = {"Walking": {"mpjpe_pbest_m200": 45.0}, "Sitting": {"mpjpe_pbest_m200": 95.0},
              "Eating": {"mpjpe_pbest_m200": 55.0}}
    return {"num_frames": 9, "overall": overall, "by_action": groups}


def test_curves_are_the_metric_families_measured_at_several_m():
    curves = figures.best_of_m_curves({"mpjpe_pbest_m200": 60.0, "mpjpe_pbest_m1": 110.0, "pck_pbest_m5": 0.5,
                                       "pa_mpjpe_pbest_m1": np.nan, "pa_mpjpe_pbest_m10": 50.0, "diversity": 80.0})
    assert dict(curves) == {"mpjpe_pbest": [(1, 110.0), (200, 60.0)]}  # m ascending; one point or NaN: no curve


def test_figure_has_a_curve_panel_per_unit_and_groups_worst_first():
    figure = figures.summary_figure(summary(with_fractions=True), LABELS, ["mpjpe_pbest_m1", "mpjpe_pbest_m200"],
                                    title="test")
    millimetres, fractions, groups = figure.axes
    (curve,) = [line for line in millimetres.lines if line.get_label() == "MPJPE P-best"]
    assert list(curve.get_xdata()) == [1, 10, 200] and list(curve.get_ydata()) == [110.0, 75.0, 60.0]
    assert any("aggregated estimate" in line.get_label() for line in millimetres.lines)  # the single estimate
    assert [line.get_label() for line in fractions.lines] == ["PCK P-best"]
    assert [label.get_text() for label in groups.get_yticklabels()] == ["Walking", "Eating", "Sitting"]  # bottom up
    assert "m=200" in groups.get_xlabel()


def test_fraction_groups_put_the_lowest_first():
    fractions = {"num_frames": 3, "overall": {"pck_pbest_m1": 0.6, "pck_pbest_m200": 0.9},
                 "by_sequence": {"a": {"pck_pbest_m200": 0.95}, "b": {"pck_pbest_m200": 0.7}}}
    figure = figures.summary_figure(fractions, LABELS, ["pck_pbest_m200"])
    assert [label.get_text() for label in figure.axes[-1].get_yticklabels()] == ["a", "b"]  # bottom up: lowest on top


def test_no_curve_no_figure_and_the_png_is_written(tmp_path):
    assert figures.summary_figure({"num_frames": 1, "overall": {"diversity": 3.0}}, LABELS, []) is None
    assert figures.write_summary_figure(tmp_path / "none.png", {"num_frames": 1, "overall": {}}, LABELS, []) is None
    path = figures.write_summary_figure(tmp_path / "results.png", summary(), LABELS, ["mpjpe_pbest_m200"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob(".*"))  # no temporary left
