"""Heatmap energy: negative log heatmap value at the projected joints (the paper's main guidance term).

For a root-relative pose `X` (mm) and `HeatmapEvidence`:
1. root translation `T`: `evidence.root_translation` when `use_given_root`, else solved in closed form from
   `X` and `evidence.keypoints_2d` (weighted by `joint_weights`) with `geometry.solve_root_translation`; the
   solve is differentiable and is redone for every pose estimate, so depth follows the pose.
2. project `X + T` with `evidence.intrinsics` to pixels, map them with `evidence.image_to_heatmap`.
3. bilinear read (`mode='zero'`) and `E = sum_j w_j [-log(h_j + eps) + outside_weight * d_j^2]`, where
   `d_j` is the distance (heatmap pixels) of the projected joint outside the grid: beyond the crop the
   heatmap is flat, and this quadratic wall keeps a gradient that pulls joints back.
For peak-1 Gaussian heatmaps (`render.py`) `-log h` is the squared reprojection error over `2 sigma^2`, i.e. a
proper Gaussian likelihood; `eps` caps the penalty of a joint far from its peak (robustness to outliers).
"""

from __future__ import annotations

import functools
import jax.numpy as jnp

from posediff_jax import geometry
from posediff_jax.guidance import bilinear
from posediff_jax.guidance.evidence import HeatmapEvidence


def root_translation_for(pose, evidence):
    """`[3]` mm: the given root or the closed-form solve from `evidence.keypoints_2d` (see module docstring)."""
    solved = geometry.solve_root_translation(pose, evidence.keypoints_2d, evidence.intrinsics, evidence.joint_weights)
    return jnp.where(evidence.use_given_root, evidence.root_translation, solved)


def project_to_heatmap(pose, evidence: HeatmapEvidence):
    """`[17, 2]` heatmap coordinates of the root-relative pose `[17, 3]` mm."""
    root = root_translation_for(pose, evidence)
    pixels = geometry.project_to_pixels(pose + root, evidence.intrinsics)
    affine = evidence.image_to_heatmap
    return pixels @ affine[:, :2].T + affine[:, 2]


def heatmap_joint_energies(pose, evidence: HeatmapEvidence, eps: float = 1e-4, outside_weight: float = 0.1):
    """`[17]` unweighted per-joint energies `-log(h_j + eps) + outside_weight * d_j^2`."""
    points = project_to_heatmap(pose, evidence)
    height, width = evidence.heatmaps.shape[-2:]
    values = bilinear.sample_heatmaps(evidence.heatmaps, points, mode="zero")
    outside = bilinear.distance_outside_grid(points, height, width)
    return -jnp.log(jnp.maximum(values, 0.0) + eps) + outside_weight * outside**2


def heatmap_energy(pose, evidence: HeatmapEvidence, eps: float = 1e-4, outside_weight: float = 0.1):
    """Scalar heatmap energy of one root-relative pose `[17, 3]` mm (lower is better)."""
    joint_energies = heatmap_joint_energies(pose, evidence, eps, outside_weight)
    return jnp.sum(jnp.where(evidence.joint_weights > 0, evidence.joint_weights * joint_energies, 0.0))


def make_heatmap_energy(eps: float = 1e-4, outside_weight: float = 0.1):
    """`heatmap_energy` with fixed constants, as an `energy(pose, evidence)` function."""
    return functools.partial(heatmap_energy, eps=eps, outside_weight=outside_weight)
