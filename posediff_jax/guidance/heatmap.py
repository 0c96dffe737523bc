"""Heatmap energy: `E = sum_j w_j [-log(h_j + floor_j) + outside_weight * d_j^2]` at the projected joints.

`h_j` is the mean bilinear heatmap value at the projections of K candidates `M_k @ X` for the detector's point
(`skeleton.virtual_joint_matrices`; K = 1 without them) placed with root `T`, given or solved in closed form at
every step from the middle candidate (`root_reweighting = n`: n IRLS re-solves weighting joints by their inlier
probability, so a garbled detection stops dragging the root); `d_j` is the distance outside the grid (heatmap
pixels), a wall whose gradient pulls joints back.

The floor is `eps`, or with `outlier_probability = p` that of an inlier/outlier mixture (the detector's point drawn
from the normalised map with probability `1 - p`, uniformly over the grid with `p`): `-log((1 - p) h / S_j + p / HW)`
is `-log(h + floor_j)` up to a constant, `floor_j = p / (1 - p) * S_j / HW` (`S_j` the map's sum).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax import geometry
from posediff_jax.guidance import bilinear
from posediff_jax.guidance.evidence import HeatmapEvidence


def outlier_floor(heatmaps, outlier_probability):
    """`[J]` floor `p / (1 - p) * S_j / (H W)` of the mixture (module docstring) for heatmaps `[J, H, W]`."""
    height, width = heatmaps.shape[-2:]
    mass = jnp.sum(jnp.maximum(heatmaps, 0.0), axis=(-2, -1))
    odds = outlier_probability / (1.0 - outlier_probability)
    return odds * mass / (height * width) + 1e-12


def candidate_values(candidates, root, evidence):
    """Heatmap values `[K, 17]` and outside distances `[K, 17]` of candidate poses `[K, 17, 3]` placed at `root`."""
    height, width = evidence.heatmaps.shape[-2:]

    def read(points_pose):
        pixels = geometry.project_to_pixels(points_pose + root, evidence.intrinsics)
        points = geometry.apply_affine(evidence.image_to_heatmap, pixels)
        values = bilinear.sample_heatmaps(evidence.heatmaps, points, mode="zero")
        return jnp.maximum(values, 0.0), bilinear.distance_outside_grid(points, height, width)

    return jax.vmap(read)(candidates)


def inlier_probability(pose, root, evidence: HeatmapEvidence, floor):
    """`[17]` probability `h_j / (h_j + floor_j)` that each joint's heatmap value is an inlier, `pose [17, 3]` placed
    at `root [3]` mm. A constant of the root re-solve (EM): through it the guidance would re-weight the root, not
    move the joints."""
    values, _ = candidate_values(pose[None], root, evidence)
    return jax.lax.stop_gradient(values[0] / (values[0] + floor))


# A joint's weight in an IRLS re-solve is its inlier probability plus this: early, far-off steps stay determined.
IRLS_BASE_WEIGHT = 0.05


def reweighted_root_translation(pose, evidence: HeatmapEvidence, floor, iterations: int = 1):
    """`[3]` mm root of `pose [17, 3]` by IRLS: each iteration weights every joint by its `inlier_probability` at
    the current root plus `IRLS_BASE_WEIGHT`."""
    root = geometry.root_translation_for(pose, evidence)
    for _ in range(int(iterations)):
        weights = inlier_probability(pose, root, evidence, floor) + IRLS_BASE_WEIGHT
        root = geometry.root_translation_for(pose, evidence, evidence.joint_weights * weights)
    return root


def heatmap_joint_energies(pose, evidence: HeatmapEvidence, eps: float = 1e-4, outside_weight: float = 0.1,
                           outlier_probability=None, virtual_joints=None, root_reweighting: int = 0, root=None):
    """`[17]` unweighted energies `-log(h_j + floor_j) + outside_weight * d_j^2` of one pose `[17, 3]` mm;
    `virtual_joints`: None or `[K, 17, 17]` matrices; `root`: `[3]` mm to place the pose at (a rig's, solved across
    its views), else given or solved from the evidence."""
    matrices = jnp.eye(pose.shape[0], dtype=pose.dtype)[None] if virtual_joints is None else virtual_joints
    candidates = jnp.einsum("kij,jd->kid", matrices.astype(pose.dtype), pose)  # [K, 17, 3]
    middle = candidates[candidates.shape[0] // 2]
    floor = (jnp.asarray(eps, jnp.float32) if outlier_probability is None
             else outlier_floor(evidence.heatmaps, outlier_probability))
    if root is None:
        root = reweighted_root_translation(middle, evidence, floor, root_reweighting)
    values, outside = candidate_values(candidates, root, evidence)
    return -jnp.log(jnp.mean(values, axis=0) + floor) + outside_weight * jnp.mean(outside**2, axis=0)


def heatmap_energy(pose, evidence: HeatmapEvidence, eps: float = 1e-4, outside_weight: float = 0.1,
                   outlier_probability=None, virtual_joints=None, root_reweighting: int = 0, root=None):
    """Scalar energy of one root-relative pose `[17, 3]` mm (arguments: `heatmap_joint_energies`)."""
    joint_energies = heatmap_joint_energies(pose, evidence, eps, outside_weight, outlier_probability,
                                            virtual_joints, root_reweighting, root)
    return jnp.sum(jnp.where(evidence.joint_weights > 0, evidence.joint_weights * joint_energies, 0.0))


def make_heatmap_energy(*, eps: float = 1e-4, outside_weight: float = 0.1, outlier_probability=None,
                        virtual_joints="none", virtual_points: int = 5, root_reweighting: int = 0):
    """`heatmap_energy` with fixed options. `outlier_probability` None or 0 keeps `eps`; `virtual_joints`: 'none',
    'mpii' (`virtual_points` candidates per segment) or a `[K, 17, 17]` array."""
    from posediff_jax.skeleton import virtual_joint_matrices

    if outlier_probability is not None:
        outlier_probability = float(outlier_probability)
        if outlier_probability == 0.0:
            outlier_probability = None
        elif not 0.0 < outlier_probability < 1.0:
            raise ValueError(f"outlier_probability: expected a value in [0, 1), got {outlier_probability}")
    if virtual_joints is None or isinstance(virtual_joints, str):
        name = "none" if virtual_joints is None else virtual_joints
        matrices = None if name == "none" else jnp.asarray(virtual_joint_matrices(name, virtual_points))
    else:
        matrices = jnp.asarray(np.asarray(virtual_joints, np.float32))
        if matrices.ndim != 3 or matrices.shape[1:] != (17, 17):
            raise ValueError(f"virtual_joints: expected a [K, 17, 17] array, got shape {list(matrices.shape)}")
    if int(root_reweighting) < 0:
        raise ValueError(f"root_reweighting: expected >= 0 iterations, got {root_reweighting}")
    return functools.partial(heatmap_energy, eps=eps, outside_weight=outside_weight,
                             outlier_probability=outlier_probability, virtual_joints=matrices,
                             root_reweighting=int(root_reweighting))
