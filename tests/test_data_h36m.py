"""The h36m tfds builder (no TensorFlow) on real-layout fixtures and on the real files in ../shared."""

import numpy as np
import pytest

from posediff_jax import geometry
from posediff_jax.data import h36m
from posediff_jax.data.cameras import camera_parameters
from posediff_jax.data.fixtures import write_h36m_fixture
from posediff_jax.data.pipeline import load_training_poses
from posediff_jax.data.tfds_support import text
from posediff_jax.data.videopose3d import DatasetFileError


def test_prepares_from_fixture_and_matches_the_direct_reader(tmp_path):
    manual = write_h36m_fixture(tmp_path / "manual")
    builder = h36m.prepare(manual, tmp_path / "tfds", config="small")
    train, test = builder.as_data_source(split="train"), builder.as_data_source(split="test")
    assert len(train) == 3 * 2 * 4 and len(test) == 3 * 2 * 4  # frames 0,50,100 / 0,64,128 x 2 actions x 4 cameras
    examples = [test[i] for i in range(len(test))]
    keys = [(text(e["subject"]), text(e["action"]), text(e["camera"]), int(e["frame"])) for e in examples]
    assert keys == sorted(keys)  # generation order (subject, action, camera, frame), not shuffled
    for example in examples:
        np.testing.assert_allclose(example["pose_3d"][0], 0.0, atol=1e-3)
        parameters = camera_parameters(text(example["subject"]), text(example["camera"]))
        projected = geometry.project_to_pixels(example["pose_3d"] + example["root_position"],
                                               parameters["intrinsics"], parameters["distortion"])
        np.testing.assert_allclose(projected, example["keypoints_2d_gt"], atol=1e-2)
        assert example["detection_mask"].sum() == 16 and not example["detection_mask"][7]  # MPII lacks Spine
    # Same poses as the bulk reader used for training (stride 50 on S1).
    direct = load_training_poses(None, manual, "train", ("S1",), stride=50)
    from_builder = np.stack([train[i]["pose_3d"] for i in range(len(train))])
    np.testing.assert_allclose(np.sort(direct.reshape(len(direct), -1), axis=0),
                               np.sort(from_builder.reshape(len(from_builder), -1), axis=0), atol=1e-3)


def test_preparing_twice_reuses_the_prepared_data(tmp_path):
    manual = write_h36m_fixture(tmp_path / "manual", detector="")
    builder = h36m.prepare(manual, tmp_path / "tfds", config="small")
    import os

    files = sorted(str(p) for p in builder.data_path.iterdir())
    stamps = [os.stat(p).st_mtime_ns for p in files]
    again = h36m.prepare(manual, tmp_path / "tfds", config="small")
    assert sorted(str(p) for p in again.data_path.iterdir()) == files
    assert [os.stat(p).st_mtime_ns for p in files] == stamps


def test_interrupted_preparation_leaves_nothing_trusted(tmp_path, monkeypatch):
    manual = write_h36m_fixture(tmp_path / "manual", detector="")
    original = h36m.sequence_examples
    calls = {"count": 0}

    def failing(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2:
            raise RuntimeError("simulated crash mid-preparation")
        yield from original(*args, **kwargs)

    monkeypatch.setattr(h36m, "sequence_examples", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        h36m.prepare(manual, tmp_path / "tfds", config="small")
    version_dirs = list((tmp_path / "tfds").rglob(str(h36m.H36M.VERSION)))
    assert version_dirs == []  # only an incomplete.* folder, which tfds never reads
    monkeypatch.setattr(h36m, "sequence_examples", original)
    builder = h36m.prepare(manual, tmp_path / "tfds", config="small")
    assert len(builder.as_data_source(split="train")) == 24


def test_missing_and_wrong_layout_files_are_named(tmp_path):
    with pytest.raises(DatasetFileError, match="data_3d_h36m.npz: not found"):
        h36m.prepare(tmp_path / "empty", tmp_path / "tfds", config="small")
    bad = tmp_path / "bad"
    bad.mkdir()
    np.savez(bad / "data_3d_h36m.npz", positions_3d=np.array({"S1": {"Walking": np.zeros((5, 17, 3))}}, dtype=object))
    with pytest.raises(DatasetFileError, match=r"expected \[frames, 32, 3\]"):
        h36m.prepare(bad, tmp_path / "tfds", config="small")
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "data_3d_h36m.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetFileError, match="unreadable"):
        h36m.prepare(truncated, tmp_path / "tfds", config="small")
    assert not list((tmp_path / "tfds").rglob(str(h36m.H36M.VERSION)))


@pytest.mark.shared_data
def test_real_files_prepare_and_detections_fit_the_projection(shared_dir, tmp_path):
    manual = shared_dir / "data" / "h36m"
    builder = h36m.H36M(config=h36m.H36MConfig(name="s9_only", train_stride=100_000, test_stride=640),
                        data_dir=tmp_path / "tfds", file_format="array_record")
    import tensorflow_datasets as tfds

    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    test = builder.as_data_source(split="test")
    assert len(test) > 400
    distances = []
    for index in range(0, len(test), 3):
        example = test[index]
        mask = example["detection_mask"]
        if mask.any():
            distances.append(np.linalg.norm(example["keypoints_2d_gt"] - example["keypoints_2d_detected"], axis=-1)[mask])
    limbs = np.concatenate(distances)
    assert np.median(limbs) < 20.0  # real detections land on the projected ground truth


# ------------------------------------------------------------------------------------------------ real files' defects
# As in every public copy of VideoPose3D's detections (S11 'Directions' camera 54138969 is None), plus the other
# defects real files have: an empty entry, detections shorter than the 3D sequence, NaN rows.
DEFECTS = {("Walking 1", 0): "none", ("Walking 1", 2): "short", ("Eating", 1): "empty", ("Eating", 3): "nan_rows"}
CAMERAS = ("54138969", "55011271", "58860488", "60457274")


def defect_config(manual, loader, data_dir, evidence="detections"):
    from posediff_jax.evaluation.config_schema import default_eval_config

    config = default_eval_config()
    config.dataset, config.data.loader, config.data.builder_config = "h36m", loader, "small"
    config.data.manual_dir, config.data.data_dir = str(manual), str(data_dir)
    config.data.detections, config.data.subjects, config.data.frame_stride = "sh_pt_mpii", ("S9",), 64
    config.evidence.source = evidence
    return config


@pytest.mark.parametrize("loader", ["videopose3d", "tfds"])
def test_detection_defects_skip_only_those_frames_with_one_warning(tmp_path, loader, caplog):
    from posediff_jax.data import evaluation_frames

    manual = write_h36m_fixture(tmp_path / "manual", detection_defects=DEFECTS)  # 130 frames: 0, 64, 128 kept
    with caplog.at_level("WARNING"):
        frames = evaluation_frames.load_frames(defect_config(manual, loader, tmp_path / "tfds"))
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and "skipped 10 of 24 frames (4 sequence-cameras)" in warnings[0].getMessage()
    skipped = {(entry["action"], entry["camera"]): entry["frames"] for entry in frames.skipped}
    assert skipped == {("Walking 1", CAMERAS[0]): 3, ("Walking 1", CAMERAS[2]): 3, ("Eating", CAMERAS[1]): 3,
                       ("Eating", CAMERAS[3]): 1}
    kept = set(zip(frames["action"], frames["camera"], frames["frame"].tolist()))
    assert len(kept) == len(frames["pose_3d"]) == 14 and frames["detection_mask"].any(-1).all()
    assert ("Eating", CAMERAS[3], 0) in kept and ("Eating", CAMERAS[3], 64) not in kept  # the NaN row only
    assert ("Walking 1", CAMERAS[1], 64) in kept
    nan_joint = np.flatnonzero((frames["action"] == "Eating") & (frames["camera"] == CAMERAS[3]) & (frames["frame"] == 0))
    assert frames["detection_mask"][nan_joint[0]].sum() == 15  # 16 MPII joints less the NaN one
    assert np.isfinite(frames["keypoints_2d_detected"]).all()
    if loader == "videopose3d":  # the direct reader knows why
        reasons = {(entry["action"], entry["camera"]): entry["reason"] for entry in frames.skipped}
        assert reasons[("Walking 1", CAMERAS[0])] == "None in data_2d_h36m_sh_pt_mpii.npz"
        assert reasons[("Eating", CAMERAS[1])] == "empty array in data_2d_h36m_sh_pt_mpii.npz"
        assert reasons[("Walking 1", CAMERAS[2])] == "100 detected frames for 130 3D frames"


def test_both_loaders_agree_on_defective_detections_and_keep_frames_for_other_evidence(tmp_path):
    from posediff_jax.data import evaluation_frames

    manual = write_h36m_fixture(tmp_path / "manual", detection_defects=DEFECTS)
    loaded = {loader: evaluation_frames.load_frames(defect_config(manual, loader, tmp_path / "tfds"))
              for loader in ("videopose3d", "tfds")}
    direct, through_builder = loaded["videopose3d"], loaded["tfds"]
    assert sorted(direct) == sorted(through_builder)
    for name in direct:
        np.testing.assert_array_equal(direct[name], through_builder[name], err_msg=name)
    assert [(e["subject"], e["action"], e["camera"], e["frames"]) for e in direct.skipped] == \
        [(e["subject"], e["action"], e["camera"], e["frames"]) for e in through_builder.skipped]
    # gt_heatmaps evidence does not use the detections: every frame is evaluated, nothing skipped.
    everything = evaluation_frames.load_frames(defect_config(manual, "videopose3d", tmp_path / "tfds", "gt_heatmaps"))
    assert len(everything["pose_3d"]) == 24 and everything.skipped == []
    assert (~everything["detection_mask"].any(-1)).sum() == 10


def test_no_usable_detection_at_all_is_a_clear_error(tmp_path):
    from posediff_jax.data import evaluation_frames
    from posediff_jax.validation import PoseDiffError

    defects = {(action, camera): "none" for action in ("Walking 1", "Eating") for camera in range(4)}
    manual = write_h36m_fixture(tmp_path / "manual", detection_defects=defects)
    with pytest.raises(PoseDiffError, match="none of the 24 selected frames has 2D detections"):
        evaluation_frames.load_frames(defect_config(manual, "videopose3d", tmp_path / "tfds"))
    bad = write_h36m_fixture(tmp_path / "bad", detection_defects={("Eating", 0): "short"})
    positions = np.load(bad / "data_2d_h36m_sh_pt_mpii.npz", allow_pickle=True)
    detections = positions["positions_2d"].item()
    detections["S9"]["Eating"][0] = np.zeros((5, 16))  # neither None, empty nor [frames, J, 2]
    np.savez(bad / "data_2d_h36m_sh_pt_mpii.npz", positions_2d=np.array(detections, dtype=object),
             metadata=positions["metadata"])
    with pytest.raises(DatasetFileError, match=r"S9 'Eating' camera 54138969 has shape \[5, 16\]"):
        evaluation_frames.load_frames(defect_config(bad, "videopose3d", tmp_path / "tfds"))


def test_one_conversion_and_one_camera_source(tmp_path):
    from posediff_jax.data import cameras, videopose3d
    from posediff_jax.validation import PoseDiffError

    manual = write_h36m_fixture(tmp_path / "manual", detector="")
    world = videopose3d.read_positions_3d(manual)["S1"]["Eating"]
    converted = videopose3d.camera_frames(world[:5], "S1", "55011271")
    parameters = cameras.camera_parameters("S1", "55011271", np.float64)
    points = skeleton_17_mm(world[:5]) @ parameters["rotation"].T + parameters["translation"]
    np.testing.assert_allclose(converted["root_position"], points[:, 0], atol=1e-3)
    np.testing.assert_allclose(converted["pose_3d"], points - points[:, :1], atol=1e-3)
    training = videopose3d.read_camera_frame_poses(manual, ("S1",), cameras=("55011271",))
    np.testing.assert_array_equal(training[:5], converted["pose_3d"])  # actions sorted: 'Eating' comes first
    # A camera-parameters.json beside the files is only a cross-check: equal numbers pass, others are refused.
    import copy
    import json

    file = copy.deepcopy({"intrinsics": {c: {"calibration_matrix": cameras.INTRINSICS[c], "distortion": cameras.DISTORTION[c]}
                           for c in cameras.CAMERA_IDS},
            "extrinsics": {"S1": {c: {"R": cameras.EXTRINSICS["S1"][c][0], "t": cameras.EXTRINSICS["S1"][c][1]}
                                  for c in cameras.CAMERA_IDS}}})
    (manual / "camera-parameters.json").write_text(json.dumps(file))
    cameras.check_camera_file(manual / "camera-parameters.json")
    file["extrinsics"]["S1"]["58860488"]["t"][2] += 50.0
    (manual / "camera-parameters.json").write_text(json.dumps(file))
    with pytest.raises(PoseDiffError, match="extrinsics S1 58860488 t differs"):
        cameras.check_camera_file(manual / "camera-parameters.json")


def skeleton_17_mm(world_metres):
    from posediff_jax import skeleton

    return skeleton.from_h36m32(np.asarray(world_metres, np.float32)).astype(np.float64) * 1000.0


@pytest.mark.shared_data
def test_real_camera_file_agrees_with_the_built_in_cameras(shared_dir):
    from posediff_jax.data import cameras

    cameras.check_camera_file(shared_dir / "data" / "h36m" / "camera-parameters.json", tolerance=0.0)


def test_garbled_detection_coordinates_are_masked_like_nan_ones():
    """A coordinate beyond `validation.GARBLED_PIXELS` (seen in public detection files as huge or overflowed
    values) masks its joint and every H36M joint made from it, as a NaN does; the others keep their values."""
    from posediff_jax.data.videopose3d import to_h36m17

    rng = np.random.default_rng(0)
    mpii = rng.uniform(100, 900, (2, 16, 2)).astype(np.float32)
    clean, clean_mask = to_h36m17(mpii, {}, "file.npz")
    garbled = mpii.copy()
    garbled[1, 0] = [3e9, 200.0]  # frame 1's MPII RAnkle
    nan = mpii.copy()
    nan[1, 0] = np.nan
    got, mask = to_h36m17(garbled, {}, "file.npz")
    expected, expected_mask = to_h36m17(nan, {}, "file.npz")
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(got, expected)
    assert clean_mask[1].sum() - mask[1].sum() == 1 and (mask[0] == clean_mask[0]).all()
    assert np.isfinite(got).all() and np.abs(got).max() < 1e3


def _rewrite_positions(manual, change):
    positions = np.load(manual / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()
    change(positions)
    np.savez(manual / "data_3d_h36m.npz", positions_3d=np.array(positions, dtype=object))


def test_a_none_subject_is_skipped_with_a_warning_everywhere(tmp_path):
    """A subject mapped to None (a messy copy of the 3D file) is skipped and named in training, evaluation and
    make_pose_file, like a None detection entry."""
    import ml_collections

    from posediff_jax.data import videopose3d

    manual = write_h36m_fixture(tmp_path / "manual", subjects=("S1", "S5", "S9"), detector="")
    _rewrite_positions(manual, lambda positions: positions.update(S5=None))
    with pytest.warns(videopose3d.DatasetWarning, match="skipping S5"):
        positions = videopose3d.read_positions_3d(manual)
    assert sorted(positions) == ["S1", "S9"] and positions.skipped == ["S5"]
    with pytest.warns(videopose3d.DatasetWarning):
        poses = load_training_poses(None, manual, "train", ("S1", "S5"), stride=50)
    assert poses.shape == (2 * 3 * 4, 17, 3)  # S1 only: 2 actions x 3 frames x 4 cameras
    config = ml_collections.ConfigDict({"data": {"manual_dir": str(manual), "subjects": ("S5", "S9"),
                                                 "cameras": (54138969,), "frame_stride": 64}})
    with pytest.warns(videopose3d.DatasetWarning):
        frames, _ = videopose3d.load_evaluation_frames(config)  # an int camera, as `--set` reads it, works too
    assert set(frames["subject"]) == {"S9"} and set(frames["camera"]) == {"54138969"}


def test_training_reads_the_3d_file_once_so_a_none_subject_warns_once(tmp_path):
    """`posediff train` on source 'h36m' reads data_3d_h36m.npz once for both splits (training, held-out), so a
    None subject's DatasetWarning is printed once."""
    import warnings

    from posediff_jax.data import videopose3d
    from posediff_jax.training.config_schema import default_config
    from posediff_jax.training.train import load_pose_splits

    manual = write_h36m_fixture(tmp_path / "manual", subjects=("S1", "S5", "S9"), detector="")
    _rewrite_positions(manual, lambda positions: positions.update(S5=None))
    config = default_config()
    config.data.manual_dir, config.data.train_subjects, config.data.stride = str(manual), ("S1", "S5"), 50
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # as the CLI shows the project's warnings: every one, no deduplication
        train, held_out, train_up = load_pose_splits(config.data, config.seed)
    skipped = [warning for warning in caught if issubclass(warning.category, videopose3d.DatasetWarning)]
    assert len(skipped) == 1 and "skipping S5" in str(skipped[0].message), [str(w.message) for w in skipped]
    assert train.shape == (2 * 3 * 4, 17, 3) and len(train_up) == len(train) and len(held_out)


def test_non_finite_3d_positions_name_the_file_subject_action_and_frame(tmp_path):
    manual = write_h36m_fixture(tmp_path / "manual", detector="")

    def spoil(positions):
        positions["S9"]["Eating"][[7, 9], 3] = np.nan

    _rewrite_positions(manual, spoil)
    with pytest.raises(DatasetFileError, match=r"data_3d_h36m\.npz: S9 'Eating' has NaN or infinite positions in 2 "
                                               r"of 130 frames \(first: frame 7\)"):
        load_training_poses(None, manual, "test", ("S9",))  # names the subject, action and first frame


def test_3d_positions_in_millimetres_are_refused_naming_the_unit(tmp_path):
    manual = write_h36m_fixture(tmp_path / "manual", detector="")
    load_training_poses(None, manual, "test", ("S9",))  # the fixture is in metres, as VideoPose3D's file

    def to_millimetres(positions):
        positions["S9"]["Eating"] = positions["S9"]["Eating"] * 1000.0

    _rewrite_positions(manual, to_millimetres)
    with pytest.raises(DatasetFileError, match=r"S9 'Eating': the joints lie \d+\.?\d* units from the pelvis .*"
                                               r"\(millimetres given\?\)"):
        load_training_poses(None, manual, "test", ("S9",))
