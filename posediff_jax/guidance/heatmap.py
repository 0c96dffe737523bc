"""Heatmap energy: negative log heatmap value at the projected joints (the paper's main guidance term).

For a root-relative pose `X` (mm) and `HeatmapEvidence`:
1. virtual joints (optional, `virtual_joints`): the points the detector marks are affine combinations of the
   H36M joints, `P_k = M_k @ X` for K candidates along each joint's definition segment
   (`skeleton.virtual_joint_matrices`; 'mpii': MPII's HeadTop / UpperNeck / Thorax are not H36M's Head /
   Neck/Nose / Thorax). Without them K = 1 and `P = X`.
2. root translation `T`: `evidence.root_translation` when `use_given_root`, else solved in closed form from
   the middle candidate `P_mid` and `evidence.keypoints_2d` (weighted by `joint_weights`) with
   `geometry.solve_root_translation`; the solve is differentiable and redone for every pose estimate, so
   depth follows the pose. With `root_reweighting = n > 0` the solve is repeated n times with every joint's
   weight times its inlier probability under the mixture below (iteratively reweighted least squares), so a
   garbled detection stops dragging the root.
3. project every `P_k + T` to pixels, map them with `evidence.image_to_heatmap`, read the heatmaps
   bilinearly (`mode='zero'`) and average over the K candidates: `h_j = mean_k h_j(P_kj)` (the marginal
   likelihood under a uniform prior over where on its segment the detector's point lies).
4. `E = sum_j w_j [-log(h_j + floor_j) + outside_weight * d_j^2]`, where `d_j` is the distance (heatmap
   pixels) of the projected joint outside the grid (beyond the crop the heatmap is flat; this quadratic wall
   keeps a gradient that pulls joints back).

The floor. For peak-1 Gaussian heatmaps (`render.py`) `-log h` is the squared reprojection error over
`2 sigma^2`. `floor = eps` (default 1e-4) caps a joint's penalty at `-log eps`. With `outlier_probability = p`
the heatmap is instead read as an inlier/outlier mixture: the detector's point is drawn from the heatmap
(normalised: `h / S_j`, `S_j` = the map's sum) with probability `1 - p` and uniformly over the `H x W` grid
with probability `p`; `-log((1 - p) h / S_j + p / (H W))` is, up to a per-joint constant,
`-log(h + floor_j)` with `floor_j = p / (1 - p) * S_j / (H W)`. The floor then follows from a rate that can be
stated for a detector (e.g. 0.1: Stacked Hourglass misses about one MPII joint in ten at PCKh@0.5) and
scales with each map's own spread, so it applies to real detector heatmaps as well as rendered ones.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax import geometry
from posediff_jax.guidance import bilinear
from posediff_jax.guidance.evidence import HeatmapEvidence


def root_translation_for(pose, evidence, weights=None):
    """`[3]` mm: the given root or the closed-form solve from `evidence.keypoints_2d` (see module docstring).

    `weights` `[17]` replace `evidence.joint_weights` in the solve (reweighted solves).
    """
    weights = evidence.joint_weights if weights is None else weights
    solved = geometry.solve_root_translation(pose, evidence.keypoints_2d, evidence.intrinsics, weights)
    return jnp.where(evidence.use_given_root, evidence.root_translation, solved)


def project_to_heatmap(pose, evidence: HeatmapEvidence, root=None):
    """`[17, 2]` heatmap coordinates of the root-relative pose `[17, 3]` mm (root: given `[3]` or solved)."""
    if root is None:
        root = root_translation_for(pose, evidence)
    pixels = geometry.project_to_pixels(pose + root, evidence.intrinsics)
    affine = evidence.image_to_heatmap
    return pixels @ affine[:, :2].T + affine[:, 2]


def outlier_floor(heatmaps, outlier_probability):
    """`[J]` floor `p / (1 - p) * S_j / (H W)` of the inlier/outlier mixture (module docstring), heatmaps `[J, H, W]`."""
    height, width = heatmaps.shape[-2:]
    mass = jnp.sum(jnp.maximum(heatmaps, 0.0), axis=(-2, -1))
    odds = outlier_probability / (1.0 - outlier_probability)
    return odds * mass / (height * width) + 1e-12


def _floor(evidence, eps, outlier_probability):
    if outlier_probability is None:
        return jnp.asarray(eps, jnp.float32)
    return outlier_floor(evidence.heatmaps, outlier_probability)


def _candidate_values(candidates, root, evidence):
    """Heatmap values `[K, 17]` and outside distances `[K, 17]` of candidate poses `[K, 17, 3]`."""
    height, width = evidence.heatmaps.shape[-2:]

    def read(points_pose):
        points = project_to_heatmap(points_pose, evidence, root)
        values = bilinear.sample_heatmaps(evidence.heatmaps, points, mode="zero")
        return jnp.maximum(values, 0.0), bilinear.distance_outside_grid(points, height, width)

    return jax.vmap(read)(candidates)


def reweighted_root_translation(pose, evidence: HeatmapEvidence, floor, iterations: int = 1, base_weight: float = 0.05):
    """`[3]` mm root of `pose` `[17, 3]` by iteratively reweighted least squares.

    Starts from the `joint_weights` solve; each iteration multiplies every joint's weight by its inlier
    probability `h_j / (h_j + floor_j)` at the current root (the responsibility of the heatmap in the
    inlier/outlier mixture; `floor` scalar or `[17]`) plus `base_weight`, which keeps the solve determined
    when every joint is far from its peak (early sampler steps). 0 iterations = the plain solve. The weights
    are held constant under differentiation (EM), so the gradient is that of the plain solve at those weights.
    """
    root = root_translation_for(pose, evidence)
    for _ in range(int(iterations)):
        values, _ = _candidate_values(pose[None], root, evidence)
        # EM-style: the responsibilities are constants of the re-solve. Differentiating through them lets the
        # guidance lower the energy by re-weighting the root solve instead of moving joints to their peaks.
        inlier = jax.lax.stop_gradient(values[0] / (values[0] + floor))
        root = root_translation_for(pose, evidence, evidence.joint_weights * (inlier + base_weight))
    return root


def heatmap_joint_energies(pose, evidence: HeatmapEvidence, eps: float = 1e-4, outside_weight: float = 0.1,
                           outlier_probability=None, virtual_joints=None, root_reweighting: int = 0):
    """`[17]` unweighted per-joint energies `-log(h_j + floor_j) + outside_weight * d_j^2` (module docstring).

    Args:
      pose: `[17, 3]` mm root-relative.
      evidence: `HeatmapEvidence` of one frame.
      eps: the floor when `outlier_probability` is None.
      outside_weight: weight of the squared distance (heatmap pixels) outside the grid.
      outlier_probability: None, or p in (0, 1) of the inlier/outlier mixture.
      virtual_joints: None, or `[K, 17, 17]` matrices (`skeleton.virtual_joint_matrices`).
      root_reweighting: IRLS iterations of the root solve (0 = plain weighted solve).
    """
    matrices = jnp.eye(pose.shape[0], dtype=pose.dtype)[None] if virtual_joints is None else virtual_joints
    candidates = jnp.einsum("kij,jd->kid", matrices.astype(pose.dtype), pose)  # [K, 17, 3]
    middle = candidates[candidates.shape[0] // 2]
    floor = _floor(evidence, eps, outlier_probability)
    root = reweighted_root_translation(middle, evidence, floor, root_reweighting)
    values, outside = _candidate_values(candidates, root, evidence)
    return -jnp.log(jnp.mean(values, axis=0) + floor) + outside_weight * jnp.mean(outside**2, axis=0)


def heatmap_energy(pose, evidence: HeatmapEvidence, eps: float = 1e-4, outside_weight: float = 0.1,
                   outlier_probability=None, virtual_joints=None, root_reweighting: int = 0):
    """Scalar heatmap energy of one root-relative pose `[17, 3]` mm (lower is better); see
    `heatmap_joint_energies` for the arguments."""
    joint_energies = heatmap_joint_energies(pose, evidence, eps, outside_weight, outlier_probability,
                                            virtual_joints, root_reweighting)
    return jnp.sum(jnp.where(evidence.joint_weights > 0, evidence.joint_weights * joint_energies, 0.0))


def make_heatmap_energy(*, eps: float = 1e-4, outside_weight: float = 0.1, outlier_probability=None,
                        virtual_joints="none", virtual_points: int = 5, root_reweighting: int = 0):
    """`heatmap_energy` with fixed options, as an `energy(pose, evidence)` function.

    Args:
      eps: penalty floor when `outlier_probability` is None (caps a joint at `-log eps`).
      outside_weight: weight of the quadratic wall outside the heatmap grid.
      outlier_probability: None or p in (0, 1): the floor of the inlier/outlier mixture (module docstring).
        None or 0 keeps `eps`.
      virtual_joints: 'none', 'mpii' (the detector's points as `skeleton.virtual_joint_matrices` segments), or
        a `[K, 17, 17]` array.
      virtual_points: K candidates per definition segment for a named layout.
      root_reweighting: IRLS iterations of the root solve (0 = plain weighted solve).
    """
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
