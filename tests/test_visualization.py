"""The hypotheses figure: detected 2D keypoints and the reprojected estimate are told apart, 3D axes carry mm
and camera-frame directions, and a legend keys the person's left / right colours."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from posediff_jax import skeleton, visualization  # noqa: E402
from posediff_jax.validation import PoseDiffError  # noqa: E402


def poses(count, seed=0):
    rng = np.random.default_rng(seed)
    pose = rng.normal(scale=200.0, size=(count, 17, 3)).astype(np.float32)
    return pose - pose[:, :1]


@pytest.fixture
def figure():
    keypoints = np.random.default_rng(1).uniform(10, 90, size=(17, 2))
    made = visualization.hypotheses_figure(poses(4), evidence_image=np.zeros((100, 120, 3), np.uint8),
                                           keypoints_2d=keypoints, reprojected_2d=keypoints + 2.0,
                                           ground_truth=poses(1, seed=3)[0], title="test")
    yield made
    plt.close(made)


def marker_of(collection):
    """The marker path's vertices of a scatter collection (identifies 'o' vs 'x')."""
    return collection.get_paths()[0].vertices


def test_detected_and_reprojected_keypoints_have_distinct_markers_and_colours(figure):
    axis_2d = figure.axes[0]
    detected, reprojected = axis_2d.collections[:2]
    assert len(detected.get_offsets()) == 17 and len(reprojected.get_offsets()) == 17
    assert not np.array_equal(marker_of(detected), marker_of(reprojected))
    assert not np.allclose(detected.get_facecolor()[0], reprojected.get_edgecolor()[0])
    # Bones: 16 solid (input, coloured by side) + 16 dashed in the estimate's single colour.
    solid = [line for line in axis_2d.lines if line.get_linestyle() == "-"]
    dashed = [line for line in axis_2d.lines if line.get_linestyle() == "--"]
    assert len(solid) == 16 and len(dashed) == 16
    assert {matplotlib.colors.to_hex(line.get_color()) for line in dashed} == {
        matplotlib.colors.to_hex(visualization.REPROJECTED_COLOUR)}


def test_3d_axes_are_labelled_in_mm_with_camera_directions(figure):
    axes_3d = [axis for axis in figure.axes if axis.name == "3d"]
    assert len(axes_3d) == 4
    for axis in axes_3d:
        labels = (axis.get_xlabel(), axis.get_ylabel(), axis.get_zlabel())
        assert all("mm" in label for label in labels), labels
        assert "right" in labels[0] and "depth" in labels[1] and "up" in labels[2]
        assert any(tick.get_text() for tick in axis.get_xticklabels())


def test_3d_panels_draw_every_bone_of_the_hypothesis_and_the_truth(figure):
    """Each panel holds two segment collections: the hypothesis's 16 bones coloured by side, then the truth's in
    black; segment i joins BONES[i]'s joints in plot coordinates (x, depth z, up -y)."""
    hypotheses, truth = poses(4), poses(1, seed=3)[0]
    for axis, pose in zip([axis for axis in figure.axes if axis.name == "3d"], hypotheses):
        drawn, drawn_truth = axis.collections
        for collection, joints in ((drawn, pose), (drawn_truth, truth)):
            segments = np.asarray(collection._segments3d)  # [16, 2, 3] as given (matplotlib has no 3D getter)
            assert segments.shape == (len(skeleton.BONES), 2, 3)
            child, parent = skeleton.BONES[5]
            expected = [[joints[joint, 0], joints[joint, 2], -joints[joint, 1]] for joint in (child, parent)]
            np.testing.assert_allclose(segments[5], expected, rtol=1e-6)
        colours = [matplotlib.colors.to_hex(colour) for colour in drawn.get_colors()]
        assert colours == [matplotlib.colors.to_hex(visualization._bone_colour(child)) for child, _ in skeleton.BONES]
        assert {matplotlib.colors.to_hex(colour) for colour in drawn_truth.get_colors()} == {
            matplotlib.colors.to_hex(visualization.TRUTH_COLOUR)}


def test_legend_keys_left_right_and_both_2d_layers(figure):
    texts = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert "person's left" in texts and "person's right" in texts
    assert any("detected" in text for text in texts) and any("reprojected" in text for text in texts)
    assert any("ground truth" in text for text in texts)


def test_bone_colours_follow_the_persons_sides():
    left_child = skeleton.LEFT_JOINTS[0]
    right_child = skeleton.RIGHT_JOINTS[0]
    assert visualization._bone_colour(left_child) == visualization.LEFT_COLOUR
    assert visualization._bone_colour(right_child) == visualization.RIGHT_COLOUR
    assert visualization._bone_colour(7) == visualization.CENTRE_COLOUR  # spine: neither side


def test_plot_hypotheses_writes_a_png_without_2d_and_checks_shapes(tmp_path):
    path = tmp_path / "poses.png"
    visualization.plot_hypotheses(path, poses(2), title="generate")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(PoseDiffError, match="hypotheses"):
        visualization.plot_hypotheses(tmp_path / "bad.png", np.zeros((2, 16, 3)))
    assert not (tmp_path / "bad.png").exists()
