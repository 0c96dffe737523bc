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


def _draw_2d(axis, keypoints, style, label):
    keypoints = np.asarray(keypoints)
    for child, parent in BONES:
        axis.plot(keypoints[[child, parent], 0], keypoints[[child, parent], 1], style, color=_bone_colour(child),
                  linewidth=1.5)
    axis.scatter(keypoints[:, 0], keypoints[:, 1], s=8, color="yellow", edgecolors="black", linewidths=0.4,
                 label=label, zorder=3)


def plot_hypotheses(
    path,
    hypotheses,
    evidence_image=None,
    keypoints_2d=None,
    reprojected_2d=None,
    ground_truth=None,
    title: str = "",
    max_hypotheses: int = 8,
):
    """Writes a PNG to `path`.

    Args:
      path: output file (.png).
      hypotheses: `[m, 17, 3]` mm root-relative (camera frame).
      evidence_image: optional `[H, W]` or `[H, W, 3]` background for the 2D panel (photo or heatmap projection);
        keypoints are drawn in its pixel coordinates.
      keypoints_2d: optional `[17, 2]` input keypoints in the image's coordinates.
      reprojected_2d: optional `[17, 2]` projection of the estimate (dashed).
      ground_truth: optional `[17, 3]` mm root-relative.
      title: figure title.
      max_hypotheses: how many hypotheses to draw.
    """
    hypotheses = np.asarray(check_array("hypotheses", hypotheses, (None, NUM_JOINTS, 3)))
    has_2d = evidence_image is not None or keypoints_2d is not None
    figure = plt.figure(figsize=(10 if has_2d else 5.5, 5))
    if has_2d:
        axis_2d = figure.add_subplot(1, 2, 1)
        if evidence_image is not None:
            image = np.asarray(evidence_image)
            axis_2d.imshow(image, cmap="magma" if image.ndim == 2 else None)
        if keypoints_2d is not None:
            _draw_2d(axis_2d, check_array("keypoints_2d", keypoints_2d, (NUM_JOINTS, 2)), "-", "input 2D")
        if reprojected_2d is not None:
            _draw_2d(axis_2d, check_array("reprojected_2d", reprojected_2d, (NUM_JOINTS, 2)), "--", "estimate")
        if evidence_image is None:
            axis_2d.invert_yaxis()
            axis_2d.set_aspect("equal")
        axis_2d.set_title("2D evidence")
        axis_2d.set_xticks([])
        axis_2d.set_yticks([])
        axis_3d = figure.add_subplot(1, 2, 2, projection="3d")
    else:
        axis_3d = figure.add_subplot(1, 1, 1, projection="3d")
    shown = hypotheses[:max_hypotheses]
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, max(len(shown), 1)))
    for pose, colour in zip(shown, colours):
        for child, parent in BONES:
            pair = pose[[child, parent]]
            axis_3d.plot(pair[:, 0], pair[:, 2], -pair[:, 1], color=colour, linewidth=1.0, alpha=0.8)
    points = shown.reshape(-1, 3)
    if ground_truth is not None:
        truth = np.asarray(check_array("ground_truth", ground_truth, (NUM_JOINTS, 3)))
        for child, parent in BONES:
            pair = truth[[child, parent]]
            axis_3d.plot(pair[:, 0], pair[:, 2], -pair[:, 1], color="black", linewidth=2.5)
        points = np.concatenate([points, truth])
    centre = (points.max(0) + points.min(0)) / 2
    radius = max(float(np.max(points.max(0) - points.min(0))) / 2, 100.0)
    axis_3d.set_xlim(centre[0] - radius, centre[0] + radius)
    axis_3d.set_ylim(centre[2] - radius, centre[2] + radius)
    axis_3d.set_zlim(-centre[1] - radius, -centre[1] + radius)
    axis_3d.set_xlabel("x (mm)")
    axis_3d.set_ylabel("depth z (mm)")
    axis_3d.set_zlabel("up -y (mm)")
    axis_3d.set_title(f"{len(shown)} of {len(hypotheses)} hypotheses" + (" (black: truth)" if ground_truth is not None else ""))
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(os.fspath(path), dpi=90)
    plt.close(figure)
