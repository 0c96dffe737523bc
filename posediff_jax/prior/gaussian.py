"""An analytic prior: poses Gaussian around a mean pose, with the exact Tweedie denoiser and no network.

With `x0 ~ N(0, I)` in model space, `E[x0 | x_t] = alpha x_t` (VP). For tests, and a baseline of what guidance
does with a prior that knows only the average pose.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import NormalizationStats
from posediff_jax.prior.prior import Prior

# A standing person facing the camera (camera frame: x right, y down, z forward), mm, root at the origin.
STANDING_POSE_MM = np.array([
    [0, 0, 0], [-130, 0, 0], [-130, 440, 30], [-130, 880, 60], [130, 0, 0], [130, 440, 30], [130, 880, 60],
    [0, -230, 0], [0, -480, -10], [0, -560, -40], [0, -680, -20], [170, -450, 0], [190, -180, 0],
    [200, 60, -30], [-170, -450, 0], [-190, -180, 0], [-200, 60, -30]], np.float32)


def make_gaussian_prior(mean_pose=None, std_mm: float = 60.0, schedule: VPSchedule = VPSchedule()) -> Prior:
    """`Prior` whose samples are `mean_pose + std_mm * N(0, I)` (root std floored to 1 mm)."""
    mean = np.asarray(STANDING_POSE_MM if mean_pose is None else mean_pose, np.float32)
    std = np.full((17, 3), std_mm, np.float32)
    std[0] = 1.0
    normalization = NormalizationStats(mean=jnp.asarray(mean), std=jnp.asarray(std))

    def apply_fn(params, x_t, t):  # the x0-prediction `alpha(t) x_t` (model space, where the prior is N(0, I))
        return schedule.alpha(t)[..., None, None] * x_t

    return Prior(params={"unused": jnp.zeros(())}, normalization=normalization, apply_fn=apply_fn,
                 schedule=schedule, prediction_type="x0")
