import numpy as np
import pytest

from posediff_jax.guidance import evidence as evidence_lib
from posediff_jax.guidance import render
from posediff_jax.validation import PoseDiffError

K = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]], np.float32)


def keypoints(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(300, 700, (17, 2))).astype(np.float32)


def test_gaussians_peak_at_the_points_with_the_requested_sigma():
    points = np.array([[10.0, 20.0], [30.5, 5.0]])
    maps = render.render_gaussian_heatmaps(points, 32, 40, sigma=np.array([2.0, 3.0]))
    assert maps.shape == (2, 32, 40)
    assert np.unravel_index(maps[0].argmax(), maps[0].shape) == (20, 10)
    np.testing.assert_allclose(maps[0, 20, 12], np.exp(-4 / 8), rtol=1e-5)
    np.testing.assert_allclose(maps[1, 5, 30], np.exp(-0.25 / 18), rtol=1e-5)


def test_bounding_box_affine_maps_the_box_inside_the_grid():
    points = keypoints()
    affine = render.bounding_box_affine(points, heatmap_size=64, margin=1.25)
    mapped = points @ affine[:, :2].T + affine[:, 2]
    assert mapped.min() >= -0.5 and mapped.max() <= 63.5
    # the box side is margin * the larger extent: the extreme coordinates sit 1/1.25 of the way across.
    extent = mapped.max(0) - mapped.min(0)
    np.testing.assert_allclose(extent.max(), 64 / 1.25, rtol=1e-5)


def test_confidence_widens_sigma():
    sigmas = render.sigma_from_confidence(np.array([1.0, 0.25, 0.0]), sigma=2.0)
    np.testing.assert_allclose(sigmas, [2.0, 4.0, 2.0 / np.sqrt(0.1)])


def test_evidence_from_keypoints_roundtrips_the_argmax():
    points = keypoints()
    confidence = np.linspace(0.2, 1.0, 17)
    evidence = render.heatmap_evidence_from_keypoints(points, K, sigma=2.0, confidence=confidence)
    assert evidence.heatmaps.shape == (17, 64, 64)
    np.testing.assert_allclose(evidence.joint_weights, confidence, rtol=1e-6)
    argmax = evidence_lib.heatmap_argmax_keypoints(np.asarray(evidence.heatmaps), np.asarray(evidence.image_to_heatmap))
    cell = 1.0 / float(evidence.image_to_heatmap[0, 0])
    assert np.abs(argmax - points).max() <= cell * 0.75
    assert not bool(evidence.use_given_root)


def test_batched_keypoints_give_batched_evidence():
    points = np.stack([keypoints(0), keypoints(1)])
    evidence = render.heatmap_evidence_from_keypoints(points, np.stack([K, K]),
                                                     root_translation=np.tile([0.0, 0.0, 5000.0], (2, 1)))
    assert evidence.heatmaps.shape == (2, 17, 64, 64)
    assert evidence.image_to_heatmap.shape == (2, 2, 3)
    assert evidence.use_given_root.shape == (2,) and bool(evidence.use_given_root.all())


def good_heatmaps():
    return np.ones((17, 8, 8), np.float32)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: h.__setitem__((0, 0, 0), np.nan), "NaN"),
        (lambda h: h.__setitem__((3, 1, 1), -0.5), "negative"),
    ],
)
def test_bad_heatmap_values_are_named(change, message):
    heatmaps = good_heatmaps()
    change(heatmaps)
    with pytest.raises(PoseDiffError, match=message):
        evidence_lib.make_heatmap_evidence(heatmaps, np.eye(2, 3), K)


def test_bad_heatmap_shapes_and_missing_intrinsics_are_named():
    with pytest.raises(PoseDiffError, match="17 joint maps"):
        evidence_lib.make_heatmap_evidence(np.ones((33, 8, 8)), np.eye(2, 3), K)
    with pytest.raises(PoseDiffError, match="zero-size"):
        evidence_lib.make_heatmap_evidence(np.ones((17, 0, 8)), np.eye(2, 3), K)
    with pytest.raises(PoseDiffError, match="intrinsics: missing"):
        evidence_lib.make_heatmap_evidence(good_heatmaps(), np.eye(2, 3), None)
    with pytest.raises(PoseDiffError, match="intrinsics"):
        render.heatmap_evidence_from_keypoints(keypoints(), np.eye(2))
    with pytest.raises(PoseDiffError, match="keypoints_2d"):
        render.heatmap_evidence_from_keypoints(np.zeros((16, 2)), K)


def test_empty_heatmaps_get_zero_weight():
    heatmaps = good_heatmaps()
    heatmaps[10] = 0.0
    evidence = evidence_lib.make_heatmap_evidence(heatmaps, np.eye(2, 3), K)
    assert float(evidence.joint_weights[10]) == 0.0 and float(evidence.joint_weights[9]) == 1.0


def test_detector_sigma_adds_in_quadrature_and_tempers_the_energy():
    np.testing.assert_allclose(render.evidence_sigma(2.0, 0.0), 2.0)
    np.testing.assert_allclose(render.evidence_sigma(3.0, 4.0), 5.0)
    points = keypoints()
    exact = render.heatmap_evidence_from_keypoints(points, K, sigma=2.0)
    detected = render.heatmap_evidence_from_keypoints(points, K, sigma=2.0, detector_sigma=2.0)
    wide = render.heatmap_evidence_from_keypoints(points, K, sigma=np.sqrt(8.0))
    np.testing.assert_allclose(np.asarray(detected.heatmaps), np.asarray(wide.heatmaps), rtol=1e-6)
    # -log of a peak-1 Gaussian is d^2 / (2 sigma^2): the detection's energy is the exact one times
    # sigma^2 / (sigma^2 + detector_sigma^2) = 1/2 wherever the maps are read (inside the grid).
    affine = np.asarray(exact.image_to_heatmap)
    centres = points @ affine[:, :2].T + affine[:, 2]
    offsets = np.random.default_rng(3).normal(0.0, 1.5, centres.shape)
    rows, columns = np.round(centres[:, 1] + offsets[:, 1]).astype(int), np.round(centres[:, 0] + offsets[:, 0]).astype(int)
    joints = np.arange(17)
    exact_energy = -np.log(np.asarray(exact.heatmaps)[joints, rows, columns])
    detected_energy = -np.log(np.asarray(detected.heatmaps)[joints, rows, columns])
    np.testing.assert_allclose(detected_energy, 0.5 * exact_energy, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("sigma, detector_sigma", [(0.0, 2.0), (2.0, -1.0), (2.0, float("nan"))])
def test_bad_sigmas_are_named(sigma, detector_sigma):
    with pytest.raises(PoseDiffError, match="sigma"):
        render.heatmap_evidence_from_keypoints(keypoints(), K, sigma=sigma, detector_sigma=detector_sigma)


def test_rendered_sigma_default_is_written_once():
    """The evaluation config, `posediff estimate --sigma` and the renderers all take `RENDER_SIGMA`."""
    import argparse
    import inspect

    from posediff_jax.commands import estimate
    from posediff_jax.evaluation.config_schema import default_eval_config
    from posediff_jax.guidance import array_inputs, render

    assert default_eval_config().evidence.sigma == render.RENDER_SIGMA
    parser = argparse.ArgumentParser()
    estimate.add_arguments(parser)
    assert parser.get_default("sigma") == render.RENDER_SIGMA
    for function in (render.evidence_sigma, render.heatmap_evidence_from_keypoints,
                     array_inputs.heatmap_evidence_from_arrays):
        assert inspect.signature(function).parameters["sigma"].default == render.RENDER_SIGMA


@pytest.mark.parametrize("builder", ["heatmap", "keypoints"])
def test_nan_keypoints_are_missing_joints_as_in_detection_files(builder):
    """A NaN keypoint gets confidence 0: the same evidence as the joint given with confidence 0 (any position)."""
    from posediff_jax.guidance import array_inputs

    build = {"heatmap": array_inputs.heatmap_evidence_from_arrays,
             "keypoints": array_inputs.keypoint_evidence_from_arrays}[builder]
    points = keypoints()
    with_nan = points.copy()
    with_nan[4] = np.nan
    confidence = np.ones(17, np.float32)
    confidence[4] = 0.0
    got = build({"keypoints_2d": with_nan, "intrinsics": K, "confidence": np.full(17, 1.0, np.float32)})
    explicit = build({"keypoints_2d": np.where(np.isnan(with_nan), 0.0, with_nan), "intrinsics": K,
                      "confidence": confidence})
    assert float(got.joint_weights[0, 4]) == 0.0 and float(got.joint_weights[0, 3]) == 1.0
    for field in ("joint_weights", "keypoints_2d") + (("heatmaps", "image_to_heatmap") if builder == "heatmap" else ()):
        np.testing.assert_array_equal(np.asarray(getattr(got, field)), np.asarray(getattr(explicit, field)))
    without_confidence = build({"keypoints_2d": with_nan, "intrinsics": K})  # confidence 1 elsewhere
    np.testing.assert_array_equal(np.asarray(without_confidence.joint_weights), np.asarray(got.joint_weights))


@pytest.mark.parametrize("arrays, message", [
    ({"keypoints_2d": np.full((17, 2), np.nan)}, "frame 0 has 0 finite joint"),
    ({"keypoints_2d": np.zeros((0, 17, 2))}, "no frames"),
    ({"keypoints_2d": keypoints(), "confidence": -np.ones(17)}, "non-negative"),
    ({"keypoints_2d": keypoints(), "root_translation": np.array([0.0, 0.0, -4000.0])}, "in front of the camera"),
    ({"keypoints_2d": np.full((17, 2), 300.0)}, "frame 0's joints all lie within 0 px"),
    ({"keypoints_2d": keypoints() / 1000.0}, r"are these pixel coordinates\?"),
    ({"keypoints_2d": np.stack([keypoints(), np.where(np.arange(17)[:, None] == 5, 1e9, keypoints())])},
     r"frame 1's joints span 1e\+09 px: joint 5 at \(1e\+09, 1e\+09\) is a garbled detection"),
])
def test_unusable_keypoint_inputs_are_named(arrays, message):
    from posediff_jax.guidance import array_inputs

    with pytest.raises(PoseDiffError, match=message):
        array_inputs.heatmap_evidence_from_arrays({**arrays, "intrinsics": K})


def test_a_garbled_joint_marked_missing_is_no_longer_refused():
    """The error for a garbled coordinate tells the user to mark it NaN; doing so gives usable evidence."""
    from posediff_jax.guidance import array_inputs

    points = keypoints()
    points[5] = 1e9
    with pytest.raises(PoseDiffError, match="joint 5"):
        array_inputs.heatmap_evidence_from_arrays({"keypoints_2d": points, "intrinsics": K})
    points[5] = np.nan
    evidence = array_inputs.heatmap_evidence_from_arrays({"keypoints_2d": points, "intrinsics": K})
    assert float(evidence.joint_weights[0, 5]) == 0.0 and float(evidence.joint_weights[0, 4]) == 1.0
