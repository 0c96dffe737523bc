"""`posediff demo` smoke run with a tiny prior: the table, the PNGs, and the shipped examples file."""

import numpy as np

from posediff_jax import cli
from posediff_jax.commands import demo


def test_shipped_examples_are_small_and_consistent():
    assert demo.EXAMPLES_PATH.stat().st_size < 100_000
    examples = demo.load_examples()
    count = len(examples["pose_3d"])
    assert count == 8 and examples["pose_3d"].shape == (count, 17, 3)
    np.testing.assert_allclose(examples["pose_3d"][:, 0], 0.0, atol=1e-3)
    assert examples["keypoints_2d_detected"].shape == (count, 17, 2)
    assert examples["detection_mask"].dtype == bool and not examples["detection_mask"][:, 7].any()
    assert set(examples["subject"]) == {"S9"} and len(set(examples["action"])) == count
    # The detections lie near the ground-truth projection (same camera, same frame).
    distance = np.linalg.norm(examples["keypoints_2d_detected"] - examples["keypoints_2d_gt"], axis=-1)
    assert np.median(distance[examples["detection_mask"]]) < 30.0


def test_table_levels():
    assert demo.table_levels(100) == [1, 10, 50, 100]
    assert demo.table_levels(4) == [1, 4]


def test_demo_writes_table_and_pngs(tmp_path, monkeypatch, capsys):
    import jax

    jax.config.update("jax_disable_most_optimizations", True)
    try:
        code = cli.main(["demo", "--output-dir", str(tmp_path), "--num-hypotheses", "4", "--steps", "2",
                         "--prior", "tiny"])
    finally:
        jax.config.update("jax_disable_most_optimizations", False)
    assert code == 0
    output = capsys.readouterr().out
    assert "| m | MPJPE P-best (mm) | PA-MPJPE P-best (mm) | MPJPE J-best (mm) |" in output
    rows = [line for line in output.splitlines() if line.startswith("| 1 |") or line.startswith("| 4 |")]
    assert len(rows) == 2
    best_of_1, best_of_4 = (float(row.split("|")[2]) for row in rows)
    assert best_of_4 <= best_of_1 + 1e-6
    pngs = sorted(path.name for path in tmp_path.glob("*.png"))
    assert len([name for name in pngs if name.startswith("h36m_s9_")]) == 8
    for path in tmp_path.glob("*.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if "image path skipped" in output:
        assert "pip install" in output
    else:
        assert "apollo11_crew_hypotheses.png" in pngs


def test_demo_rejects_bad_arguments(capsys):
    assert cli.main(["demo", "--num-hypotheses", "0", "--no-image"]) == 2
    assert "--num-hypotheses" in capsys.readouterr().err


def test_demo_loads_a_second_prior_only_when_auto_switches(tmp_path, monkeypatch):
    """With exact 2D examples, `--prior auto` samples them from the bone-proportion prior and the photo (a
    detector's 2D) from the default one; a named prior is loaded once for both."""
    import jax

    from posediff_jax import prior as prior_lib
    from posediff_jax.prior.tiny import make_tiny_prior

    requests = []

    def fake_resolve(spec=None, build_network=True, exact_evidence=False):
        requests.append((spec, exact_evidence))
        return make_tiny_prior()

    monkeypatch.setattr(prior_lib, "resolve_prior", fake_resolve)
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        for prior in ("auto", "tiny"):
            assert cli.main(["demo", "--output-dir", str(tmp_path / prior), "--num-hypotheses", "2", "--steps", "2",
                             "--evidence", "gt_heatmaps", "--prior", prior]) == 0
    finally:
        jax.config.update("jax_disable_most_optimizations", False)
    photo = (tmp_path / "auto" / "apollo11_crew_hypotheses.png").exists()
    assert requests == [("auto", True)] + [("auto", False)] * photo + [("tiny", True)]
