"""Evaluation: resumable results store, summaries and reports, and the driver on fixture data."""

import json
import os

import numpy as np
import pytest

from posediff_jax import io_utils
from posediff_jax.evaluation import report, results_store
from posediff_jax.validation import PoseDiffError


def test_store_saves_atomically_and_reloads(tmp_path):
    store = results_store.ResultsStore(tmp_path, {"dataset": "h36m", "levels": (0.5, 0.9)})
    assert store.done_indices() == []
    store.save(3, {"error": np.array([1.0, 2.0]), "action": np.array(["Walking 1", "Eating"])})
    store.save(1, {"error": np.array([5.0]), "action": np.array(["Sitting"])})
    assert store.is_done(1) and store.is_done(3) and not store.is_done(2)
    assert store.done_indices() == [1, 3]
    merged = store.load_all()
    np.testing.assert_array_equal(merged["error"], [5.0, 1.0, 2.0])
    assert merged["action"].tolist() == ["Sitting", "Walking 1", "Eating"]
    assert not [name for name in os.listdir(store.batch_dir) if name.endswith(".tmp")]


def test_store_resumes_with_same_fingerprint_and_refuses_another(tmp_path):
    results_store.ResultsStore(tmp_path, {"dataset": "h36m", "steps": 25}).save(0, {"error": np.zeros(2)})
    resumed = results_store.ResultsStore(tmp_path, {"steps": 25, "dataset": "h36m"})
    assert resumed.done_indices() == [0]
    with pytest.raises(results_store.WorkdirMismatchError, match="steps"):
        results_store.ResultsStore(tmp_path, {"dataset": "h36m", "steps": 50})


def test_failed_write_leaves_no_batch_file(tmp_path):
    store = results_store.ResultsStore(tmp_path, {})

    with pytest.raises(RuntimeError):
        with io_utils.atomic_path(store.batch_path(0)) as temporary:  # how every batch file is written
            temporary.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert not store.is_done(0)
    assert os.listdir(store.batch_dir) == []


def test_store_rejects_object_arrays_and_missing_batches(tmp_path):
    store = results_store.ResultsStore(tmp_path, {})
    with pytest.raises(PoseDiffError, match="object"):
        store.save(0, {"bad": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(PoseDiffError, match="batch 7"):
        store.load(7)


def test_store_sets_a_damaged_batch_aside_and_counts_it_not_done(tmp_path):
    store = results_store.ResultsStore(tmp_path, {"dataset": "h36m"})
    store.save(0, {"error": np.zeros(2)})
    store.save(1, {"error": np.ones(2)})
    store.batch_path(1).write_bytes(b"")  # a disk that filled up; junk reads the same
    with pytest.warns(results_store.DamagedBatchWarning, match="batch_000001.npz: unreadable"):
        assert store.is_done(0) and not store.is_done(1)  # not an EOFError at the end of the run
    assert (store.batch_dir / "batch_000001.npz.damaged").exists() and store.done_indices() == [0]


def test_store_refuses_a_damaged_run_file_and_names_differing_keys(tmp_path):
    results_store.ResultsStore(tmp_path / "a", {"config": {"data": {"max_frames": 8}, "seed": 0}, "prior": "x"})
    with pytest.raises(results_store.WorkdirMismatchError,
                       match=r"settings differ: config\.data\.max_frames 8 -> 16\)"):
        results_store.ResultsStore(tmp_path / "a", {"config": {"data": {"max_frames": 16}, "seed": 0}, "prior": "x"})
    (tmp_path / "a" / "run.json").write_text("{junk")
    with pytest.raises(results_store.WorkdirMismatchError, match=r"run\.json is unreadable"):
        results_store.ResultsStore(tmp_path / "a", {})  # not a JSONDecodeError traceback
    assert (tmp_path / "a" / "run.json").read_text() == "{junk"  # left for the user to inspect


def test_summarize_averages_over_action_means():
    per_frame = {
        "mpjpe": np.array([10.0, 20.0, 30.0, 100.0]),
        "action": np.array(["Walking 1", "Walking 2", "Walking", "Eating"]),
    }
    summary = report.summarize(per_frame, ["mpjpe"], ["action"], average_over_group="action")
    assert summary["num_frames"] == 4
    assert summary["by_action"]["Walking"]["mpjpe"] == pytest.approx(20.0)
    assert summary["by_action"]["Eating"]["mpjpe"] == pytest.approx(100.0)
    assert summary["overall"]["mpjpe"] == pytest.approx(60.0)  # mean of per-action means, not of frames
    frames = report.summarize(per_frame, ["mpjpe"], ["action"])
    assert frames["overall"]["mpjpe"] == pytest.approx(40.0)


def test_summarize_reports_missing_fields():
    with pytest.raises(PoseDiffError, match="lack"):
        report.summarize({"mpjpe": np.zeros(3)}, ["mpjpe", "pa_mpjpe"])
    with pytest.raises(PoseDiffError, match="no per-frame"):
        report.summarize({}, ["mpjpe"])


def test_markdown_and_json_outputs(tmp_path):
    per_frame = {
        "mpjpe": np.array([10.0, 30.0]),
        "coverage_q90": np.array([0.8, 1.0]),
        "action": np.array(["Walking", "Eating"]),
    }
    summary = report.summarize(per_frame, ["mpjpe", "coverage_q90"], ["action"], average_over_group="action")
    text = report.summary_markdown(
        summary, {"mpjpe": "MPJPE (mm)", "coverage_q90": "coverage q=0.9"}, nominal={"coverage_q90": 0.9}, digits=2
    )
    assert "| MPJPE (mm) | 20.00 | - |" in text
    assert "| coverage q=0.9 | 0.90 | 0.90 |" in text
    assert "| Walking | 10.00 | 0.80 |" in text
    path = report.write_json(tmp_path / "out" / "results.json", {"summary": summary, "bad": float("nan")})
    loaded = json.loads(path.read_text())
    assert loaded["summary"]["overall"]["mpjpe"] == pytest.approx(20.0)
    assert loaded["bad"] is None
    frames_path = report.write_per_frame(tmp_path / "frames.npz", per_frame)
    with np.load(frames_path) as data:
        assert data["action"].tolist() == ["Walking", "Eating"]


# ------------------------------------------------------------------------------------------------ driver
import ml_collections  # noqa: E402

from posediff_jax.data import evaluation_frames  # noqa: E402
from posediff_jax.evaluation import evaluate, evidence_sources, protocols  # noqa: E402
from posediff_jax.prior.gaussian import STANDING_POSE_MM, make_gaussian_prior  # noqa: E402

INTRINSICS = np.array([[1145.0, 0.0, 512.0], [0.0, 1145.0, 515.0], [0.0, 0.0, 1.0]], np.float32)


def synthetic_frames(count=5, seed=0):
    """Frames in the loader's layout: a jittered standing person 5 m in front of the camera."""
    rng = np.random.default_rng(seed)
    poses = (STANDING_POSE_MM[None] + rng.normal(scale=20.0, size=(count, 17, 3))).astype(np.float32)
    poses -= poses[:, :1]
    root = np.tile(np.array([[0.0, 0.0, 5000.0]], np.float32), (count, 1))
    points = poses + root[:, None]
    pixels = points[..., :2] / points[..., 2:] * INTRINSICS[[0, 1], [0, 1]] + INTRINSICS[[0, 1], [2, 2]]
    mask = np.ones((count, 17), bool)
    mask[:, 7] = False
    return {
        "pose_3d": poses, "root_position": root, "keypoints_2d_gt": pixels.astype(np.float32),
        "keypoints_2d_detected": (pixels + rng.normal(scale=3.0, size=pixels.shape)).astype(np.float32),
        "detection_mask": mask, "intrinsics": np.tile(INTRINSICS, (count, 1, 1)),
        "subject": np.full(count, "S9"), "action": np.array(["Walking 1", "Eating", "Walking", "Eating 2", "Sitting"][:count]),
        "camera": np.full(count, "54138969"), "frame": np.arange(count) * 64,
    }  # fmt: skip


def tiny_config(protocol="h36m", source="detections"):
    config = ml_collections.ConfigDict({
        "dataset": protocol, "workdir": "",
        "data": {"loader": "videopose3d", "manual_dir": "", "detections": "", "subjects": ("S9",), "cameras": (),
                 "actions": (), "frame_stride": 64, "max_frames": 0},
        "evidence": {"source": source, "sigma": 2.0, "heatmap_size": 16, "heatmap_arrays_file": "", "use_gt_root": False},
        "sampler": {"num_steps": 2, "method": "ddim", "guidance": "dps", "guidance_scale": 0.3,
                    "scale_schedule": "constant", "max_grad_norm": 5.0, "eta": 0.0, "chunk_size": 8},
        "num_hypotheses": (1, 4), "calibration_levels": (0.5, 0.9), "aggregation": "mean", "batch_size": 2,
        "seed": 0, "save_hypotheses": False, "digits": 1,
    })  # fmt: skip
    return config


def test_make_batches_pads_the_last_batch():
    batches = evaluate.make_batches(5, 2)
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4, 4]]
    with pytest.raises(PoseDiffError, match="no frames"):
        evaluate.make_batches(0, 2)


def test_evaluate_writes_reports_and_resumes(tmp_path, fast_compile):
    frames, prior, lines = synthetic_frames(), make_gaussian_prior(), []
    result = evaluate.evaluate(tiny_config(), workdir=tmp_path, prior=prior, frames=frames, progress=False,
                               log=lines.append)
    assert result["batches_computed"] == 3
    per_frame = result["per_frame"]
    assert per_frame["mpjpe_pbest_m4"].shape == (5,)  # padding dropped
    assert per_frame["frame_index"].tolist() == [0, 1, 2, 3, 4]
    assert np.all(per_frame["mpjpe_pbest_m4"] <= per_frame["mpjpe_pbest_m1"] + 1e-4)
    assert np.all(per_frame["pa_mpjpe_jbest_m4"] <= per_frame["pa_mpjpe_pbest_m4"] + 1e-3)
    summary = result["summary"]
    assert set(summary["by_action"]) == {"Eating", "Sitting", "Walking"}
    assert summary["overall"]["mpjpe_pbest_m1"] == pytest.approx(
        np.mean([np.mean(per_frame["mpjpe_pbest_m1"][[1, 3]]), per_frame["mpjpe_pbest_m1"][4],
                 np.mean(per_frame["mpjpe_pbest_m1"][[0, 2]])]), rel=1e-5)
    for name in ("results.json", "results.md", "per_frame.npz", "results.png"):
        assert (tmp_path / name).exists()
        assert (tmp_path / name).stat().st_mode & 0o044 == 0o044  # the user's umask, not mkstemp's 0600
    assert "MPJPE P-best m=4 (mm)" in lines[0] and "calibration coverage q=0.9" in lines[0]
    assert "(constant step)" in lines[0]
    loaded = json.loads((tmp_path / "results.json").read_text())
    assert loaded["summary"]["num_frames"] == 5

    without_figure = tiny_config()
    without_figure.figure = False  # how results are shown: the stored batches still match
    (tmp_path / "results.png").unlink()
    again = evaluate.evaluate(without_figure, workdir=tmp_path, prior=prior, frames=frames, progress=False,
                              log=lines.append)
    assert again["batches_computed"] == 0 and not (tmp_path / "results.png").exists()
    assert again["summary"]["overall"] == pytest.approx(summary["overall"])
    (tmp_path / "batches" / "batch_000001.npz").unlink()
    partial = evaluate.evaluate(tiny_config(), workdir=tmp_path, prior=prior, frames=frames, progress=False,
                                log=lines.append)
    assert partial["batches_computed"] == 1
    np.testing.assert_allclose(partial["per_frame"]["mpjpe_pbest_m4"], per_frame["mpjpe_pbest_m4"], rtol=1e-5)

    changed = tiny_config()
    changed.sampler.num_steps = 3
    with pytest.raises(results_store.WorkdirMismatchError, match=r"config\.sampler\.num_steps"):
        evaluate.evaluate(changed, workdir=tmp_path, prior=prior, frames=frames, progress=False, log=lines.append)


@pytest.mark.parametrize("source, schedule, prior_name", [("gt_heatmaps", "constant", "wide_proportions"),
                                                         ("detections", "decreasing", "default"),
                                                         ("noisy_gt", "decreasing", "default")])
def test_auto_guidance_schedule_and_prior_follow_the_evidence_source(tmp_path, fast_compile, monkeypatch, source,
                                                                     schedule, prior_name):
    """The heatmap energy's 'auto' schedule: the same step throughout on exact (ground-truth) 2D, front-loaded on
    detections (sampling/guided.py); the 'auto' prior (the default when none is given): the bone-proportion prior
    on exact 2D, the default one on detections. A named prior is kept whatever the evidence. Noisy ground truth
    stands in for a detector: it is guided as one, and the title names its noise."""
    loaded = []

    def fake_load(name, exact_evidence=False):
        loaded.append(name)
        return make_gaussian_prior()

    monkeypatch.setattr(evaluate, "load_prior_for_evaluation", fake_load)
    config = tiny_config(source=source)
    config.sampler.scale_schedule = "auto"
    config.evidence.keypoint_noise_px = 3.0
    if source == "detections":  # the title also names a number format other than float32
        config.sampler.matmul_dtype = "bfloat16"
    lines = []
    result = evaluate.evaluate(config, workdir=tmp_path / "auto", frames=synthetic_frames(2), progress=False,
                               log=lines.append)
    assert f"({schedule} step)" in lines[0] and f"prior '{prior_name}'" in lines[0]
    assert ("guidance 'dps', bfloat16 matmuls" in lines[0]) == (source == "detections")
    assert ("(3 px noise per axis)" in lines[0]) == (source == "noisy_gt")
    assert loaded == [prior_name]
    assert json.loads(result["paths"]["json"].read_text())["checkpoint"] == prior_name
    evaluate.evaluate(config, checkpoint="default", workdir=tmp_path / "named", frames=synthetic_frames(2),
                      progress=False, log=lines.append)
    assert loaded == [prior_name, "default"] and "prior 'default'" in lines[-1]


def test_gt_heatmaps_beat_noisy_detections_and_heatmap_arrays_match_frames(tmp_path):
    frames = synthetic_frames(3)
    gt = evidence_sources.batch_evidence("gt_heatmaps", frames, [0, 1], heatmap_size=16)
    np.testing.assert_allclose(gt.keypoints_2d, frames["keypoints_2d_gt"][:2], atol=1e-3)
    detected = evidence_sources.batch_evidence("detections", frames, [0, 1], heatmap_size=16, use_gt_root=True)
    assert float(detected.joint_weights[0, 7]) == 0.0 and bool(detected.use_given_root[0])
    arrays_path = tmp_path / "heatmaps.npz"
    heatmaps = np.random.default_rng(0).uniform(size=(3, 17, 8, 8)).astype(np.float32)
    np.savez(arrays_path, heatmaps=heatmaps, image_to_heatmap=np.tile(np.array([[0.01, 0, 0], [0, 0.01, 0]]), (3, 1, 1)),
             subject=frames["subject"][::-1], action=frames["action"][::-1], camera=frames["camera"][::-1],
             frame=frames["frame"][::-1])  # stored in reverse order: rows are matched by frame identity
    arrays = evidence_sources.HeatmapArrays(arrays_path)
    evidence = evidence_sources.batch_evidence("heatmap_arrays", frames, [0], heatmap_arrays=arrays)
    assert evidence.heatmaps.shape == (1, 17, 8, 8)
    expected = heatmaps[2] / heatmaps[2].max(axis=(-2, -1), keepdims=True)
    np.testing.assert_allclose(evidence.heatmaps[0], expected, rtol=1e-5)
    frames_other = dict(frames, frame=frames["frame"] + 1)
    with pytest.raises(PoseDiffError, match="no heatmaps for"):
        evidence_sources.batch_evidence("heatmap_arrays", frames_other, [0], heatmap_arrays=arrays)
    with pytest.raises(PoseDiffError, match="evidence source"):
        evidence_sources.batch_evidence("webcam", frames, [0])


def test_protocol_columns_for_3dhp_and_3dpw():
    rng = np.random.default_rng(1)
    target = rng.normal(scale=200.0, size=(2, 17, 3)).astype(np.float32)
    hypotheses = target[:, None] + rng.normal(scale=80.0, size=(2, 6, 17, 3)).astype(np.float32)
    hypotheses[:, 0] = target + 1.0  # hypothesis 0 is nearly exact
    columns = protocols.frame_metrics("mpi_inf_3dhp", hypotheses, target, [1, 6])
    np.testing.assert_allclose(columns["pck_pbest_m1"], 1.0)
    assert np.all(columns["auc_pbest_m6"] > 0.9)
    pw3d = protocols.frame_metrics("pw3d", hypotheses, target, [1, 6])
    assert "pa_mpjpe_lsp14_pbest_m6" in pw3d and "aggregate_pa_mpjpe_lsp14" in pw3d
    hypotheses[:, 0, 10] += 1000.0  # head top: not in 3DPW's joints nor (as joint 10) in its LSP-14
    moved = protocols.frame_metrics("pw3d", hypotheses, target, [1])
    np.testing.assert_allclose(moved["mpjpe_pbest_m1"], pw3d["mpjpe_pbest_m1"], rtol=1e-4)
    np.testing.assert_allclose(moved["pa_mpjpe_lsp14_pbest_m1"], pw3d["pa_mpjpe_lsp14_pbest_m1"], rtol=1e-3)
    with pytest.raises(PoseDiffError, match="exceed"):
        protocols.frame_metrics("h36m", hypotheses, target, [10])


def test_one_draw_error_is_the_mean_over_hypotheses_on_the_protocols_joints():
    rng = np.random.default_rng(2)
    target = rng.normal(scale=200.0, size=(3, 17, 3)).astype(np.float32)
    offsets = np.asarray([10.0, 20.0, 60.0, 90.0], np.float32)  # hypothesis h: every joint moved by offsets[h] in x
    hypotheses = np.repeat(target[:, None], 4, axis=1)
    hypotheses[..., 0] += offsets[None, :, None]
    columns = protocols.frame_metrics("h36m", hypotheses, target, [1, 4])
    np.testing.assert_allclose(columns["mpjpe_one_draw"], np.full(3, offsets.mean()), rtol=1e-5)
    np.testing.assert_allclose(columns["mpjpe_pbest_m1"], 10.0, rtol=1e-5)  # the first hypothesis only
    assert "mpjpe_one_draw" in protocols.metric_labels("h36m", [1, 4], [0.5])
    hypotheses[:, :, 10] += 1000.0  # head top: not among 3DPW's joints, so its one-draw error does not move
    pw3d = protocols.frame_metrics("pw3d", hypotheses, target, [1])
    np.testing.assert_allclose(pw3d["mpjpe_one_draw"], np.full(3, offsets.mean()), rtol=1e-5)


def load_eval_config(path, overrides=()):
    from posediff_jax.config_files import load_config_file
    from posediff_jax.evaluation.config_schema import default_eval_config

    return load_config_file(str(path), overrides, reference=default_eval_config)


def test_evaluate_command_overrides_and_errors(repo_root):
    path = repo_root / "configs" / "eval_h36m.py"
    config = load_eval_config(path, ["data.max_frames=0", "data.cameras=()", "evidence.source=gt_heatmaps",
                                     "--config.num_hypotheses=[1, 5]"])
    assert config.data.max_frames == 0 and config.data.cameras == ()
    assert config.evidence.source == "gt_heatmaps" and tuple(config.num_hypotheses) == (1, 5)
    with pytest.raises(PoseDiffError, match="unknown key 'sampler.steps'"):
        load_eval_config(path, ["sampler.steps=3"])
    with pytest.raises(PoseDiffError, match="key=value"):
        load_eval_config(path, ["sampler.num_steps"])
    with pytest.raises(PoseDiffError, match="not found"):
        load_eval_config(repo_root / "configs" / "missing.py")


@pytest.mark.shared_data
def test_h36m_loader_on_real_s9_frames(shared_dir, repo_root):
    config = load_eval_config(repo_root / "configs" / "eval_h36m.py", [
        f"data.manual_dir={shared_dir / 'data' / 'h36m'}", "data.actions=('Walking',)", "data.frame_stride=100",
        "data.max_frames=20"])  # direct reader, detections sh_pt_mpii, S9 + S11 (absent here), camera 54138969
    frames = evaluation_frames.load_frames(config)
    assert frames.skipped == []
    assert len(frames["pose_3d"]) == 20 and set(frames["subject"]) == {"S9"}
    np.testing.assert_allclose(frames["pose_3d"][:, 0], 0.0, atol=1e-3)
    assert np.all(frames["root_position"][:, 2] > 2000)  # metres in front of the camera
    distances = np.linalg.norm(frames["keypoints_2d_gt"] - frames["keypoints_2d_detected"], axis=-1)
    assert np.median(distances[:, frames["detection_mask"][0]]) < 25.0  # the detections fit the projection


@pytest.mark.parametrize("name, protocol", [("eval_h36m", "h36m"), ("eval_mpi_inf_3dhp", "mpi_inf_3dhp"),
                                            ("eval_3dpw", "pw3d")])
def test_shipped_configs_load_and_name_their_command(repo_root, name, protocol):
    path = repo_root / "configs" / f"{name}.py"
    config = load_eval_config(path)
    assert config.dataset == protocol
    assert f"posediff evaluate --config configs/{name}.py" in path.read_text()
    assert config.evidence.source in evidence_sources.EVIDENCE_SOURCES
    assert max(config.num_hypotheses) >= 200 and config.data.frame_stride >= 1


@pytest.mark.shared_data
def test_tfds_builder_and_direct_reader_give_the_same_real_frames(shared_dir, tmp_path, repo_root):
    config = load_eval_config(repo_root / "configs" / "eval_h36m.py")
    config.data.manual_dir, config.data.max_frames = str(shared_dir / "data" / "h36m"), 40
    direct = evaluation_frames.load_frames(config)
    config.data.loader, config.data.data_dir = "tfds", str(tmp_path / "tfds")
    through_builder = evaluation_frames.load_frames(config)
    assert list(zip(direct["action"], direct["frame"])) == list(zip(through_builder["action"], through_builder["frame"]))
    for name in ("pose_3d", "root_position", "keypoints_2d_gt", "keypoints_2d_detected", "intrinsics"):
        np.testing.assert_allclose(through_builder[name], direct[name], atol=1e-3, err_msg=name)
    np.testing.assert_array_equal(through_builder["detection_mask"], direct["detection_mask"])


def test_evaluation_report_counts_the_sequence_camera_without_detections(tmp_path, fast_compile):
    from posediff_jax.data.fixtures import write_h36m_fixture

    # S9 'Eating' camera 54138969 is None, as S11 'Directions' is in every public copy of the detections.
    manual = write_h36m_fixture(tmp_path / "manual", detection_defects={("Eating", 0): "none"})
    config = tiny_config()
    config.data.manual_dir, config.data.detections, config.data.max_frames = str(manual), "sh_pt_mpii", 4
    config.batch_size = 4
    result = evaluate.evaluate(config, workdir=tmp_path / "eval", prior=make_gaussian_prior(), progress=False,
                               log=lambda _: None)
    assert result["summary"]["num_frames"] == 4
    skipped = json.loads((tmp_path / "eval" / "results.json").read_text())["skipped"]
    assert skipped == [{"subject": "S9", "action": "Eating", "camera": "54138969", "frames": 3,
                        "reason": "None in data_2d_h36m_sh_pt_mpii.npz"}]
    assert "3 frames of 1 sequence-cameras skipped" in result["markdown"]


@pytest.mark.parametrize("config_name", ["eval_h36m.py", "eval_h36m_completion.py", "eval_prior_plausibility.py"])
def test_an_unusable_workdir_is_refused_before_any_data_is_read(repo_root, tmp_path, capsys, config_name):
    """A one-line error (exit 2) before the data and prior are loaded, not a NotADirectoryError traceback."""
    from posediff_jax import cli

    a_file = tmp_path / "afile"
    a_file.write_text("keep me")
    for workdir, message in ((a_file, "is a file, not a folder"), (a_file / "run", "cannot create it")):
        code = cli.main(["evaluate", "--config", str(repo_root / "configs" / config_name), "--workdir", str(workdir),
                         "--set", "data.manual_dir=/nonexistent/folder"])  # the workdir is checked first
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.strip().count("\n") == 0, err
    assert a_file.read_text() == "keep me"


def test_a_full_disk_while_writing_the_reports_is_one_line_and_the_batches_resume(tmp_path, fast_compile, capsys,
                                                                                 monkeypatch):
    """ENOSPC (simulated) once every batch is computed: exit 2, one line naming the file, no temporary file; the
    stored batches stay, so the run after space is freed only writes the reports."""
    import errno
    import pathlib

    from posediff_jax import cli

    real_write_text = pathlib.Path.write_text

    def full_for_reports(self, *args, **kwargs):
        if "results" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full_for_reports)
    frames, prior = synthetic_frames(), make_gaussian_prior()
    run = lambda: evaluate.evaluate(tiny_config(), workdir=tmp_path, prior=prior, frames=frames,  # noqa: E731
                                    progress=False, log=lambda line: None)
    assert cli.run_with_one_line_messages("posediff evaluate", run) == 2
    assert capsys.readouterr().err.strip() == (f"posediff evaluate: error: no space left on device writing "
                                               f"{tmp_path / 'results.json'}; free some space and run the command "
                                               "again")
    assert sorted(path.name for path in tmp_path.rglob("*")) == [
        "batch_000000.npz", "batch_000001.npz", "batch_000002.npz", "batches", "run.json"]
    monkeypatch.setattr(pathlib.Path, "write_text", real_write_text)
    assert evaluate.evaluate(tiny_config(), workdir=tmp_path, prior=prior, frames=frames, progress=False,
                             log=lambda line: None)["batches_computed"] == 0
    assert (tmp_path / "results.json").exists()


@pytest.mark.parametrize("config", ["eval_h36m.py", "eval_h36m_multiview.py", "eval_h36m_completion.py",
                                    "eval_prior_plausibility.py"])
def test_evaluate_without_its_data_creates_no_workdir(repo_root, tmp_path, capsys, config):
    from posediff_jax import cli

    workdir = tmp_path / "new" / "eval"
    code = cli.main(["evaluate", "--config", str(repo_root / "configs" / config), "--workdir", str(workdir),
                     "--set", "data.manual_dir=/nonexistent/folder", "--no-progress", "--prior", "gaussian"])
    err = capsys.readouterr().err
    assert code == 2 and "data_3d_h36m.npz: not found" in err and err.strip().count("\n") == 0, err
    assert not (tmp_path / "new").exists()
