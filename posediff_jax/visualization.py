"""Figures: the input 2D evidence beside several 3D hypotheses (matplotlib, Agg backend, no display needed).

`plot_hypotheses` writes one PNG: left, the evidence image (a photo, or the heatmaps' max-projection) with the
detected 2D keypoints (bones coloured by side, yellow circles) and the reprojected estimate (dashed lime, crosses);
right, up to `max_hypotheses` 3D hypotheses coloured by side and the ground truth (thin black), root-relative mm
of the camera frame with x across, depth z into the page and -y up. A legend under the figure keys them.
`plot_on_evidence` draws one frame's hypotheses over its evidence PyTree.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from posediff_jax.skeleton import BONES, LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS  # noqa: E402
from posediff_jax.validation import check_array  # noqa: E402


# The person's own left / right (skeleton.LEFT_JOINTS / RIGHT_JOINTS); the reprojected estimate has its own style.
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
    return LEFT_COLOUR if child in LEFT_JOINTS else RIGHT_COLOUR if child in RIGHT_JOINTS else CENTRE_COLOUR


def _draw_detected_2d(axis, keypoints, shown, confident):
    """Input keypoints `[17, 2]`: bones coloured by side (faint and dashed unless both ends are `confident`),
    yellow circles (grey when not confident); joints not `shown` are skipped."""
    for child, parent in BONES:
        if shown[child] and shown[parent]:
            sure = confident[child] and confident[parent]
            axis.plot(*keypoints[[child, parent]].T, color=_bone_colour(child), linestyle="-" if sure else "--",
                      linewidth=1.6 if sure else 1.2, alpha=0.95 if sure else 0.5)
    axis.scatter(*keypoints[shown].T, s=14, marker=DETECTED_MARKER, c=np.where(confident[shown], DETECTED_FACE, "grey"),
                 edgecolors="black", linewidths=0.5, zorder=3)


def _draw_reprojected_2d(axis, keypoints):
    """The estimate's projection `[17, 2]`: dashed bones and crosses, all in `REPROJECTED_COLOUR`."""
    for child, parent in BONES:
        axis.plot(*keypoints[[child, parent]].T, "--", color=REPROJECTED_COLOUR, linewidth=1.0, alpha=0.9)
    axis.scatter(*keypoints.T, s=18, marker=REPROJECTED_MARKER, color=REPROJECTED_COLOUR, linewidths=1.2, zorder=4)


def draw_image_with_keypoints(ax, image, keypoints_2d=None, reprojected_2d=None, weights=None,
                              min_weight: float = 0.3, title: str | None = None):
    """Shows `image` `[H, W, 3]` on the caller's Axes `ax` with detected keypoints `[17, 2]` or `[people, 17, 2]`
    (joints of `weights` below `min_weight` faint, weight 0 not drawn) and reprojected pose(s) `[(k,) 17, 2]`."""
    image = np.asarray(image)
    height, width = image.shape[:2]
    ax.imshow(image)
    if keypoints_2d is not None:
        keypoints = np.asarray(check_array("keypoints_2d", keypoints_2d, ("...", NUM_JOINTS, 2)))
        keypoints = keypoints.reshape(-1, NUM_JOINTS, 2)
        joint_weights = np.ones(keypoints.shape[:2]) if weights is None else np.asarray(
            check_array("weights", weights, ("...", NUM_JOINTS))).reshape(-1, NUM_JOINTS)
        joint_weights = np.broadcast_to(joint_weights, keypoints.shape[:2])
        for person, person_weights in zip(keypoints, joint_weights):
            _draw_detected_2d(ax, person, person_weights > 0, person_weights >= min_weight)
    if reprojected_2d is not None:
        reprojected = np.asarray(check_array("reprojected_2d", reprojected_2d, ("...", NUM_JOINTS, 2)))
        for pose in reprojected.reshape(-1, NUM_JOINTS, 2):
            _draw_reprojected_2d(ax, pose)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def legend_handles(detected: bool = False, reprojected: bool = False, truth: bool = False) -> list:
    """Legend entries: the left / right / centre colour key, then the 2D markers and the ground truth if drawn."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, linewidth=2, label=label) for colour, label in (
        (LEFT_COLOUR, "person's left"), (RIGHT_COLOUR, "person's right"), (CENTRE_COLOUR, "spine / head"))]
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


def _draw_3d(axis, pose, truth=None, radius: float = 1000.0):
    """One 3D skeleton (coloured by side) in a cube of side `radius` mm around its centre; truth in black."""
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
    for set_limits, middle in zip((axis.set_xlim, axis.set_ylim, axis.set_zlim), (centre[0], centre[2], -centre[1])):
        set_limits(middle - radius / 2, middle + radius / 2)
    axis.view_init(elev=10, azim=-75)
    for which in (axis.xaxis, axis.yaxis, axis.zaxis):
        which.set_major_locator(MultipleLocator(500))
    axis.tick_params(labelsize=5, pad=-2)
    for set_label, label in zip((axis.set_xlabel, axis.set_ylabel, axis.set_zlabel), AXIS_LABELS_3D):
        set_label(label, fontsize=6, labelpad=-6)


def hypotheses_figure(hypotheses, evidence_image=None, keypoints_2d=None, reprojected_2d=None, ground_truth=None,
                      title: str = "", max_hypotheses: int = 6, joint_weights=None):
    """The figure `plot_hypotheses` saves (the caller closes it).

    hypotheses `[m, 17, 3]` mm root-relative (the first `max_hypotheses` drawn); evidence_image `[H, W(, 3)]`, whose
    pixels `keypoints_2d [17, 2]` (joints of `joint_weights [17]` under 0.05 not drawn) and `reprojected_2d [17, 2]`
    are in; ground_truth `[17, 3]` mm.
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
            keypoints = np.asarray(check_array("keypoints_2d", keypoints_2d, (NUM_JOINTS, 2)))
            drawn = np.ones(NUM_JOINTS, bool) if joint_weights is None else np.asarray(joint_weights) >= 0.05
            _draw_detected_2d(axis_2d, keypoints, drawn, drawn)
        if reprojected_2d is not None:
            _draw_reprojected_2d(axis_2d, np.asarray(check_array("reprojected_2d", reprojected_2d, (NUM_JOINTS, 2))))
        if evidence_image is None:
            axis_2d.invert_yaxis()
            axis_2d.set_aspect("equal")
        else:
            axis_2d.set_xlim(-0.5, image.shape[1] - 0.5)
            axis_2d.set_ylim(image.shape[0] - 0.5, -0.5)
        axis_2d.set_title("2D evidence" + (" and reprojected estimate" if reprojected_2d is not None else ""),
                          fontsize=9)
        axis_2d.set(xticks=[], yticks=[])
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


def plot_on_evidence(path, hypotheses, evidence, photo=None, estimate=None, root=None, **options) -> None:
    """`plot_hypotheses` of one frame's `hypotheses [m, 17, 3]` over its 2D `evidence` (one frame): on `photo`
    `[H, W, 3]` in image pixels, else on the heatmaps' max-projection; `estimate [17, 3]` mm is drawn reprojected
    with its `root [3]` mm (default: solved from the evidence)."""
    from posediff_jax import geometry

    keypoints, reprojected = np.asarray(evidence.keypoints_2d), None
    if estimate is not None:
        root = geometry.root_translation_for(estimate, evidence) if root is None else root
        reprojected = np.asarray(geometry.project_to_pixels(np.asarray(estimate + np.asarray(root), np.float32),
                                                            evidence.intrinsics))
    background = photo
    if photo is None and hasattr(evidence, "heatmaps"):
        affine = np.asarray(evidence.image_to_heatmap, np.float64)
        background = np.asarray(evidence.heatmaps).max(axis=0)  # what the detector saw, in heatmap pixels
        keypoints = geometry.apply_affine(affine, keypoints)
        reprojected = None if reprojected is None else geometry.apply_affine(affine, reprojected)
    plot_hypotheses(path, hypotheses, evidence_image=background, keypoints_2d=keypoints, reprojected_2d=reprojected,
                    joint_weights=np.asarray(evidence.joint_weights), **options)


def plot_rig(path, hypotheses, evidence, estimate, title: str = "", max_hypotheses: int = 3) -> None:
    """One frame of a camera rig (`guidance.multiview.MultiViewEvidence`) as a PNG: every view's heatmaps
    (max-projection) with its detected keypoints and the `estimate [17, 3]` mm reprojected at its multi-view root,
    above the first `max_hypotheses` of `hypotheses [m, 17, 3]` (the reference camera's frame)."""
    import jax.numpy as jnp

    from posediff_jax import geometry
    from posediff_jax.guidance.multiview import in_views

    views = evidence.views
    count, shown = int(np.shape(views.heatmaps)[0]), np.asarray(hypotheses)[:max_hypotheses]
    poses, roots = (np.asarray(value) for value in in_views(jnp.asarray(estimate, jnp.float32), evidence))
    columns = max(count, len(shown))
    figure = plt.figure(figsize=(2.6 * columns, 5.6))
    grid = figure.add_gridspec(2, columns)
    for view in range(count):
        axis = figure.add_subplot(grid[0, view])
        affine = np.asarray(views.image_to_heatmap[view], np.float64)
        seen = np.asarray(views.joint_weights[view]) * float(evidence.view_weights[view]) >= 0.05
        maps = np.asarray(views.heatmaps[view])
        axis.imshow((maps[seen] if seen.any() else np.zeros_like(maps)).max(0), cmap="magma", vmin=0.0)
        _draw_detected_2d(axis, geometry.apply_affine(affine, np.asarray(views.keypoints_2d[view])), seen, seen)
        pixels = geometry.project_to_pixels(jnp.asarray(poses[view] + roots[view]), views.intrinsics[view])
        _draw_reprojected_2d(axis, geometry.apply_affine(affine, np.asarray(pixels)))
        axis.set_title(f"view {view}" + ("" if seen.any() else ": no evidence"), fontsize=8)
        axis.set(xticks=[], yticks=[])
    for index, pose in enumerate(shown):
        _draw_3d(figure.add_subplot(grid[1, index], projection="3d"), pose)
    figure.suptitle((title + "\n" if title else "") + f"{len(shown)} of {len(hypotheses)} hypotheses, root-relative, "
                    "the reference camera's frame (mm)", fontsize=10)
    handles = legend_handles(detected=True, reprojected=True)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    try:
        figure.savefig(os.fspath(path), dpi=90)
    finally:
        plt.close(figure)
