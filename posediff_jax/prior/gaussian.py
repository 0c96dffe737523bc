"""An analytic prior: poses Gaussian around a mean pose, with the exact Tweedie denoiser.

If `x0 ~ N(0, I)` in model space (i.e. `pose ~ N(mean_pose, std^2)` per coordinate), then for
`x_t = alpha x0 + sigma eps`, `E[x0 | x_t] = alpha x_t / (alpha^2 + sigma^2) = alpha x_t` (VP). This gives a
`Prior` with no network: for tests of the samplers and energies, and a sanity baseline (what guidance does with
a prior that knows only the average pose).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import NormalizationStats
from posediff_jax.prior.prior import Prior

# A standing person facing the camera (camera frame: x right, y down, z forward), mm, root at the origin.
STANDING_POSE_MM = np.array(
    [
        [0, 0, 0], [-130, 0, 0], [-130, 440, 30], [-130, 880, 60], [130, 0, 0], [130, 440, 30], [130, 880, 60],
        [0, -230, 0], [0, -480, -10], [0, -560, -40], [0, -680, -20], [170, -450, 0], [190, -180, 0],
        [200, 60, -30], [-170, -450, 0], [-190, -180, 0], [-200, 60, -30],
    ],
    np.float32,
)  # fmt: skip


def gaussian_apply(params, x_t, t, schedule: VPSchedule):
    """x0-prediction of the Gaussian prior: `alpha(t) * x_t` (model space; the prior is N(0, I))."""
    del params
    alpha = schedule.alpha(t)[..., None, None]
    return alpha * x_t


def make_gaussian_prior(mean_pose=None, std_mm: float = 60.0, schedule: VPSchedule = VPSchedule()) -> Prior:
    """`Prior` whose samples are `mean_pose + std_mm * N(0, I)` (root std floored to 1 mm)."""
    mean = np.asarray(STANDING_POSE_MM if mean_pose is None else mean_pose, np.float32)
    std = np.full((17, 3), std_mm, np.float32)
    std[0] = 1.0
    normalization = NormalizationStats(mean=jnp.asarray(mean), std=jnp.asarray(std))

    def apply_fn(params, x_t, t):
        return gaussian_apply(params, x_t, t, schedule)

    return Prior(
        params={"unused": jnp.zeros(())},
        normalization=normalization,
        apply_fn=apply_fn,
        schedule=schedule,
        prediction_type="x0",
    )
