"""Multi-view heatmap energy: one pose, every calibrated camera's heatmaps.

The pose is sampled root-relative in a reference camera's frame (the prior's own distribution); view v sees a
point as `X_v = R_v X_ref + t_v` (mm, relative to the reference camera: identity and zero for itself). At every
step the root `T` is solved in closed form across all views: each view's normal equations of the single-view
solve (`geometry.root_normal_equations`, in its own frame for the unknown `T_v = R_v T + t_v`) are moved into the
reference frame and summed, so two cameras fix the depth one camera leaves free. Each view's heatmap energy reads
its own heatmaps through its own projection at `R_v T + t_v`; the energies sum with per-view weights. A view
without evidence (joint weights 0) adds nothing to either, so the reference view may be one of them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax import geometry
from posediff_jax.device_arrays import to_device
from posediff_jax.guidance.checks import EvidenceError, root_fields
from posediff_jax.guidance.evidence import HeatmapEvidence
from posediff_jax.guidance.render import RENDER_SIGMA
from posediff_jax.guidance.heatmap import IRLS_BASE_WEIGHT, heatmap_energy, inlier_probability, outlier_floor
from posediff_jax.pytrees import pytree_dataclass
from posediff_jax.validation import check_array

# A rig's cameras stand metres apart; extrinsics whose camera centres all lie within this many millimetres of
# each other are in metres (or are one camera repeated), which would place the person a thousand times too close.
MIN_CAMERA_SPACING_MM = 50.0


@pytree_dataclass
class MultiViewEvidence:
    """One frame seen by V cameras: views `HeatmapEvidence` with leading `[V]` (its root fields unused),
    rotations `[V, 3, 3]` and translations `[V, 3]` mm from the reference camera's frame to each view's,
    view_weights `[V]`; root_translation `[3]` mm in the reference frame, used when use_given_root `[]`;
    reference_rotation `[3, 3]`, reference_translation `[3]` mm: world -> reference camera."""

    views: HeatmapEvidence
    rotations: jnp.ndarray
    translations: jnp.ndarray
    view_weights: jnp.ndarray
    root_translation: jnp.ndarray
    use_given_root: jnp.ndarray
    reference_rotation: jnp.ndarray
    reference_translation: jnp.ndarray


def solve_multiview_root(pose, evidence: MultiViewEvidence, joint_weights=None):
    """`[3]` mm root of `pose [17, 3]` (reference frame) from every view's `keypoints_2d`, weighted by
    `joint_weights [V, 17]` (default: the views' own) times the view weights."""
    views = evidence.views
    weights = (views.joint_weights if joint_weights is None else joint_weights) * evidence.view_weights[:, None]
    poses = jnp.einsum("vij,kj->vki", evidence.rotations, pose)  # [V, 17, 3] in each view's frame
    matrix, rhs = geometry.root_normal_equations(poses, views.keypoints_2d, views.intrinsics, weights)
    moved_matrix = jnp.einsum("vji,vjk,vkl->il", evidence.rotations, matrix, evidence.rotations)
    moved_rhs = jnp.einsum("vji,vj->i", evidence.rotations,
                           rhs - jnp.einsum("vij,vj->vi", matrix, evidence.translations))
    solved = geometry.solve_normal_equations(moved_matrix, moved_rhs)
    return jnp.where(evidence.use_given_root, evidence.root_translation, solved)


def in_views(pose, evidence: MultiViewEvidence):
    """(`[V, 17, 3]` root-relative poses, `[V, 3]` roots, mm) of `pose [17, 3]` placed at its multi-view root, in
    each view's camera frame."""
    root = solve_multiview_root(pose, evidence)
    return pose @ jnp.swapaxes(evidence.rotations, -1, -2), evidence.rotations @ root + evidence.translations


def world_pose(pose, evidence: MultiViewEvidence):
    """`[17, 3]` world coordinates (mm) of the reference-frame pose `[17, 3]` placed at its multi-view root."""
    camera = pose + solve_multiview_root(pose, evidence)
    return (camera - evidence.reference_translation) @ evidence.reference_rotation


def multiview_heatmap_energy(pose, evidence: MultiViewEvidence, eps: float = 1e-4, outside_weight: float = 0.1,
                             outlier_probability=None, virtual_joints=None, root_reweighting: int = 0):
    """Scalar energy of one root-relative pose `[17, 3]` mm (reference frame): the view-weighted sum of each
    view's `heatmap_energy` at the jointly solved root; `root_reweighting` IRLS re-solves weight every view's
    joints by their inlier probability there (the single-view `reweighted_root_translation`, across views)."""
    root, views = solve_multiview_root(pose, evidence), evidence.views
    if root_reweighting:
        floor = (jnp.full(views.joint_weights.shape, eps, jnp.float32) if outlier_probability is None
                 else outlier_floor(views.heatmaps, outlier_probability))
        view_inliers = jax.vmap(lambda view, rotation, translation, view_floor: inlier_probability(
            pose @ rotation.T, rotation @ root + translation, view, view_floor))
    for _ in range(int(root_reweighting)):
        probability = view_inliers(views, evidence.rotations, evidence.translations, floor)
        root = solve_multiview_root(pose, evidence, views.joint_weights * (probability + IRLS_BASE_WEIGHT))

    def view_energy(view, rotation, translation):
        return heatmap_energy(pose @ rotation.T, view, eps, outside_weight, outlier_probability, virtual_joints,
                              root=rotation @ root + translation)

    energies = jax.vmap(view_energy)(views, evidence.rotations, evidence.translations)
    return jnp.sum(evidence.view_weights * energies)


def make_multiview_heatmap_energy(**options):
    """`multiview_heatmap_energy` with fixed options (those of `heatmap.make_heatmap_energy`)."""
    from posediff_jax.guidance.heatmap import make_heatmap_energy

    fixed = make_heatmap_energy(**options).keywords  # the single-view factory checks and converts them
    return functools.partial(multiview_heatmap_energy, **fixed)


def check_extrinsics(rotations, translations):
    """Checked world -> camera extrinsics `[..., V, 3, 3]`, `[..., V, 3]` (mm): proper rotations, and cameras
    at least `MIN_CAMERA_SPACING_MM` apart."""
    rotations = np.asarray(check_array("rotation", rotations, ("...", None, 3, 3)), np.float64)
    translations = np.asarray(check_array("translation", translations, (*rotations.shape[:-2], 3)), np.float64)
    identity = np.einsum("...ji,...jk->...ik", rotations, rotations)
    if np.abs(identity - np.eye(3)).max() > 1e-3 or np.any(np.linalg.det(rotations) < 0):
        raise EvidenceError("rotation: not a rotation matrix (R^T R must be the identity, det R = +1)")
    centres = -np.einsum("...ji,...j->...i", rotations, translations)  # C = -R^T t
    if rotations.shape[-3] > 1:
        spread = np.linalg.norm(centres - centres[..., :1, :], axis=-1).max(-1)
        if np.any(spread < MIN_CAMERA_SPACING_MM):
            raise EvidenceError(f"translation: the cameras stand within {spread.min():.3g} of each other; "
                                "extrinsics must be in millimetres (X_cam = R X_world + t), not metres")
    return rotations, translations


def make_multiview_evidence(views: HeatmapEvidence, rotations, translations, reference_view: int = 0,
                            view_weights=None, root_translation=None) -> MultiViewEvidence:
    """`MultiViewEvidence` from every view's `HeatmapEvidence` (leading `[..., V]`, e.g. `stack_evidence` of the
    views, or of frames of views) and the world -> camera extrinsics `[..., V, 3, 3]`, `[..., V, 3]` mm
    (`X_cam = R X_world + t`); the pose comes out in camera `reference_view`'s frame."""
    rotations, translations = check_extrinsics(rotations, translations)
    count = rotations.shape[-3]
    leading = rotations.shape[:-3]
    if tuple(np.shape(views.heatmaps)[:-3]) != (*leading, count):
        raise EvidenceError(f"views: heatmaps for {list(np.shape(views.heatmaps)[:-3])} (frames, views) against "
                            f"extrinsics for {[*leading, count]}: every view needs its camera, every frame every view")
    if not 0 <= int(reference_view) < count:
        raise EvidenceError(f"reference_view: expected 0..{count - 1}, got {reference_view}")
    reference_r = rotations[..., reference_view:reference_view + 1, :, :]
    reference_t = translations[..., reference_view:reference_view + 1, :]
    relative_r = np.einsum("...ij,...kj->...ik", rotations, reference_r)  # R_v R_ref^T
    relative_t = translations - np.einsum("...ij,...j->...i", relative_r, reference_t)
    weights = np.ones((*leading, count)) if view_weights is None else np.broadcast_to(view_weights, (*leading, count))
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise EvidenceError("view_weights: expected finite values >= 0")
    root, use_given = root_fields(root_translation, leading)
    return MultiViewEvidence(views=views, rotations=to_device(relative_r, np.float32),
                             translations=to_device(relative_t, np.float32),
                             view_weights=to_device(weights, np.float32), root_translation=to_device(root, np.float32),
                             use_given_root=to_device(use_given, bool),
                             reference_rotation=to_device(reference_r[..., 0, :, :], np.float32),
                             reference_translation=to_device(reference_t[..., 0, :], np.float32))


def _per_view(arrays, name: str, rank: int, frames: int, views: int):
    """`arrays[name]` as `[frames, views, ...]`: given `[F, V, ...]`, `[V, ...]` (shared by every frame) or one
    `[...]` shared by every view and frame (e.g. the intrinsics of a rig of identical cameras)."""
    value = np.asarray(arrays[name])
    if value.ndim == rank - 1:
        value = np.broadcast_to(value, (views, *value.shape))
    if value.ndim == rank:
        value = np.broadcast_to(value, (frames, *value.shape))
    if value.ndim != rank + 1 or value.shape[1] != views or value.shape[0] != frames:
        raise EvidenceError(f"{name}: expected [{views} views, ...] or [{frames} frames, {views} views, ...] as the "
                            f"other arrays, got shape {list(value.shape)} (every view needs the same frames)")
    return value


def multiview_evidence_from_arrays(arrays, sigma: float = RENDER_SIGMA, heatmap_size: int = 64,
                                   detector_sigma: float = 0.0) -> MultiViewEvidence:
    """A rig's arrays: per view `keypoints_2d [F?, V, 17, 2]` px (optional `confidence`, `joint_weights`) or
    `heatmaps [F?, V, 17, H, W]` + `image_to_heatmap [F?, V, 2, 3]`; `intrinsics [F?, V, 3, 3]`; world -> camera
    `rotation [F?, V, 3, 3]`, `translation [F?, V, 3]` mm; optional `reference_view` (default 0), `view_weights
    [V]`, `root_translation [F?, 3]` (reference frame). A view whose keypoints are all NaN carries no evidence."""
    from posediff_jax.guidance import checks, render
    from posediff_jax.guidance.evidence import make_heatmap_evidence

    missing = [name for name in ("intrinsics", "rotation", "translation") if name not in arrays]
    if missing or not ("keypoints_2d" in arrays or "heatmaps" in arrays):
        raise EvidenceError(f"rig evidence: missing {missing or ['keypoints_2d or heatmaps']} (found {sorted(arrays)})")
    main, rank = ("heatmaps", 4) if "heatmaps" in arrays else ("keypoints_2d", 3)
    shape = np.shape(arrays[main])
    if len(shape) not in (rank, rank + 1):
        raise EvidenceError(f"{main}: expected [views, ...] or [frames, views, ...], got shape {list(shape)}")
    frames, views = (1, shape[0]) if len(shape) == rank else shape[:2]
    get = lambda name, rank: _per_view(arrays, name, rank, frames, views).reshape(-1, *np.shape(arrays[name])[-rank + 1:])
    intrinsics = get("intrinsics", 3)
    if main == "heatmaps":
        flat = make_heatmap_evidence(get("heatmaps", 4), get("image_to_heatmap", 3), intrinsics,
                                     joint_weights=get("joint_weights", 2) if "joint_weights" in arrays else None)
    else:
        keypoints = np.asarray(get("keypoints_2d", 3), np.float64)
        finite = np.all(np.isfinite(keypoints), axis=-1)
        weights = finite.astype(np.float64)
        for name in ("confidence", "joint_weights"):
            if name in arrays:
                weights = weights * np.nan_to_num(np.clip(get(name, 2), 0.0, None))
        lost = finite.sum(-1) < checks.MIN_WEIGHTED_JOINTS  # a camera that lost the person: nothing to render
        weights[lost] = 0.0
        placeholder = np.stack([np.arange(17.0), np.arange(17.0)], -1) * 10.0
        keypoints = np.where(lost[:, None, None], placeholder, np.where(finite[..., None], keypoints, 0.0))
        flat = render.heatmap_evidence_from_keypoints(
            keypoints, intrinsics, sigma=sigma, heatmap_size=heatmap_size,
            joint_weights=weights, detector_sigma=detector_sigma)
    checks.check_keypoints_in_view(flat.keypoints_2d, flat.intrinsics, flat.joint_weights)
    views_evidence = jax.tree.map(lambda leaf: np.asarray(leaf).reshape(frames, views, *np.shape(leaf)[1:]), flat)
    usable = np.asarray(views_evidence.joint_weights).__gt__(0).sum((-2, -1))
    if np.any(usable < checks.MIN_WEIGHTED_JOINTS):
        raise EvidenceError(f"rig evidence: frame {int(np.argmax(usable < checks.MIN_WEIGHTED_JOINTS))} has fewer "
                            f"than {checks.MIN_WEIGHTED_JOINTS} weighted joints over all views")
    root = np.asarray(arrays["root_translation"]) if "root_translation" in arrays else None
    return make_multiview_evidence(jax.tree.map(jnp.asarray, views_evidence), _per_view(arrays, "rotation", 3, frames, views),
                                   _per_view(arrays, "translation", 2, frames, views),
                                   int(np.asarray(arrays.get("reference_view", 0))),
                                   arrays.get("view_weights"), None if root is None else np.broadcast_to(root, (frames, 3)))
