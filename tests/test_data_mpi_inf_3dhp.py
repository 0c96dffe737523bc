"""The mpi_inf_3dhp tfds builder (no TensorFlow) on fixtures in the converted test-set layout."""

import os

import numpy as np
import pytest

from posediff_jax import geometry, skeleton
from posediff_jax.data import mpi_inf_3dhp
from posediff_jax.data.fixtures import write_mpi_inf_3dhp_fixture
from posediff_jax.data.tfds_support import text
from posediff_jax.data.videopose3d import DatasetFileError


def test_prepares_valid_frames_in_h36m_order_with_cameras_and_labels(tmp_path):
    manual = write_mpi_inf_3dhp_fixture(tmp_path / "manual")
    builder = mpi_inf_3dhp.prepare(manual, tmp_path / "tfds")
    test = builder.as_data_source(split="test")
    assert len(test) == 3 * 24  # 30 frames per sequence, every 5th (index 2, 7, ...) invalid
    raw = mpi_inf_3dhp.read_test_sequences(manual)
    for index in (0, 5, 30, len(test) - 1):
        example = test[index]
        name, frame = text(example["sequence"]), int(example["frame"])
        assert frame % 5 != 2 and text(example["subject"]) == name
        assert text(example["scene"]) == mpi_inf_3dhp.SCENES[name]
        assert text(example["action"]) == mpi_inf_3dhp.ACTIVITIES[frame % 7 + 1]
        assert text(example["image_file"]) == f"{name}/imageSequence/img_{frame + 1:06d}.jpg"
        np.testing.assert_allclose(example["intrinsics"], mpi_inf_3dhp.SEQUENCE_CAMERAS[name]["intrinsics"])
        # pose_3d: univ_annot3 in H36M order, root-relative.
        universal = skeleton.from_mpi_inf_3dhp17(raw[name]["data_3d"][frame])
        np.testing.assert_allclose(example["pose_3d"], universal - universal[:1], atol=1e-3)
        # root_position is the metric pelvis: metric pose = universal pose / 0.95 (the fixture's rescaling)
        # + root projects onto annot2.
        metric = example["pose_3d"] / 0.95 + example["root_position"]
        projected = geometry.project_to_pixels(metric, example["intrinsics"])
        np.testing.assert_allclose(projected, example["keypoints_2d_gt"], atol=0.05)


def test_outdoor_sequences_use_the_full_hd_camera():
    studio, outdoor = mpi_inf_3dhp.SEQUENCE_CAMERAS["TS1"], mpi_inf_3dhp.SEQUENCE_CAMERAS["TS5"]
    assert studio["image_size"] == (2048, 2048) and outdoor["image_size"] == (1920, 1080)
    # Published calibration: focal 7.32506 mm / 8.770747185 mm on a 10 mm sensor.
    assert studio["intrinsics"][0, 0] == pytest.approx(7.32506 * 204.8, rel=1e-6)
    assert outdoor["intrinsics"][0, 0] == pytest.approx(8.770747185 * 192.0, rel=1e-6)
    assert 1000 < studio["intrinsics"][0, 2] < 1048 and 540 < outdoor["intrinsics"][1, 2] < 580


def test_small_config_strides_and_missing_metric_falls_back(tmp_path):
    manual = write_mpi_inf_3dhp_fixture(tmp_path / "manual", sequences=("TS2",), with_metric=False)
    builder = mpi_inf_3dhp.prepare(manual, tmp_path / "tfds", config="small")
    test = builder.as_data_source(split="test")
    valid = np.flatnonzero(np.arange(30) % 5 != 2)
    assert [int(test[i]["frame"]) for i in range(len(test))] == valid[::10].tolist()
    raw = mpi_inf_3dhp.read_test_sequences(manual)["TS2"]
    universal = skeleton.from_mpi_inf_3dhp17(raw["data_3d"][int(test[0]["frame"])])
    np.testing.assert_allclose(test[0]["root_position"], universal[0], atol=1e-3)


def test_preparing_twice_reuses_and_an_interrupted_preparation_is_not_trusted(tmp_path, monkeypatch):
    manual = write_mpi_inf_3dhp_fixture(tmp_path / "manual")
    original = mpi_inf_3dhp.sequence_examples

    def failing(name, entry, stride):
        if name == "TS3":
            raise RuntimeError("simulated crash mid-preparation")
        yield from original(name, entry, stride)

    monkeypatch.setattr(mpi_inf_3dhp, "sequence_examples", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        mpi_inf_3dhp.prepare(manual, tmp_path / "tfds")
    assert not list((tmp_path / "tfds").rglob("1.0.0"))  # only an incomplete.* folder, never read
    monkeypatch.setattr(mpi_inf_3dhp, "sequence_examples", original)
    builder = mpi_inf_3dhp.prepare(manual, tmp_path / "tfds")
    files = sorted(builder.data_path.iterdir())
    stamps = [os.stat(path).st_mtime_ns for path in files]
    again = mpi_inf_3dhp.prepare(manual, tmp_path / "tfds")
    assert sorted(again.data_path.iterdir()) == files and [os.stat(p).st_mtime_ns for p in files] == stamps
    assert len(again.as_data_source(split="test")) == 72


def test_missing_wrong_layout_and_truncated_files_are_named(tmp_path):
    with pytest.raises(DatasetFileError, match="data_test_3dhp.npz: not found"):
        mpi_inf_3dhp.prepare(tmp_path / "empty", tmp_path / "tfds")
    bad = tmp_path / "bad"
    bad.mkdir()
    np.savez(bad / "data_test_3dhp.npz", data=np.array({"TS1": {"data_3d": np.zeros((4, 14, 3)),
             "data_2d": np.zeros((4, 14, 2)), "valid": np.ones(4)}}, dtype=object))
    with pytest.raises(DatasetFileError, match=r"TS1 data_3d has shape \[4, 14, 3\], expected \['frames', 17, 3\]"):
        mpi_inf_3dhp.prepare(bad, tmp_path / "tfds")
    np.savez(bad / "data_test_3dhp.npz", data=np.array({"TS9": {}}, dtype=object))
    with pytest.raises(DatasetFileError, match="unknown sequence 'TS9'"):
        mpi_inf_3dhp.prepare(bad, tmp_path / "tfds")
    truncated = write_mpi_inf_3dhp_fixture(tmp_path / "truncated")
    path = truncated / "data_test_3dhp.npz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetFileError, match="unreadable"):
        mpi_inf_3dhp.prepare(truncated, tmp_path / "tfds")
    assert not list((tmp_path / "tfds").rglob("1.0.0"))


def test_evaluation_runs_through_the_builder_per_scene(tmp_path, tiny_builder_eval_config, fast_compile):
    from posediff_jax.data import evaluation_frames
    from posediff_jax.evaluation import evaluate
    from posediff_jax.prior.gaussian import make_gaussian_prior

    manual = write_mpi_inf_3dhp_fixture(tmp_path / "manual", frames=12)
    config = tiny_builder_eval_config("mpi_inf_3dhp", manual, max_frames=6, batch_size=3)
    frames = evaluation_frames.load_frames(config)
    assert len(frames["pose_3d"]) == 6 and set(frames["scene"]) <= {"GS", "noGS", "outdoor"}
    result = evaluate.evaluate(config, workdir=tmp_path / "eval", prior=make_gaussian_prior(), frames=frames,
                               progress=False, log=lambda _: None)
    per_frame = result["per_frame"]
    assert np.all(per_frame["mpjpe_pbest_m4"] <= per_frame["mpjpe_pbest_m1"] + 1e-4)
    assert np.all((0 <= per_frame["auc_pbest_m4"]) & (per_frame["auc_pbest_m4"] <= 1))
    assert np.all((0 <= per_frame["pck_pbest_m4"]) & (per_frame["pck_pbest_m4"] <= 1))
    assert set(result["summary"]["by_scene"]) == set(frames["scene"])
    assert set(result["summary"]["by_sequence"]) == set(frames["sequence"])


def _rewrite(manual, change):
    """Loads the fixture's data_test_3dhp.npz, applies `change(data)` and writes it back (a messy public copy)."""
    path = manual / "data_test_3dhp.npz"
    data = np.load(path, allow_pickle=True)["data"].item()
    change(data)
    np.savez(path, data=np.array(data, dtype=object))
    return manual


def test_none_sequences_and_nan_frames_are_skipped_with_one_warning_and_counted(tmp_path):
    from posediff_jax.data.videopose3d import DatasetWarning

    def mess(data):
        data["TS1"] = None
        data["TS3"]["data_3d"][0] = np.nan  # valid frame: must not reach the metrics
        data["TS3"]["data_2d"][1, 4] = np.inf  # valid frame
        data["TS3"]["data_3d"][2] = np.nan  # invalid frame (index 2): never read, not counted
        data["TS3"]["activity"][3] = np.nan  # the .mat stores floats: unknown activity, not a crash
        data["TS5"]["activity"] = None  # optional field None = absent
        data[b"TS5"] = data.pop("TS5")  # a bytes key from a Python-2 conversion

    manual = _rewrite(write_mpi_inf_3dhp_fixture(tmp_path / "manual"), mess)
    with pytest.warns(DatasetWarning, match=r"skipping TS1 \(None in the file\); TS3: 2 of 24 valid frames with NaN"):
        sequences = mpi_inf_3dhp.read_test_sequences(manual)
    assert set(sequences) == {"TS3", "TS5"} and len(sequences.skipped) == 2
    with pytest.warns(DatasetWarning):
        test = mpi_inf_3dhp.prepare(manual, tmp_path / "tfds").as_data_source(split="test")
    examples = [test[i] for i in range(len(test))]
    assert len(examples) == 22 + 24
    assert all(np.isfinite(e["pose_3d"]).all() and np.isfinite(e["keypoints_2d_gt"]).all() for e in examples)
    ts3 = {int(e["frame"]): text(e["action"]) for e in examples if text(e["sequence"]) == "TS3"}
    assert 0 not in ts3 and 1 not in ts3 and ts3[3] == ""
    assert {text(e["action"]) for e in examples if text(e["sequence"]) == "TS5"} == {""}


def test_no_valid_frame_none_field_wrong_split_and_raw_mat_are_named(tmp_path):
    def all_invalid(data):
        for entry in data.values():
            entry["valid"][:] = 0

    manual = _rewrite(write_mpi_inf_3dhp_fixture(tmp_path / "invalid"), all_invalid)
    with pytest.raises(DatasetFileError, match="data_test_3dhp.npz: no valid frame in any sequence"):
        mpi_inf_3dhp.prepare(manual, tmp_path / "tfds")
    manual = _rewrite(write_mpi_inf_3dhp_fixture(tmp_path / "none"), lambda d: d["TS3"].__setitem__("data_3d", None))
    with pytest.raises(DatasetFileError, match="TS3 must hold data_3d, data_2d and valid"):
        mpi_inf_3dhp.read_test_sequences(manual)
    manual = _rewrite(write_mpi_inf_3dhp_fixture(tmp_path / "train"), lambda d: d.update({"S1": d.pop("TS1")}))
    with pytest.raises(DatasetFileError, match="unknown sequence 'S1'.*training subjects"):
        mpi_inf_3dhp.read_test_sequences(manual)
    raw = tmp_path / "raw"
    (raw / "mpi_inf_3dhp_test_set" / "TS1").mkdir(parents=True)
    (raw / "mpi_inf_3dhp_test_set" / "TS1" / "annot_data.mat").write_bytes(b"")
    with pytest.raises(DatasetFileError, match="not found.*Found the raw test set.*convert it"):
        mpi_inf_3dhp.read_test_sequences(raw)
    write_mpi_inf_3dhp_fixture(tmp_path / "outer" / "inner")
    with pytest.raises(DatasetFileError, match=r"not found.*set the manual_dir to .*outer/inner"):
        mpi_inf_3dhp.read_test_sequences(tmp_path / "outer")
    assert not list((tmp_path / "tfds").rglob("1.0.0"))
