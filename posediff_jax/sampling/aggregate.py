"""One estimate from m hypotheses: the mean, or per-joint selection weighted by reprojection error.

- `mean_pose`: the average hypothesis (minimises the expected squared error under the sample distribution).
- `per_joint_selection`: for every joint independently, weights the hypotheses by that joint's error
  (`softmax(-error / temperature)` over hypotheses; `temperature=0` picks the lowest-error hypothesis per joint).
  Errors come from `reprojection_joint_errors` (pixel distance of each hypothesis' projected joint to the 2D
  evidence, with the root solved per hypothesis) or from any `[.., m, 17]` array, e.g. per-joint energies.
  Joints without evidence (weight 0) fall back to the mean. The result mixes hypotheses joint by joint, so it
  need not be a pose the prior would sample; it is the reprojection-consistent summary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from posediff_jax import geometry
from posediff_jax.skeleton import ROOT_JOINT


def mean_pose(hypotheses):
    """`[..., m, 17, 3]` -> `[..., 17, 3]`."""
    return jnp.mean(hypotheses, axis=-3)


def reprojection_joint_errors(hypotheses, keypoints_2d, intrinsics, joint_weights=None, root_translation=None):
    """`[..., m, 17]` pixel errors of every hypothesis' joints.

    Args:
      hypotheses: `[..., m, 17, 3]` mm root-relative.
      keypoints_2d: `[..., 17, 2]` pixels; intrinsics `[..., 3, 3]`; joint_weights `[..., 17]` for the root solve.
      root_translation: optional `[..., 3]`; None solves it per hypothesis.
    """
    keypoints = keypoints_2d[..., None, :, :]
    camera = intrinsics[..., None, :, :]
    weights = None if joint_weights is None else jnp.broadcast_to(joint_weights[..., None, :], hypotheses.shape[:-1])
    if root_translation is None:
        root = geometry.solve_root_translation(
            hypotheses, jnp.broadcast_to(keypoints, hypotheses.shape[:-1] + (2,)), camera, weights
        )
    else:
        root = jnp.broadcast_to(root_translation[..., None, :], hypotheses.shape[:-2] + (3,))
    pixels = geometry.project_to_pixels(hypotheses + root[..., None, :], camera)
    return jnp.linalg.norm(pixels - keypoints, axis=-1)


def per_joint_selection(hypotheses, joint_errors, temperature: float = 0.0, joint_weights=None):
    """Per-joint weighted (or hard-selected) combination of hypotheses.

    Args:
      hypotheses: `[..., m, 17, 3]`.
      joint_errors: `[..., m, 17]` (lower is better).
      temperature: 0 -> argmin per joint; > 0 -> softmax(-error / temperature) weights.
      joint_weights: optional `[..., 17]`; joints with weight 0 take the mean of the hypotheses.
    Returns:
      `[..., 17, 3]`; the root stays at zero.
    """
    if temperature > 0:
        weights = jax.nn.softmax(-joint_errors / temperature, axis=-2)
    else:
        best = jnp.argmin(joint_errors, axis=-2)  # [..., 17]
        weights = jax.nn.one_hot(best, joint_errors.shape[-2], axis=-2, dtype=hypotheses.dtype)
    selected = jnp.sum(weights[..., None] * hypotheses, axis=-3)
    if joint_weights is not None:
        selected = jnp.where((joint_weights > 0)[..., None], selected, mean_pose(hypotheses))
    return selected.at[..., ROOT_JOINT, :].set(0.0)


def reprojection_weighted_pose(hypotheses, evidence, temperature: float = 0.0):
    """Per-joint selection by reprojection error against `evidence` (any evidence with keypoints_2d,
    intrinsics, joint_weights, root_translation, use_given_root; one frame or a batch matching the
    hypotheses' leading axes). Returns `[..., 17, 3]`."""
    root = jnp.where(evidence.use_given_root[..., None], evidence.root_translation, jnp.nan)
    errors_solved = reprojection_joint_errors(hypotheses, evidence.keypoints_2d, evidence.intrinsics,
                                              evidence.joint_weights)
    errors_given = reprojection_joint_errors(hypotheses, evidence.keypoints_2d, evidence.intrinsics,
                                             evidence.joint_weights, jnp.nan_to_num(root))
    use_given = jnp.asarray(evidence.use_given_root)[..., None, None]
    errors = jnp.where(use_given, errors_given, errors_solved)
    return per_joint_selection(hypotheses, errors, temperature, evidence.joint_weights)
