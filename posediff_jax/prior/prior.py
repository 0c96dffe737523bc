"""The unconditional pose prior as one PyTree: what sampling needs, loaded by `posediff_jax.prior.resolve_prior`."""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp

from posediff_jax.diffusion.parameterization import output_to_x0_and_epsilon
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import NormalizationStats
from posediff_jax.pytrees import pytree_dataclass, static_field


@pytree_dataclass
class Prior:
    """EMA `params`, `normalization` (mm <-> model space), `apply_fn(params, x_t [..., 17, 3], t [...])`.

    x0_clip: the x0 estimate is clipped to +-x0_clip in model space (data stds) and epsilon re-derived: at high noise
    an epsilon-network's x0 divides by alpha ~ 3e-3 (DDPM's `clip_denoised`; None or 0: off).
    identity: a digest of the network's description ('' in memory), keying `sampling/export_cache.py`.
    """

    params: Any
    normalization: NormalizationStats
    apply_fn: Callable = static_field()
    schedule: VPSchedule = static_field(default=VPSchedule())
    prediction_type: str = static_field(default="epsilon")
    x0_clip: float = static_field(default=5.0)
    identity: str = static_field(default="")

    def denoise(self, x_t, t):
        """(Tweedie x0, epsilon) `[..., 17, 3]` of noisy `x_t [..., 17, 3]` (model space) at times `t [...]`."""
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), x_t.shape[:-2])
        output = self.apply_fn(self.params, x_t, t)
        alpha = self.schedule.alpha(t)[..., None, None]
        sigma = self.schedule.sigma(t)[..., None, None]
        x0, epsilon = output_to_x0_and_epsilon(output, x_t, alpha, sigma, self.prediction_type)
        if self.x0_clip:
            x0 = jnp.clip(x0, -self.x0_clip, self.x0_clip)
            epsilon = (x_t - alpha * x0) / jnp.maximum(sigma, 1e-6)
        return x0, epsilon
