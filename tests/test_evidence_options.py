"""Evidence options of the evaluation: energy keyword options from config.evidence, detector confidences."""

import ml_collections
import numpy as np
import pytest

from posediff_jax.evaluation import evidence_sources
from posediff_jax.evaluation.config_schema import default_eval_config
from posediff_jax.guidance import make_heatmap_energy
from posediff_jax.validation import PoseDiffError


def test_default_options_keep_todays_energy_and_virtual_joints_apply_to_detections_only():
    config = default_eval_config()
    assert evidence_sources.heatmap_energy_options(config.evidence) == {
        "outlier_probability": None, "virtual_joints": "none", "root_reweighting": 0}
    evidence = ml_collections.ConfigDict({"source": "gt_heatmaps", "virtual_joints": "mpii",
                                          "outlier_probability": 0.1, "root_reweighting": 2})
    options = evidence_sources.heatmap_energy_options(evidence)
    assert options == {"outlier_probability": 0.1, "virtual_joints": "none", "root_reweighting": 2}
    evidence.source = "detections"
    options = evidence_sources.heatmap_energy_options(evidence)
    assert options["virtual_joints"] == "mpii"
    make_heatmap_energy(**options)  # the factory takes them by name
    for key, value in (("virtual_joints", "coco"), ("outlier_probability", 1.0), ("root_reweighting", -1)):
        bad = ml_collections.ConfigDict(evidence.to_dict())
        bad[key] = value
        with pytest.raises(PoseDiffError, match=key):
            evidence_sources.heatmap_energy_options(bad)


def test_detection_confidence_widens_the_rendered_gaussian_and_the_mask_stays_the_weight():
    rng = np.random.default_rng(0)
    count = 2
    keypoints = rng.uniform(300, 700, (count, 17, 2)).astype(np.float32)
    mask = np.ones((count, 17), bool)
    mask[:, 7] = False
    frames = {
        "keypoints_2d_detected": keypoints, "detection_mask": mask,
        "intrinsics": np.tile(np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]], np.float32), (count, 1, 1)),
        "root_position": np.zeros((count, 3), np.float32),
    }
    plain = evidence_sources.batch_evidence("detections", frames, np.arange(count))
    frames["detection_confidence"] = np.full((count, 17), 0.25, np.float32)
    confident = evidence_sources.batch_evidence("detections", frames, np.arange(count))
    np.testing.assert_array_equal(confident.joint_weights, mask.astype(np.float32))
    # sigma doubles (1 / sqrt(0.25)): a wider map holds about 4 times the mass
    ratio = np.asarray(confident.heatmaps).sum(axis=(-2, -1)) / np.asarray(plain.heatmaps).sum(axis=(-2, -1))
    np.testing.assert_allclose(ratio[:, mask[0]], 4.0, rtol=0.2)  # less near the grid edge (truncated)
    assert np.median(ratio[:, mask[0]]) > 3.6


def test_detector_sigma_widens_detections_only():
    count = 2
    rng = np.random.default_rng(1)
    keypoints = rng.uniform(300, 700, (count, 17, 2)).astype(np.float32)
    frames = {
        "keypoints_2d_detected": keypoints, "keypoints_2d_gt": keypoints,
        "detection_mask": np.ones((count, 17), bool),
        "intrinsics": np.tile(np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]], np.float32), (count, 1, 1)),
        "root_position": np.zeros((count, 3), np.float32),
    }
    mass = {}
    for source in ("detections", "gt_heatmaps"):
        for detector_sigma in (0.0, 2.0):
            evidence = evidence_sources.batch_evidence(source, frames, np.arange(count), sigma=2.0,
                                                       detector_sigma=detector_sigma)
            mass[source, detector_sigma] = np.median(np.asarray(evidence.heatmaps).sum(axis=(-2, -1)))
    # sigma 2 -> sqrt(8): twice the area under each Gaussian for detections; ground truth is exact
    np.testing.assert_allclose(mass["detections", 2.0] / mass["detections", 0.0], 2.0, rtol=0.05)
    assert mass["gt_heatmaps", 2.0] == mass["gt_heatmaps", 0.0] == mass["detections", 0.0]
    assert default_eval_config().evidence.detector_sigma == 2.0


def _identified_frames(count):
    rng = np.random.default_rng(2)
    return {
        "keypoints_2d_gt": rng.uniform(300, 700, (count, 17, 2)).astype(np.float32),
        "intrinsics": np.tile(np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]], np.float32), (count, 1, 1)),
        "root_position": np.zeros((count, 3), np.float32),
        "subject": np.array(["S9"] * count), "action": np.array(["Walking"] * count),
        "camera": np.array(["54138969"] * count), "frame": np.arange(count) * 64,
    }


def test_noisy_ground_truth_has_the_asked_spread_and_a_frames_noise_does_not_depend_on_its_batch():
    frames = _identified_frames(400)
    noisy = evidence_sources.noisy_ground_truth_keypoints(frames, np.arange(400), 6.0, seed=3)
    offsets = noisy - frames["keypoints_2d_gt"]
    np.testing.assert_allclose(offsets.std(), 6.0, rtol=0.03)
    assert abs(offsets.mean()) < 0.2
    again = evidence_sources.noisy_ground_truth_keypoints(frames, [7, 3], 6.0, seed=3)
    np.testing.assert_array_equal(again, noisy[[7, 3]])  # the same frame, another batch: the same draw
    other_seed = evidence_sources.noisy_ground_truth_keypoints(frames, [7, 3], 6.0, seed=4)
    assert np.abs(other_seed - again).min() > 0
    exact = evidence_sources.noisy_ground_truth_keypoints(frames, [7, 3], 0.0)
    np.testing.assert_array_equal(exact, frames["keypoints_2d_gt"][[7, 3]])
    for bad in (-1.0, float("nan")):
        with pytest.raises(PoseDiffError, match="keypoint_noise_px"):
            evidence_sources.noisy_ground_truth_keypoints(frames, [0], bad)


def test_noisy_gt_source_renders_the_noisy_points_as_a_detectors_and_bad_keys_fail_before_loading():
    frames = _identified_frames(2)
    evidence = evidence_sources.batch_evidence("noisy_gt", frames, [0, 1], heatmap_size=64, detector_sigma=2.0,
                                               keypoint_noise_px=8.0, seed=0)
    expected = evidence_sources.noisy_ground_truth_keypoints(frames, [0, 1], 8.0, seed=0)
    np.testing.assert_allclose(evidence.keypoints_2d, expected, atol=1e-3)
    assert np.abs(evidence.keypoints_2d - frames["keypoints_2d_gt"]).max() > 5.0
    detections = dict(frames, keypoints_2d_detected=expected, detection_mask=np.ones((2, 17), bool))
    rendered = evidence_sources.batch_evidence("detections", detections, [0, 1], heatmap_size=64, detector_sigma=2.0)
    np.testing.assert_allclose(evidence.heatmaps, rendered.heatmaps, atol=1e-6)  # the same rendering as detections
    config = default_eval_config()
    config.evidence.source = "noisy_gt"
    config.evidence.keypoint_noise_px = 5.0
    assert evidence_sources.check_evidence_config(config.evidence) == evidence_sources.heatmap_energy_options(
        config.evidence)
    for key, value, message in (("source", "webcam", "evidence.source"),
                                ("keypoint_noise_px", -2.0, "keypoint_noise_px"),
                                ("virtual_joints", "coco", "virtual_joints")):
        bad = ml_collections.ConfigDict(config.evidence.to_dict())
        bad[key] = value
        with pytest.raises(PoseDiffError, match=message):
            evidence_sources.check_evidence_config(bad)
