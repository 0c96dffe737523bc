import numpy as np
import pytest

from posediff_jax import skeleton
from posediff_jax.detector import joint_map
from posediff_jax.validation import ShapeError

J = skeleton.JOINT_INDEX


def test_every_joint_is_direct_midpoint_or_skipped_exactly_once():
    kinds = [set(joint_map.DIRECT), set(joint_map.MIDPOINTS), set(joint_map.SKIPPED)]
    assert set.union(*kinds) == set(range(skeleton.NUM_JOINTS))
    assert sum(len(kind) for kind in kinds) == skeleton.NUM_JOINTS
    assert [skeleton.JOINT_NAMES[j] for j in joint_map.SKIPPED] == ["Spine", "Head"]
    assert not joint_map.HAS_EVIDENCE[list(joint_map.SKIPPED)].any()


@pytest.mark.parametrize(
    "h36m, blazepose",
    [
        ("RHip", "right_hip"), ("RKnee", "right_knee"), ("RFoot", "right_ankle"),
        ("LHip", "left_hip"), ("LKnee", "left_knee"), ("LFoot", "left_ankle"),
        ("Neck/Nose", "nose"), ("LShoulder", "left_shoulder"), ("LElbow", "left_elbow"),
        ("LWrist", "left_wrist"), ("RShoulder", "right_shoulder"), ("RElbow", "right_elbow"),
        ("RWrist", "right_wrist"),
    ],
)  # fmt: skip
def test_direct_counterparts_by_name(h36m, blazepose):
    assert joint_map.DIRECT[J[h36m]] == joint_map.BLAZEPOSE_NAMES.index(blazepose)


def test_left_and_right_agree_with_skeleton():
    for joint, landmark in joint_map.DIRECT.items():
        name = joint_map.BLAZEPOSE_NAMES[landmark]
        if joint in skeleton.LEFT_JOINTS:
            assert name.startswith("left_")
        if joint in skeleton.RIGHT_JOINTS:
            assert name.startswith("right_")


def test_map_keypoints_direct_and_midpoints():
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 500, size=(39, 2))
    keypoints = joint_map.map_keypoints(landmarks)
    assert keypoints.shape == (17, 2)
    np.testing.assert_allclose(keypoints[J["LWrist"]], landmarks[15])
    np.testing.assert_allclose(keypoints[J["Hip"]], (landmarks[23] + landmarks[24]) / 2)
    np.testing.assert_allclose(keypoints[J["Thorax"]], (landmarks[11] + landmarks[12]) / 2)
    np.testing.assert_allclose(keypoints[J["Spine"]], (keypoints[J["Hip"]] + keypoints[J["Thorax"]]) / 2)
    # Batched input maps each element.
    batched = joint_map.map_keypoints(np.stack([landmarks, landmarks + 1.0]))
    np.testing.assert_allclose(batched[1], keypoints + 1.0)


def test_map_keypoints_rejects_too_few_landmarks():
    with pytest.raises(ShapeError, match="landmarks_2d"):
        joint_map.map_keypoints(np.zeros((17, 2)))


def test_map_confidences():
    confidences = np.linspace(0.1, 0.9, 33)
    weights = joint_map.map_confidences(confidences)
    assert weights.shape == (17,)
    assert weights[J["Spine"]] == 0 and weights[J["Head"]] == 0
    np.testing.assert_allclose(weights[J["RWrist"]], confidences[16])
    np.testing.assert_allclose(weights[J["Hip"]], confidences[23] * confidences[24])


def delta_map(row, col, size=16):
    heatmap = np.zeros((size, size))
    heatmap[row, col] = 1.0
    return heatmap


def test_midpoint_heatmap_of_deltas():
    midpoint = joint_map.midpoint_heatmap(delta_map(2, 4), delta_map(6, 10))
    np.testing.assert_allclose(midpoint, delta_map(4, 7), atol=1e-9)
    # Midpoint half-way between two cells: shared equally.
    shared = joint_map.midpoint_heatmap(delta_map(2, 4), delta_map(2, 7))
    np.testing.assert_allclose(shared[2, 5], 0.5, atol=1e-9)
    np.testing.assert_allclose(shared[2, 6], 0.5, atol=1e-9)


def test_midpoint_heatmap_mean_is_midpoint_of_means():
    rng = np.random.default_rng(1)
    first, second = rng.uniform(size=(2, 16, 16)) ** 8
    first, second = first / first.sum(), second / second.sum()
    result = joint_map.midpoint_heatmap(first, second)
    assert np.all(result >= 0)
    np.testing.assert_allclose(result.sum(), 1.0)
    rows, cols = np.mgrid[:16, :16]

    def mean(heatmap):
        return np.array([(heatmap * cols).sum(), (heatmap * rows).sum()])

    np.testing.assert_allclose(mean(result), (mean(first) + mean(second)) / 2, atol=1e-6)


def test_map_heatmaps():
    rng = np.random.default_rng(2)
    maps = rng.uniform(size=(33, 8, 8))
    maps /= maps.sum(axis=(1, 2), keepdims=True)
    heatmaps = joint_map.map_heatmaps(maps)
    assert heatmaps.shape == (17, 8, 8)
    np.testing.assert_allclose(heatmaps.sum(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(heatmaps[J["LKnee"]], maps[25])
    np.testing.assert_allclose(heatmaps[J["Head"]], 1.0 / 64)
    np.testing.assert_allclose(heatmaps[J["Thorax"]], joint_map.midpoint_heatmap(maps[11], maps[12]))
