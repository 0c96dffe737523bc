"""data/multiview_frames.py on the real Human3.6M S9 files: the single-view selection, every view's 2D and
extrinsics consistent with the ground truth, and the multi-view benchmark end to end."""

import json

import numpy as np
import pytest

from posediff_jax.config_files import load_config_file
from posediff_jax.data import evaluation_frames
from posediff_jax.data.multiview_frames import load_multiview_frames, rig_cameras
from posediff_jax.evaluation.evidence_sources import triangulation_errors
from posediff_jax.validation import PoseDiffError


def load_eval_config(path, overrides=()):
    from posediff_jax.evaluation.config_schema import default_eval_config

    return load_config_file(str(path), overrides, reference=default_eval_config)


def test_rig_cameras_start_at_the_reference():
    assert rig_cameras("54138969", 2) == ("54138969", "55011271")
    assert rig_cameras("60457274", 2) == ("60457274", "54138969")
    with pytest.raises(PoseDiffError, match="data.views"):
        rig_cameras("54138969", 5)


def _config(repo_root, shared_dir, views):
    return load_eval_config(repo_root / "configs" / "eval_h36m_multiview.py", [
        f"data.manual_dir={shared_dir / 'data' / 'h36m'}", "data.actions=('Walking',)", "data.frame_stride=100",
        "data.max_frames=6", f"data.views={views}"])


@pytest.mark.shared_data
def test_rig_frames_are_the_single_view_frames_seen_by_every_camera(repo_root, shared_dir):
    config = _config(repo_root, shared_dir, 4)
    frames = load_multiview_frames(config)
    single = evaluation_frames.load_frames(load_eval_config(repo_root / "configs" / "eval_h36m.py", [
        f"data.manual_dir={shared_dir / 'data' / 'h36m'}", "data.actions=('Walking',)", "data.frame_stride=100",
        "data.max_frames=6"]))
    np.testing.assert_array_equal(frames["frame"], single["frame"])
    np.testing.assert_allclose(frames["pose_3d"], single["pose_3d"])
    assert frames["keypoints_2d_gt"].shape == (6, 4, 17, 2) and frames["view_present"].all()
    # The reference camera's ground truth, placed in the world and seen by each camera, lands on that camera's 2D.
    rotations, translations = frames["world_rotation"], frames["world_translation"]
    reference = frames["pose_3d"] + frames["root_position"][:, None]
    world = np.einsum("nji,nkj->nki", rotations[:, 0], reference - translations[:, 0, None])
    cameras = np.einsum("nvij,nkj->nvki", rotations, world) + translations[..., None, :]
    intrinsics = frames["intrinsics"]
    pixels = cameras[..., :2] / cameras[..., 2:] * intrinsics[..., None, [0, 1], [0, 1]] + intrinsics[..., None,
                                                                                                         [0, 1], [2, 2]]
    assert np.median(np.linalg.norm(pixels - frames["keypoints_2d_gt"], axis=-1)) < 5.0  # lens distortion only
    errors = triangulation_errors(frames, np.arange(6))
    assert np.all(np.isfinite(errors)) and np.all(errors < 250.0)


@pytest.mark.shared_data
def test_the_multiview_benchmark_reports_the_summary_and_the_triangulation(repo_root, shared_dir, tmp_path):
    from posediff_jax import cli

    workdir = tmp_path / "rig"
    assert cli.main(["evaluate", "--config", str(repo_root / "configs" / "eval_h36m_multiview.py"), "--workdir",
                     str(workdir), "--prior", "gaussian", "--no-progress", "--set",
                     f"data.manual_dir={shared_dir / 'data' / 'h36m'}", "--set", "data.max_frames=2", "--set",
                     "num_hypotheses=(1, 2)", "--set", "sampler.num_steps=2", "--set", "data.views=2"]) == 0
    summary = json.loads((workdir / "results.json").read_text())["summary"]
    overall = summary.get("overall", summary)
    text = json.dumps(overall)
    for key in ("mpjpe_pbest_m2", "mpjpe_pbest_m1", "aggregate_mpjpe", "pa_mpjpe_pbest_m2", "triangulation_mpjpe"):
        assert key in text, key
