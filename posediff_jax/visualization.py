"""Figures: the input 2D evidence beside several 3D hypotheses (matplotlib, Agg backend, no display needed).

`plot_hypotheses` writes one PNG. Left panel: the evidence image (a photo, or the max-projection of the
heatmaps over the joints, see `heatmap_max_projection`) with the 2D keypoints (and, if given, the
reprojected estimate). Right panel: up to `max_hypotheses` 3D hypotheses (thin coloured skeletons) and the
ground truth (thick black) in millimetres, camera frame shown with y up (`-y`) and depth into the page.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from posediff_jax.skeleton import BONES, LEFT_JOINTS, NUM_JOINTS  # noqa: E402
from posediff_jax.validation import check_array  # noqa: E402


def heatmap_max_projection(heatmaps):
    """`[J, H, W]` -> `[H, W]` maximum over joints (what the detector saw, in heatmap coordinates)."""
    return np.asarray(heatmaps).max(axis=0)


def _bone_colour(child):
    return "tab:blue" if child in LEFT_JOINTS else "tab:red"


def _draw_2d(axis, keypoints, style, label, joint_weights=None, min_weight: float = 0.05):
    """Draws a 2D skeleton; joints with weight below `min_weight` (no detection) and their bones are skipped."""
    keypoints = np.asarray(keypoints)
    shown = np.ones(NUM_JOINTS, bool) if joint_weights is None else np.asarray(joint_weights) >= min_weight
    for child, parent in BONES:
        if shown[child] and shown[parent]:
            axis.plot(keypoints[[child, parent], 0], keypoints[[child, parent], 1], style,
                      color=_bone_colour(child), linewidth=1.5)
    axis.scatter(keypoints[shown, 0], keypoints[shown, 1], s=8, color="yellow", edgecolors="black",
                 linewidths=0.4, label=label, zorder=3)


def _draw_3d(axis, pose, truth=None, radius: float = 1000.0):
    """One 3D skeleton (left blue, right red) in a cube of side `radius` around its centre; truth in black."""
    for child, parent in BONES:
        pair = pose[[child, parent]]
        axis.plot(pair[:, 0], pair[:, 2], -pair[:, 1], color=_bone_colour(child), linewidth=1.8)
        if truth is not None:
            pair = truth[[child, parent]]
            axis.plot(pair[:, 0], pair[:, 2], -pair[:, 1], color="black", linewidth=0.8, alpha=0.7)
    centre = (pose.max(0) + pose.min(0)) / 2
    half = radius / 2
    axis.set_xlim(centre[0] - half, centre[0] + half)
    axis.set_ylim(centre[2] - half, centre[2] + half)
    axis.set_zlim(-centre[1] - half, -centre[1] + half)
    axis.view_init(elev=10, azim=-75)
    axis.set_xticklabels([])
    axis.set_yticklabels([])
    axis.set_zticklabels([])


def plot_hypotheses(
    path,
    hypotheses,
    evidence_image=None,
    keypoints_2d=None,
    reprojected_2d=None,
    ground_truth=None,
    title: str = "",
    max_hypotheses: int = 6,
    joint_weights=None,
):
    """Writes a PNG to `path`: the 2D evidence (left) beside a grid of 3D hypotheses (right).

    Args:
      path: output file (.png).
      hypotheses: `[m, 17, 3]` mm root-relative (camera frame); the first `max_hypotheses` are drawn, one per
        panel (viewed from slightly above, y up), with the ground truth in thin black when given.
      evidence_image: optional `[H, W]` or `[H, W, 3]` background for the 2D panel (photo or heatmap projection);
        keypoints are drawn in its pixel coordinates and the panel keeps the image's extent.
      keypoints_2d: optional `[17, 2]` input keypoints in the image's coordinates.
      reprojected_2d: optional `[17, 2]` projection of the estimate (dashed).
      ground_truth: optional `[17, 3]` mm root-relative.
      title: figure title.
      max_hypotheses: how many hypotheses to draw.
      joint_weights: optional `[17]` confidences of `keypoints_2d`; joints with ~0 weight are not drawn.
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
            _draw_2d(axis_2d, check_array("keypoints_2d", keypoints_2d, (NUM_JOINTS, 2)), "-", "input 2D",
                     joint_weights)
        if reprojected_2d is not None:
            _draw_2d(axis_2d, check_array("reprojected_2d", reprojected_2d, (NUM_JOINTS, 2)), "--",
                     "reprojected estimate")
            axis_2d.legend(loc="lower right", fontsize=7)
        if evidence_image is None:
            axis_2d.invert_yaxis()
            axis_2d.set_aspect("equal")
        else:
            axis_2d.set_xlim(-0.5, image.shape[1] - 0.5)
            axis_2d.set_ylim(image.shape[0] - 0.5, -0.5)
        axis_2d.set_title("2D evidence" + (" and reprojected estimate (dashed)" if reprojected_2d is not None else ""),
                          fontsize=9)
        axis_2d.set_xticks([])
        axis_2d.set_yticks([])
    for index, pose in enumerate(shown):
        axis_3d = figure.add_subplot(grid[index // columns, (2 if has_2d else 0) + index % columns], projection="3d")
        _draw_3d(axis_3d, pose, truth)
        axis_3d.set_title(f"hypothesis {index + 1}", fontsize=8)
    subtitle = f"{len(shown)} of {len(hypotheses)} hypotheses" + (" (black: ground truth)" if truth is not None else "")
    figure.suptitle((title + "\n" if title else "") + subtitle, fontsize=10)
    figure.tight_layout()
    figure.savefig(os.fspath(path), dpi=90)
    plt.close(figure)
