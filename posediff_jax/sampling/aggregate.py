"""One estimate from m hypotheses (`AGGREGATIONS`: `fn(hypotheses [..., m, 17, 3], evidence) -> [..., 17, 3]`).

- 'mean': minimises the expected squared error under the sample distribution.
- 'reprojection': per joint, the hypothesis (or softmax mix) whose projection is closest to the 2D evidence, the
  root solved per hypothesis; joints without evidence take the mean. It need not be a pose the prior would sample.
- 'geometric_median': per joint, the point of least summed distance (Weiszfeld): the lowest expected MPJPE, as the
  mean is for squared error, and robust to a minority of far-off hypotheses.
- 'medoid': the hypothesis closest to all others (a real sample); 'mean_shift': the density mode (Gaussian kernel
  of `bandwidth` mm on the RMS joint distance, from the medoid).
"""

import jax
import jax.numpy as jnp

from posediff_jax import geometry
from posediff_jax.skeleton import ROOT_JOINT
from posediff_jax.validation import PoseDiffError


def mean_pose(hypotheses):
    """`[..., m, 17, 3]` -> `[..., 17, 3]`."""
    return jnp.mean(hypotheses, axis=-3)


@jax.jit  # called eagerly by the CLI and evaluation: one compiled program instead of dozens of dispatched ops
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


def _pose_distances(hypotheses):
    """`[..., m, m]` MPJPE between every pair of hypotheses `[..., m, 17, 3]` (one row at a time: O(m J) memory)."""
    flat = hypotheses.reshape((-1,) + hypotheses.shape[-3:])

    def one(poses):  # [m, 17, 3]
        return jax.lax.map(lambda pose: jnp.mean(jnp.linalg.norm(poses - pose, axis=-1), axis=-1), poses)

    return jax.lax.map(one, flat).reshape(hypotheses.shape[:-2] + (hypotheses.shape[-3],))


def medoid_pose(hypotheses):
    """`[..., m, 17, 3]` -> `[..., 17, 3]`: the hypothesis with the smallest summed MPJPE to the others."""
    best = jnp.argmin(jnp.sum(_pose_distances(hypotheses), axis=-1), axis=-1)  # [...]
    return jnp.take_along_axis(hypotheses, best[..., None, None, None], axis=-3)[..., 0, :, :]


def geometric_median_pose(hypotheses, iterations: int = 50, eps: float = 1e-3):
    """`[..., m, 17, 3]` -> `[..., 17, 3]`: per-joint spatial median (Weiszfeld, from the mean).

    `eps` (mm) keeps the weights finite when the estimate sits on a hypothesis.
    """

    def step(estimate, _):
        distances = jnp.linalg.norm(hypotheses - estimate[..., None, :, :], axis=-1)  # [..., m, 17]
        weights = 1.0 / jnp.maximum(distances, eps)
        estimate = jnp.sum(weights[..., None] * hypotheses, axis=-3) / jnp.sum(weights, axis=-2)[..., None]
        return estimate, None

    estimate, _ = jax.lax.scan(step, mean_pose(hypotheses), None, length=iterations)
    return estimate


def mean_shift_pose(hypotheses, bandwidth: float = 50.0, iterations: int = 30):
    """`[..., m, 17, 3]` -> `[..., 17, 3]`: the mode reached by mean shift from the medoid.

    Kernel `exp(-d^2 / (2 bandwidth^2))` with `d` the root-mean-square joint distance (mm) between the
    current estimate and a hypothesis.
    """

    def step(estimate, _):
        squared = jnp.mean(jnp.sum((hypotheses - estimate[..., None, :, :]) ** 2, axis=-1), axis=-1)  # [..., m]
        logits = -squared / (2.0 * bandwidth**2)
        weights = jax.nn.softmax(logits, axis=-1)
        return jnp.sum(weights[..., None, None] * hypotheses, axis=-3), None

    estimate, _ = jax.lax.scan(step, medoid_pose(hypotheses), None, length=iterations)
    return estimate


AGGREGATIONS = {
    "mean": lambda hypotheses, evidence=None: mean_pose(hypotheses),
    "reprojection": reprojection_weighted_pose,
    "geometric_median": lambda hypotheses, evidence=None: geometric_median_pose(hypotheses),
    "medoid": lambda hypotheses, evidence=None: medoid_pose(hypotheses),
    "mean_shift": lambda hypotheses, evidence=None: mean_shift_pose(hypotheses),
}


def aggregate(name: str, hypotheses, evidence=None):
    """One estimate `[..., 17, 3]` from hypotheses `[..., m, 17, 3]` by the method `name` in `AGGREGATIONS`."""
    if name not in AGGREGATIONS:
        raise PoseDiffError(f"aggregation: expected one of {sorted(AGGREGATIONS)}, got {name!r}")
    if name == "reprojection" and evidence is None:
        raise PoseDiffError("aggregation 'reprojection': needs the 2D evidence")
    return AGGREGATIONS[name](hypotheses, evidence)
