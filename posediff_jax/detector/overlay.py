"""Drawing a photo with 2D joints (H36M-17 skeleton) and, optionally, a reprojected 3D pose, on a matplotlib Axes.

Composable: the caller owns the figure (`posediff_jax.visualization` puts this beside 3D views).
"""

from __future__ import annotations

import numpy as np

from posediff_jax import skeleton
from posediff_jax.validation import check_array

LEFT_COLOUR = "tab:blue"
RIGHT_COLOUR = "tab:red"
CENTRE_COLOUR = "gold"
REPROJECTION_COLOUR = "lime"


def bone_colour(child: int) -> str:
    """Left limbs blue, right limbs red, spine and head yellow."""
    if child in skeleton.LEFT_JOINTS:
        return LEFT_COLOUR
    if child in skeleton.RIGHT_JOINTS:
        return RIGHT_COLOUR
    return CENTRE_COLOUR


def draw_image_with_keypoints(
    ax,
    image: np.ndarray,
    keypoints_2d: np.ndarray | None = None,
    reprojected_2d: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    min_weight: float = 0.3,
    title: str | None = None,
):
    """Shows `image` on `ax` with the detected joints and an optional reprojected pose.

    Args:
      ax: a matplotlib Axes.
      image: `[H, W, 3]` RGB (uint8 or float in [0, 1]).
      keypoints_2d: `[17, 2]` or `[people, 17, 2]` detected joints in image pixels (H36M-17), or None.
      reprojected_2d: `[17, 2]` or `[k, 17, 2]` reprojected 3D pose(s) in image pixels (e.g. the best or the
        aggregated hypothesis), drawn as thin lime skeletons, or None.
      weights: `[17]` or `[people, 17]` joint confidences; joints below `min_weight` (and bones touching
        them) are drawn faint and dashed, joints with weight 0 (no evidence) are not drawn.
      min_weight: confidence under which a joint counts as uncertain.
      title: optional axes title.
    Returns:
      `ax`.
    """
    image = np.asarray(image)
    height, width = image.shape[:2]
    ax.imshow(image)
    if keypoints_2d is not None:
        keypoints = np.asarray(check_array("keypoints_2d", keypoints_2d, ("...", skeleton.NUM_JOINTS, 2)))
        keypoints = keypoints.reshape(-1, skeleton.NUM_JOINTS, 2)
        if weights is None:
            joint_weights = np.ones(keypoints.shape[:2])
        else:
            joint_weights = np.asarray(check_array("weights", weights, ("...", skeleton.NUM_JOINTS)))
            joint_weights = np.broadcast_to(joint_weights.reshape(-1, skeleton.NUM_JOINTS), keypoints.shape[:2])
        for person, person_weights in zip(keypoints, joint_weights):
            _draw_skeleton(ax, person, person_weights, min_weight)
    if reprojected_2d is not None:
        reprojected = np.asarray(check_array("reprojected_2d", reprojected_2d, ("...", skeleton.NUM_JOINTS, 2)))
        for pose in reprojected.reshape(-1, skeleton.NUM_JOINTS, 2):
            for child, parent in skeleton.BONES:
                ax.plot(*pose[[child, parent]].T, color=REPROJECTION_COLOUR, linewidth=1.2, alpha=0.9)
            ax.scatter(*pose.T, s=6, color=REPROJECTION_COLOUR, zorder=3)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def _draw_skeleton(ax, keypoints: np.ndarray, weights: np.ndarray, min_weight: float) -> None:
    for child, parent in skeleton.BONES:
        if weights[child] <= 0 or weights[parent] <= 0:
            continue
        confident = min(weights[child], weights[parent]) >= min_weight
        ax.plot(
            *keypoints[[child, parent]].T,
            color=bone_colour(child),
            linewidth=2.5 if confident else 1.2,
            linestyle="-" if confident else "--",
            alpha=0.95 if confident else 0.5,
        )
    shown = weights > 0
    ax.scatter(
        *keypoints[shown].T,
        s=18,
        c=np.where(weights[shown] >= min_weight, "white", "grey"),
        edgecolors="black",
        linewidths=0.6,
        zorder=4,
    )
