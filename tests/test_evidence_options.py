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
