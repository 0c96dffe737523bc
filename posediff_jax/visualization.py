"""Figures: the input 2D evidence beside several 3D hypotheses (matplotlib, Agg backend, no display needed).

`plot_hypotheses` writes one PNG. Left panel: the evidence image (a photo, or the max-projection of the
heatmaps over the joints, see `heatmap_max_projection`) with the detected 2D keypoints (solid bones coloured by
side, yellow circles) and, if given, the reprojected estimate (dashed lime bones, crosses). Right panel: up to
`max_hypotheses` 3D hypotheses coloured by side (the person's left blue, right red, spine / head grey) and the
ground truth (thin black), root-relative millimetres of the camera frame drawn with x (right) across, depth z
into the page and -y up; the axes carry those labels. A legend under the figure keys the colours and markers.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from posediff_jax.skeleton import BONES, LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS  # noqa: E402
from posediff_jax.validation import check_array  # noqa: E402


def heatmap_max_projection(heatmaps):
    """`[J, H, W]` -> `[H, W]` maximum over joints (what the detector saw, in heatmap coordinates)."""
    return np.asarray(heatmaps).max(axis=0)


# Side colours (the person's own left / right, as in skeleton.LEFT_JOINTS / RIGHT_JOINTS) for the detected 2D
# keypoints and the 3D hypotheses; the reprojected estimate has one colour and marker of its own.
LEFT_COLOUR = "tab:blue"
RIGHT_COLOUR = "tab:red"
CENTRE_COLOUR = "dimgray"
TRUTH_COLOUR = "black"
DETECTED_MARKER = "o"
DETECTED_FACE = "yellow"
REPROJECTED_COLOUR = "lime"
REPROJECTED_MARKER = "x"
# 3D panels: camera frame (x right, y down, z forward) drawn with x across, depth z into the page and -y up.
AXIS_LABELS_3D = ("x: right (mm)", "z: depth (mm)", "-y: up (mm)")


def _bone_colour(child):
    if child in LEFT_JOINTS:
        return LEFT_COLOUR
    if child in RIGHT_JOINTS:
        return RIGHT_COLOUR
    return CENTRE_COLOUR


def _shown_joints(joint_weights, min_weight):
    return np.ones(NUM_JOINTS, bool) if joint_weights is None else np.asarray(joint_weights) >= min_weight


def _draw_detected_2d(axis, keypoints, joint_weights=None, min_weight: float = 0.05):
    """Input keypoints: solid bones coloured by side, yellow circles; joints with weight < `min_weight` skipped."""
    keypoints = np.asarray(keypoints)
    shown = _shown_joints(joint_weights, min_weight)
    for child, parent in BONES:
        if shown[child] and shown[parent]:
            axis.plot(keypoints[[child, parent], 0], keypoints[[child, parent], 1], "-",
                      color=_bone_colour(child), linewidth=1.6)
    axis.scatter(keypoints[shown, 0], keypoints[shown, 1], s=14, marker=DETECTED_MARKER, color=DETECTED_FACE,
                 edgecolors="black", linewidths=0.5, zorder=3)


def _draw_reprojected_2d(axis, keypoints):
    """The estimate's projection: dashed bones and crosses, all in `REPROJECTED_COLOUR`."""
    keypoints = np.asarray(keypoints)
    for child, parent in BONES:
        axis.plot(keypoints[[child, parent], 0], keypoints[[child, parent], 1], "--", color=REPROJECTED_COLOUR,
                  linewidth=1.0, alpha=0.9)
    axis.scatter(keypoints[:, 0], keypoints[:, 1], s=18, marker=REPROJECTED_MARKER, color=REPROJECTED_COLOUR,
                 linewidths=1.2, zorder=4)


def legend_handles(detected: bool = False, reprojected: bool = False, truth: bool = False) -> list:
    """Legend entries: the left / right / centre colour key, then the 2D markers and the ground truth if drawn."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=LEFT_COLOUR, linewidth=2, label="person's left"),
        Line2D([], [], color=RIGHT_COLOUR, linewidth=2, label="person's right"),
        Line2D([], [], color=CENTRE_COLOUR, linewidth=2, label="spine / head"),
    ]
    if detected:
        handles.append(Line2D([], [], linestyle="-", color="gray", marker=DETECTED_MARKER,
                              markerfacecolor=DETECTED_FACE, markeredgecolor="black",
                              label="detected 2D keypoints (input)"))
    if reprojected:
        handles.append(Line2D([], [], linestyle="--", color=REPROJECTED_COLOUR, marker=REPROJECTED_MARKER,
                              label="reprojected 3D estimate"))
    if truth:
        handles.append(Line2D([], [], color=TRUTH_COLOUR, linewidth=1, label="ground truth (3D)"))
    return handles


def _draw_3d(axis, pose, truth=None, radius: float = 1000.0, labels: bool = True):
    """One 3D skeleton (coloured by side) in a cube of side `radius` mm around its centre; truth in black.

    Axes are root-relative millimetres of the camera frame: x (right) across, z (depth) into the page, -y up.
    """
    from matplotlib.ticker import MultipleLocator
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    def segments(joints):  # [bones, 2, 3] in plot coordinates (x, depth, up)
        pairs = joints[np.asarray(BONES)]
        return np.stack([pairs[..., 0], pairs[..., 2], -pairs[..., 1]], axis=-1)

    # One collection per skeleton (not a line per bone): the same picture, drawn several times faster.
    axis.add_collection3d(Line3DCollection(segments(pose), colors=[_bone_colour(child) for child, _ in BONES],
                                           linewidths=1.8))
    if truth is not None:
        axis.add_collection3d(Line3DCollection(segments(truth), colors=TRUTH_COLOUR, linewidths=0.8, alpha=0.7))
    centre = (pose.max(0) + pose.min(0)) / 2
    half = radius / 2
    axis.set_xlim(centre[0] - half, centre[0] + half)
    axis.set_ylim(centre[2] - half, centre[2] + half)
    axis.set_zlim(-centre[1] - half, -centre[1] + half)
    axis.view_init(elev=10, azim=-75)
    for which in (axis.xaxis, axis.yaxis, axis.zaxis):
        which.set_major_locator(MultipleLocator(500))
    axis.tick_params(labelsize=5, pad=-2)
    if labels:
        axis.set_xlabel(AXIS_LABELS_3D[0], fontsize=6, labelpad=-6)
        axis.set_ylabel(AXIS_LABELS_3D[1], fontsize=6, labelpad=-6)
        axis.set_zlabel(AXIS_LABELS_3D[2], fontsize=6, labelpad=-6)


def hypotheses_figure(
    hypotheses,
    evidence_image=None,
    keypoints_2d=None,
    reprojected_2d=None,
    ground_truth=None,
    title: str = "",
    max_hypotheses: int = 6,
    joint_weights=None,
):
    """The figure `plot_hypotheses` saves: the 2D evidence (left) beside a grid of 3D hypotheses (right).

    Args:
      hypotheses: `[m, 17, 3]` mm root-relative (camera frame); the first `max_hypotheses` are drawn, one per
        panel (viewed from slightly above, y up), with the ground truth in thin black when given.
      evidence_image: optional `[H, W]` or `[H, W, 3]` background for the 2D panel (photo or heatmap projection);
        keypoints are drawn in its pixel coordinates and the panel keeps the image's extent.
      keypoints_2d: optional `[17, 2]` input keypoints in the image's coordinates.
      reprojected_2d: optional `[17, 2]` projection of the estimate (dashed lime, crosses).
      ground_truth: optional `[17, 3]` mm root-relative.
      title: figure title.
      max_hypotheses: how many hypotheses to draw.
      joint_weights: optional `[17]` confidences of `keypoints_2d`; joints with ~0 weight are not drawn.
    Returns:
      a matplotlib Figure; the caller closes it (`matplotlib.pyplot.close(figure)`).
    """
    hypotheses = np.asarray(check_array("hypotheses", hypotheses, (None, NUM_JOINTS, 3)))
    truth = None if ground_truth is None else np.asarray(check_array("ground_truth", ground_truth, (NUM_JOINTS, 3)))
    has_2d = evidence_image is not None or keypoints_2d is not None
    shown = hypotheses[:max_hypotheses]
    columns = min(len(shown), 3)
    rows = -(-len(shown) // columns)
    figure = plt.figure(figsize=((4.5 if has_2d else 0) + 2.6 * columns, max(2.8 * rows, 4.2)))
    grid = figure.add_gridspec(rows, columns + (2 if has_2d else 0))
    if has_2d:
        axis_2d = figure.add_subplot(grid[:, :2])
        if evidence_image is not None:
            image = np.asarray(evidence_image)
            axis_2d.imshow(image, cmap="magma" if image.ndim == 2 else None)
        if keypoints_2d is not None:
            _draw_detected_2d(axis_2d, check_array("keypoints_2d", keypoints_2d, (NUM_JOINTS, 2)), joint_weights)
        if reprojected_2d is not None:
            _draw_reprojected_2d(axis_2d, check_array("reprojected_2d", reprojected_2d, (NUM_JOINTS, 2)))
        if evidence_image is None:
            axis_2d.invert_yaxis()
            axis_2d.set_aspect("equal")
        else:
            axis_2d.set_xlim(-0.5, image.shape[1] - 0.5)
            axis_2d.set_ylim(image.shape[0] - 0.5, -0.5)
        axis_2d.set_title("2D evidence" + (" and reprojected estimate" if reprojected_2d is not None else ""),
                          fontsize=9)
        axis_2d.set_xticks([])
        axis_2d.set_yticks([])
    for index, pose in enumerate(shown):
        axis_3d = figure.add_subplot(grid[index // columns, (2 if has_2d else 0) + index % columns], projection="3d")
        _draw_3d(axis_3d, pose, truth)
        axis_3d.set_title(f"hypothesis {index + 1}", fontsize=8)
    subtitle = (f"{len(shown)} of {len(hypotheses)} hypotheses, root-relative, camera frame (mm)"
                + (" (black: ground truth)" if truth is not None else ""))
    figure.suptitle((title + "\n" if title else "") + subtitle, fontsize=10)
    handles = legend_handles(detected=keypoints_2d is not None, reprojected=reprojected_2d is not None,
                             truth=truth is not None)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    return figure


def plot_hypotheses(path, hypotheses, **options) -> None:
    """Writes `hypotheses_figure(hypotheses, **options)` as a PNG to `path` (see there for the arguments)."""
    figure = hypotheses_figure(hypotheses, **options)
    try:
        figure.savefig(os.fspath(path), dpi=90)
    finally:
        plt.close(figure)
