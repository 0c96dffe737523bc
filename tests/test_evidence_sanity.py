"""Evidence arrays a user hands `posediff estimate / complete / generate` (and the `*_evidence_from_arrays`
builders): inputs the sampler would silently ignore or misread are refused with one error naming the problem."""

import pathlib
import tracemalloc

import numpy as np
import pytest

from posediff_jax import cli
from posediff_jax.guidance import array_inputs
from posediff_jax.guidance.bone_lengths import bone_lengths
from posediff_jax.guidance.evidence import make_heatmap_evidence, make_keypoint_evidence
from posediff_jax.guidance.render import heatmap_evidence_from_keypoints
from posediff_jax.validation import PoseDiffError

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "posediff_jax" / "assets" / "examples" / "h36m_s9_examples.npz"
with np.load(EXAMPLES) as _examples:
    KP = _examples["keypoints_2d_gt"][0].astype(np.float64)  # [17, 2] pixels
    K = _examples["intrinsics"][0].astype(np.float64)  # [3, 3]
    POSE = (_examples["pose_3d"][0] - _examples["pose_3d"][0][:1]).astype(np.float64)  # [17, 3] mm root-relative
    ROOT = _examples["root_position"][0].astype(np.float64)  # [3] mm
BONES = np.asarray(bone_lengths(POSE))  # [16] mm

HEATMAP = array_inputs.heatmap_evidence_from_arrays
KEYPOINTS = array_inputs.keypoint_evidence_from_arrays
COMPLETION = array_inputs.completion_evidence_from_arrays
BONE_LENGTHS = array_inputs.bone_length_evidence_from_arrays


def heatmap_arrays(frames=None):
    """Valid `heatmaps` + `image_to_heatmap` + `intrinsics` (rendered from the example's keypoints)."""
    evidence = heatmap_evidence_from_keypoints(KP, K, heatmap_size=16)
    arrays = {"heatmaps": np.asarray(evidence.heatmaps), "image_to_heatmap": np.asarray(evidence.image_to_heatmap),
              "intrinsics": K}
    if frames:
        arrays = {name: np.broadcast_to(value, (frames,) + value.shape) for name, value in arrays.items()}
    return arrays


@pytest.mark.parametrize("build, arrays, frame, count", [
    (HEATMAP, {"keypoints_2d": KP, "intrinsics": K, "confidence": np.zeros(17)}, 0, 0),
    (KEYPOINTS, {"keypoints_2d": KP, "intrinsics": K, "confidence": np.zeros(17)}, 0, 0),
    (KEYPOINTS, {"keypoints_2d": KP, "intrinsics": K, "joint_weights": np.zeros(17)}, 0, 0),
    (HEATMAP, {**heatmap_arrays(), "joint_weights": np.zeros(17)}, 0, 0),
    (HEATMAP, {**heatmap_arrays(), "joint_weights": np.eye(17)[0]}, 0, 1),  # a single joint places nothing
    (HEATMAP, {**heatmap_arrays(), "heatmaps": np.zeros((17, 16, 16))}, 0, 0),
    (HEATMAP, {**heatmap_arrays(), "heatmaps": np.ones((17, 16, 16))}, 0, 0),  # flat maps: no peak anywhere
    # a single confident joint: "no usable evidence", not "all joints within 0 px (pixel coordinates?)"
    (HEATMAP, {"keypoints_2d": KP, "intrinsics": K, "confidence": np.eye(17)[3]}, 0, 1),
    # per frame: the second of two frames has none
    (KEYPOINTS, {"keypoints_2d": np.stack([KP, KP]), "intrinsics": K,
                 "confidence": np.stack([np.ones(17), np.zeros(17)])}, 1, 0),
])
def test_evidence_that_would_be_ignored_is_refused(build, arrays, frame, count):
    with pytest.raises(PoseDiffError, match=rf"no usable evidence: frame {frame} has {count} joint\(s\)"):
        build(arrays)


def test_flat_heatmaps_of_some_joints_count_as_missing_ones():
    arrays = heatmap_arrays()
    arrays["heatmaps"] = arrays["heatmaps"].copy()
    arrays["heatmaps"][[4, 9]] = 0.5  # flat
    weights = np.asarray(HEATMAP(arrays).joint_weights)[0]
    assert weights[4] == 0.0 and weights[9] == 0.0 and weights[5] == 1.0


def test_completion_needs_a_known_joint_besides_the_pelvis():
    with pytest.raises(PoseDiffError, match=r"mask: frame 0 marks only the pelvis \(joint 0\) as known"):
        COMPLETION({"known_joints": POSE, "mask": np.eye(17)[0]})
    with pytest.raises(PoseDiffError, match="mask: frame 1 marks no joint as known"):
        COMPLETION({"known_joints": np.stack([POSE, POSE]), "mask": np.stack([np.ones(17), np.zeros(17)])})
    COMPLETION({"known_joints": POSE, "mask": np.eye(17)[0] + np.eye(17)[1]})  # one joint besides it: accepted


@pytest.mark.parametrize("keypoints, message", [
    (KP / 1000.0, r"within 0.37\d* px of each other; .*are these pixel coordinates\?"),  # normalised coordinates
    (np.tile(KP[:1], (17, 1)), "within 0 px of each other"),  # every joint on one point
    (KP * 1e5, r"even without its farthest one; expected pixel coordinates of one image \(scaled\?\)"),
    (np.where(np.arange(17)[:, None] == 3, 5e6, KP), "joint 3 at .* is a garbled detection"),  # one bad joint
])
def test_keypoint_energy_gets_the_pixel_checks_of_the_heatmap_path(keypoints, message):
    for build in (HEATMAP, KEYPOINTS):
        with pytest.raises(PoseDiffError, match=message):
            build({"keypoints_2d": keypoints, "intrinsics": K})
    with pytest.raises(PoseDiffError, match=message):
        make_keypoint_evidence(keypoints, K)  # the library constructor too


def without_scale(matrix):
    matrix = matrix.copy()
    matrix[2, 2] = 0.0
    return matrix


@pytest.mark.parametrize("change, message", [
    ({"intrinsics": np.eye(3)}, r"focal length 1 px is implausible; expected pixels"),
    ({"intrinsics": K.T}, r"expected \[\[fx, s, cx\], \[0, fy, cy\], \[0, 0, 1\]\].*\(transposed\?\)"),
    ({"intrinsics": without_scale(K)}, r"expected \[\[fx, s, cx\], \[0, fy, cy\], \[0, 0, 1\]\]"),
    ({"root_translation": ROOT / 1000.0}, r"root_translation: depth z 5.0\d* mm .*\(metres given\?\)"),
    ({"root_translation": ROOT * [1, 1, -1]}, r"depth z must be > 0 mm \(in front of the camera\)"),
    ({"root_translation": np.array([0.0, 0.0, 1e30])}, r"root_translation: 1e\+30 mm from the camera, over 100 km"),
    ({"intrinsics": K + [[0, 1e7, 0], [0, 0, 0], [0, 0, 0]]}, r"skew K\[0, 1\] = 1e\+07 px exceeds the focal length"),
    # a principal point far from every keypoint, keypoints 50,000 px outside the image: rays no camera images
    ({"intrinsics": K + [[0, 0, -1e5], [0, 0, -1e5], [0, 0, 0]]}, r"89.\d degrees off the camera's axis \(principal"),
    ({"keypoints_2d": KP + 5e4}, r"joint \d+ at \(5.\d+e\+04, 5.\d+e\+04\) px lies 89.\d degrees off"),
])
def test_implausible_cameras_and_units_are_refused(change, message):
    for build in (HEATMAP, KEYPOINTS):
        build({"keypoints_2d": KP, "intrinsics": K, "root_translation": ROOT})  # the real ones: accepted
        with pytest.raises(PoseDiffError, match=message):
            build({"keypoints_2d": KP, "intrinsics": K, "root_translation": ROOT, **change})
    with pytest.raises(PoseDiffError, match=message):
        HEATMAP({**heatmap_arrays(), "root_translation": ROOT, **change})


def test_photo_intrinsics_get_the_same_camera_check():
    from posediff_jax.detector import camera

    with pytest.raises(PoseDiffError, match="focal length"):
        camera.resolve_intrinsics(640, 480, intrinsics=np.eye(3))
    with pytest.raises(PoseDiffError, match=r"transposed\?"):
        camera.resolve_intrinsics(640, 480, intrinsics=K.T)


@pytest.mark.parametrize("arrays, message", [
    ({"bone_lengths": BONES / 1000.0}, r"longest bone is 0.47\d* mm; expected millimetres .*metres or zeros"),
    ({"bone_lengths": np.zeros(16)}, r"longest bone is 0 mm"),
    ({"bone_lengths": BONES * 1e6}, r"a bone of 4.7\d*e\+08 mm; expected millimetres"),
    ({"bone_lengths": BONES, "weights": np.zeros(16)}, "every weight is 0"),
    ({"bone_lengths": BONES[None]}, r"expected one set of 16 lengths \(shape \[16\]\), got \[1, 16\]"),
])
def test_bone_lengths_must_be_a_persons_in_millimetres(arrays, message):
    BONE_LENGTHS({"bone_lengths": BONES})
    # only the weighted bones are judged
    BONE_LENGTHS({"bone_lengths": np.where(np.arange(16) == 0, BONES, 0.0), "weights": np.eye(16)[0]})
    with pytest.raises(PoseDiffError, match=message):
        BONE_LENGTHS(arrays)


@pytest.mark.parametrize("build, arrays, message", [
    (KEYPOINTS, {"keypoints_2d": np.tile(KP, (2, 3, 1, 1)), "intrinsics": np.tile(K, (2, 3, 1, 1))},
     r"keypoints_2d: expected shape \[17, 2\] or \[frames, 17, 2\], got \[2, 3, 17, 2\] \(one frames axis"),
    (HEATMAP, {"keypoints_2d": np.tile(KP, (2, 3, 1, 1)), "intrinsics": np.tile(K, (2, 3, 1, 1))},
     r"keypoints_2d: expected shape \[17, 2\] or \[frames, 17, 2\]"),
    (HEATMAP, {name: np.broadcast_to(value, (2, 3) + value.shape) for name, value in heatmap_arrays().items()},
     r"heatmaps: expected shape \[17, H, W\] or \[frames, 17, H, W\], got \[2, 3, 17, 16, 16\]"),
    (COMPLETION, {"known_joints": np.tile(POSE, (2, 3, 1, 1)), "mask": np.ones((2, 3, 17))},
     r"known_joints: expected shape \[17, 3\] or \[frames, 17, 3\], got \[2, 3, 17, 3\]"),
    (KEYPOINTS, {"keypoints_2d": np.float32(3), "intrinsics": K}, r"keypoints_2d: expected shape .*, got \[\]"),
    (HEATMAP, {"keypoints_2d": np.float32(3), "intrinsics": K}, r"keypoints_2d: expected shape .*, got \[\]"),
    (KEYPOINTS, {"keypoints_2d": np.stack([KP] * 3), "intrinsics": np.stack([K] * 2)},
     r"intrinsics: 2 frames, expected 3 \(as the other arrays\) or one \[3, 3\] shared"),
    (COMPLETION, {"known_joints": np.where(np.arange(17)[:, None] == 4, "abc", POSE.astype(str)), "mask": np.ones(17)},
     "known_joints: expected real numbers, got an array of dtype <U"),
    (COMPLETION, {"known_joints": POSE + 1j, "mask": np.ones(17)},
     "known_joints: expected real numbers, got an array of dtype complex128"),
    (KEYPOINTS, {"keypoints_2d": KP + 0j, "intrinsics": K}, "keypoints_2d: expected real numbers"),
])
def test_malformed_layouts_and_types_are_named_up_front(build, arrays, message):
    with pytest.raises(PoseDiffError, match=message):
        build(arrays)


def test_a_per_joint_array_is_shared_by_every_frame():
    completed = COMPLETION({"known_joints": np.stack([POSE] * 8), "mask": (np.arange(17) < 5).astype(np.float32)})
    assert completed.mask.shape == (8, 17)
    for build in (HEATMAP, KEYPOINTS):
        evidence = build({"keypoints_2d": np.stack([KP] * 3), "intrinsics": K, "confidence": np.full(17, 0.5)})
        assert evidence.joint_weights.shape == (3, 17)
        np.testing.assert_allclose(np.asarray(evidence.joint_weights), 0.5)


def test_joint_weights_of_keypoint_input_are_used_with_the_confidence():
    weights = np.ones(17)
    weights[[5, 6]] = 0.0
    confidence = np.full(17, 0.5)
    keypoints = KEYPOINTS({"keypoints_2d": KP, "intrinsics": K, "joint_weights": weights, "confidence": confidence})
    np.testing.assert_allclose(np.asarray(keypoints.joint_weights)[0], weights * confidence)
    heatmaps = HEATMAP({"keypoints_2d": KP, "intrinsics": K, "joint_weights": weights, "confidence": confidence})
    np.testing.assert_allclose(np.asarray(heatmaps.joint_weights)[0], weights * confidence)


def test_rendering_many_frames_holds_no_float64_copy_of_the_maps():
    """Building heatmap evidence from keypoints peaked at ~7x the float32 maps (float64 temporaries in the
    renderer and the peak normalisation): 1.9 MB per frame, 5.9 GB for 3,000 frames."""
    frames = 64
    keypoints = np.stack([KP + shift for shift in np.linspace(0.0, 50.0, frames)])
    maps_bytes = frames * 17 * 64 * 64 * 4
    intrinsics = np.broadcast_to(K, (frames, 3, 3))
    heatmap_evidence_from_keypoints(keypoints[:2], intrinsics[:2])  # warm up (compilation, caches)
    tracemalloc.start()
    try:
        evidence = heatmap_evidence_from_keypoints(keypoints, intrinsics, detector_sigma=2.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert evidence.heatmaps.shape == (frames, 17, 64, 64)
    assert peak < 2.5 * maps_bytes, f"peak {peak / maps_bytes:.1f}x the float32 maps"
    # and the same maps as before: peak-1 Gaussians, normalised
    np.testing.assert_allclose(np.asarray(evidence.heatmaps).max(axis=(-2, -1)), 1.0, rtol=1e-6)
    again = make_heatmap_evidence(np.asarray(evidence.heatmaps) * 3.0, evidence.image_to_heatmap, intrinsics,
                                  keypoints_2d=keypoints)
    np.testing.assert_allclose(np.asarray(again.heatmaps), np.asarray(evidence.heatmaps), rtol=1e-6)


@pytest.mark.parametrize("command, flag, arrays, message", [
    ("estimate", "--input", {"keypoints_2d": KP, "intrinsics": K, "confidence": np.zeros(17)}, "no usable evidence"),
    ("estimate", "--input", {"keypoints_2d": KP, "intrinsics": np.eye(3)}, "focal length 1 px"),
    ("estimate", "--input", {"keypoints_2d": KP + 5e4, "intrinsics": K}, "degrees off the camera's axis"),
    ("estimate", "--input", {"keypoints_2d": KP, "intrinsics": K, "root_translation": np.array([0, 0, 1e30])},
     "over 100 km"),
    ("complete", "--input", {"known_joints": POSE, "mask": np.eye(17)[0]}, "only the pelvis"),
    ("generate", "--bone-lengths", {"bone_lengths": BONES / 1000.0}, "metres or zeros given"),
])
@pytest.mark.parametrize("energy", [[], ["--energy", "keypoints"]])
def test_commands_refuse_such_input_in_one_line_and_write_nothing(tmp_path, capsys, command, flag, arrays, message,
                                                                   energy):
    if energy and command != "estimate":
        pytest.skip("--energy is an estimate flag")
    source, output = tmp_path / "input.npz", tmp_path / "out.npz"
    np.savez(source, **arrays)
    assert cli.main([command, flag, str(source), "--output", str(output), "--prior", "gaussian", "--steps", "2",
                     "--num-hypotheses", "2", "--quiet", *energy]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert not output.exists()
