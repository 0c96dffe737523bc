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
