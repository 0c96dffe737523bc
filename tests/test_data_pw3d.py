"""The pw3d tfds builder (no TensorFlow) on fixtures in 3DPW's sequence-file layout, and its restricted unpickler."""

import os
import pickle

import numpy as np
import pytest

from posediff_jax import geometry, skeleton
from posediff_jax.data import pw3d, safe_pickle
from posediff_jax.data.fixtures import write_pw3d_fixture
from posediff_jax.data.tfds_support import text
from posediff_jax.data.videopose3d import DatasetFileError


def test_prepares_valid_frames_per_person_in_the_camera_frame(tmp_path):
    manual = write_pw3d_fixture(tmp_path / "manual")
    builder = pw3d.prepare(manual, tmp_path / "tfds")
    test = builder.as_data_source(split="test")
    # 2 sequences x (person 0: 40 frames minus every 7th from index 3 -> 34, person 1: 40).
    assert len(test) == 2 * (34 + 40)
    examples = [test[i] for i in range(len(test))]
    assert all(int(e["frame"]) % 7 != 3 for e in examples if int(e["person"]) == 0)
    names = {text(e["sequence"]) for e in examples}
    assert names == {"downtown_walking_00", "outdoors_fencing_01"}
    assert {text(e["action"]) for e in examples} == {"downtown_walking", "outdoors_fencing"}
    for example in examples[::17]:
        mask = example["joint_mask"]
        assert not mask[skeleton.JOINT_NAMES.index("Head")] and mask.sum() == 16  # SMPL has no head top
        np.testing.assert_allclose(example["pose_3d"][0], 0.0, atol=1e-3)
        assert 3000 < example["root_position"][2] < 6000  # metres -> mm, in front of the camera
        projected = geometry.project_to_pixels(example["pose_3d"] + example["root_position"], example["intrinsics"])
        np.testing.assert_allclose(np.asarray(projected)[mask], example["keypoints_2d_gt"][mask], atol=0.05)
        # LSP-14 ground truth: the SMPL joints, root-relative to the SMPL pelvis.
        assert example["pose_lsp14"].shape == (14, 3) and np.isfinite(example["pose_lsp14"]).all()
        assert text(example["image_file"]) == (f"imageFiles/{text(example['sequence'])}/"
                                                f"image_{int(example['frame']):05d}.jpg")


def test_camera_frame_pose_does_not_depend_on_the_camera_motion(tmp_path):
    # The fixture builds each person in the camera frame and moves the camera: the builder must undo it.
    manual = write_pw3d_fixture(tmp_path / "manual", sequences=("courtyard_basketball_00",), people=1)
    test = pw3d.prepare(manual, tmp_path / "tfds").as_data_source(split="test")
    from posediff_jax.data.synthetic import synthetic_poses

    expected = synthetic_poses(40, seed=0).astype(np.float64)
    for index in (0, len(test) - 1):
        example = test[index]
        truth = expected[int(example["frame"])]
        mask = example["joint_mask"]
        np.testing.assert_allclose(example["pose_3d"][mask], (truth - truth[:1])[mask], atol=0.05)


def test_openpose_detections_map_to_h36m_with_a_mask():
    poses2d = np.zeros((2, 3, 18), np.float32)
    poses2d[:, 0] = np.arange(18) * 10.0
    poses2d[:, 1] = np.arange(18) * 10.0 + 1.0
    poses2d[:, 2] = 1.0
    poses2d[1, 2, 9] = 0.0  # right knee (OpenPose 9) undetected in frame 1
    keypoints, mask = pw3d.openpose18_to_h36m17(poses2d)
    right_knee = skeleton.JOINT_NAMES.index("RKnee")
    np.testing.assert_allclose(keypoints[0, right_knee], [90.0, 91.0])
    assert mask[0, right_knee] and not mask[1, right_knee]
    assert not mask[0, skeleton.JOINT_NAMES.index("Spine")]  # COCO has no spine


def test_preparing_twice_reuses_and_a_truncated_file_is_named_before_anything_is_trusted(tmp_path):
    manual = write_pw3d_fixture(tmp_path / "manual", corrupt="outdoors_fencing_01")
    with pytest.raises(DatasetFileError, match=r"outdoors_fencing_01.pkl: unreadable pickle"):
        pw3d.prepare(manual, tmp_path / "tfds")
    assert not list((tmp_path / "tfds").rglob("1.0.0"))
    manual = write_pw3d_fixture(tmp_path / "manual")  # rewritten whole
    builder = pw3d.prepare(manual, tmp_path / "tfds", config="small")
    files = sorted(builder.data_path.iterdir())
    stamps = [os.stat(path).st_mtime_ns for path in files]
    again = pw3d.prepare(manual, tmp_path / "tfds", config="small")
    assert sorted(again.data_path.iterdir()) == files and [os.stat(p).st_mtime_ns for p in files] == stamps
    assert len(again.as_data_source(split="test")) == 2 * (2 + 2)  # frames 0, 25 of each person's valid frames


def test_missing_and_wrong_layout_files_are_named(tmp_path):
    with pytest.raises(DatasetFileError, match=r"sequenceFiles/test: no 3DPW sequence files"):
        pw3d.prepare(tmp_path / "empty", tmp_path / "tfds")
    folder = tmp_path / "bad" / "sequenceFiles" / "test"
    folder.mkdir(parents=True)
    (folder / "a_00.pkl").write_bytes(pickle.dumps({"jointPositions": [np.zeros((5, 72))]}, protocol=2))
    with pytest.raises(DatasetFileError, match=r"a_00.pkl: missing keys \['cam_poses'"):
        pw3d.prepare(tmp_path / "bad", tmp_path / "tfds")
    data = {"jointPositions": [np.zeros((5, 69))], "cam_poses": np.tile(np.eye(4), (5, 1, 1)),
            "cam_intrinsics": np.eye(3), "campose_valid": [np.ones(5)], "img_frame_ids": np.arange(5)}
    (folder / "a_00.pkl").write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(DatasetFileError, match=r"jointPositions\[0\] has shape \[5, 69\], expected \[5, 72\]"):
        pw3d.prepare(tmp_path / "bad", tmp_path / "tfds")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_restricted_unpickler_rebuilds_arrays_and_refuses_code(tmp_path):
    good = tmp_path / "good.pkl"
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.eye(2), "text", 3, (1.5, None)],
             "c": np.float64(2.5)}
    for protocol in (2, 4, 5):
        good.write_bytes(pickle.dumps(value, protocol=protocol))
        loaded = safe_pickle.load_restricted(good)
        np.testing.assert_array_equal(loaded["a"], value["a"])
        assert loaded["b"][1:] == ["text", 3, (1.5, None)] and float(loaded["c"]) == 2.5
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": _Exploit()}, protocol=2))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(DatasetFileError, match=r"evil.pkl: refuses to unpickle global (posix|os)\.system"):
            safe_pickle.load_restricted(evil)
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "pwned.txt").exists()
    with pytest.raises(DatasetFileError, match="cannot read"):
        safe_pickle.load_restricted(tmp_path / "missing.pkl")


def test_evaluation_runs_through_the_builder_and_skips_the_missing_head_top(tmp_path, tiny_builder_eval_config,
                                                                           fast_compile):
    from posediff_jax.data import evaluation_frames
    from posediff_jax.evaluation import evaluate, evidence_sources
    from posediff_jax.prior.gaussian import make_gaussian_prior

    manual = write_pw3d_fixture(tmp_path / "manual", frames=10, people=1)
    config = tiny_builder_eval_config("pw3d", manual, max_frames=4, batch_size=2)
    frames = evaluation_frames.load_frames(config)
    assert frames["joint_mask"].shape == (4, 17)
    evidence = evidence_sources.batch_evidence("gt_heatmaps", frames, [0, 1], heatmap_size=16)
    head = skeleton.JOINT_NAMES.index("Head")
    assert float(np.asarray(evidence.joint_weights)[:, head].max()) == 0.0  # no heatmap evidence at (0, 0)
    result = evaluate.evaluate(config, workdir=tmp_path / "eval", prior=make_gaussian_prior(), frames=frames,
                               progress=False, log=lambda _: None)
    per_frame = result["per_frame"]
    assert per_frame["pa_mpjpe_lsp14_pbest_m4"].shape == (4,)
    assert np.all(per_frame["mpjpe_pbest_m4"] <= per_frame["mpjpe_pbest_m1"] + 1e-4)


def _rewrite(manual, name, change):
    """Applies `change(data)` to the fixture's `<name>.pkl` (a messy public copy) and writes it back."""
    path = manual / "sequenceFiles" / "test" / f"{name}.pkl"
    data = pickle.loads(path.read_bytes())
    change(data)
    path.write_bytes(pickle.dumps(data, protocol=2))
    return path


def test_none_and_nan_people_frames_and_detections_are_skipped_with_one_warning(tmp_path):
    from posediff_jax.data.videopose3d import DatasetWarning

    def mess(data):
        data["jointPositions"][1] = None  # a person missing from the file
        data["jointPositions"][0][0] = np.nan  # a valid frame of person 0
        data["cam_poses"][1, 0, 3] = np.nan  # a valid frame's camera pose
        data["jointPositions"][0][3] = np.nan  # invalid frame (campose_valid 0): not counted
        data["poses2d"][0][5, 0] = np.nan  # detections with NaN x: undetected, not NaN keypoints
        data["sequence"] = None

    manual = write_pw3d_fixture(tmp_path / "manual", sequences=("downtown_walking_00",))
    path = _rewrite(manual, "downtown_walking_00", mess)
    with pytest.warns(DatasetWarning, match=r"skipping person 0: 2 of 34 valid frames with NaN.*; person 1 \(None in the file\)"):
        sequence = pw3d.read_sequence(path)
    assert len(sequence["skipped"]) == 2 and sequence["sequence"] == "downtown_walking_00"
    with pytest.warns(DatasetWarning):
        test = pw3d.prepare(manual, tmp_path / "tfds").as_data_source(split="test")
    examples = [test[i] for i in range(len(test))]
    assert len(examples) == 32 and {int(e["person"]) for e in examples} == {0}
    assert {int(e["frame"]) for e in examples}.isdisjoint({0, 1, 3})
    for example in examples:
        for field in ("pose_3d", "pose_lsp14", "keypoints_2d_gt", "keypoints_2d_detected", "root_position"):
            assert np.isfinite(example[field]).all()
    assert not [e for e in examples if int(e["frame"]) == 5][0]["detection_mask"].any()


def test_unexpected_types_and_wrong_folders_are_named_or_read(tmp_path):
    manual = write_pw3d_fixture(tmp_path / "manual", sequences=("downtown_walking_00",), frames=10)
    path = _rewrite(manual, "downtown_walking_00", lambda d: d.update(
        jointPositions=np.stack(d["jointPositions"]), poses2d=None, sequence=b"downtown_walking_00"))
    sequence = pw3d.read_sequence(path)  # people stacked in one array, no detections, a bytes name: all fine
    assert len(sequence["joints"]) == 2 and sequence["poses2d"] is None and sequence["sequence"] == "downtown_walking_00"
    _rewrite(manual, "downtown_walking_00", lambda d: d.update(campose_valid=None))
    with pytest.raises(DatasetFileError, match=r"downtown_walking_00.pkl: missing keys \['campose_valid'\]"):
        pw3d.read_sequence(path)
    manual = write_pw3d_fixture(tmp_path / "strings", sequences=("downtown_walking_00",), frames=10)
    path = _rewrite(manual, "downtown_walking_00", lambda d: d["jointPositions"].__setitem__(
        0, np.full((10, 72), "x")))
    with pytest.raises(DatasetFileError, match=r"jointPositions\[0\] is not numeric"):
        pw3d.read_sequence(path)
    _rewrite(manual, "downtown_walking_00", lambda d: d.update(campose_valid=3))
    with pytest.raises(DatasetFileError, match="campose_valid is a int, expected a list"):
        pw3d.read_sequence(path)
    with pytest.raises(DatasetFileError, match=r"Found \*.pkl directly in .*test: set the manual_dir"):
        pw3d.sequence_files(manual / "sequenceFiles" / "test")
    (manual / "sequenceFiles" / "test").rename(manual / "sequenceFiles" / "train")
    with pytest.raises(DatasetFileError, match="Found only the train / validation split"):
        pw3d.sequence_files(manual)
    manual = write_pw3d_fixture(tmp_path / "invalid", sequences=("downtown_walking_00",), frames=10)
    _rewrite(manual, "downtown_walking_00", lambda d: d.update(campose_valid=[np.zeros(10)] * 2))
    with pytest.raises(DatasetFileError, match="sequenceFiles/test: no valid frame in any of the 1 sequence files"):
        pw3d.prepare(manual, tmp_path / "tfds")
