"""The trained unconditional pose prior as one PyTree.

`Prior` bundles what sampling needs: EMA parameters, the network's apply function, the noise schedule, the
output parameterisation and the normalisation statistics. Static fields make it safe to close over in
`jax.jit`; `params` and `normalization` are ordinary leaves. Load one with `posediff_jax.prior.load_prior(path)`,
`load_default_prior()` (the shipped checkpoint) or `resolve_prior('default' | PATH | 'gaussian' | 'tiny')`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp

from posediff_jax.diffusion.parameterization import output_to_x0_and_epsilon
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import NormalizationStats
from posediff_jax.pytrees import pytree_dataclass, static_field


@pytree_dataclass
class Prior:
    """params: network parameters (EMA); normalization: mm <-> model space.

    apply_fn(params, x_t [..., 17, 3], t [...]) -> output [..., 17, 3] in model space.
    x0_clip: the x0 estimate is clipped to `[-x0_clip, x0_clip]` in model space (units of the data's
    per-coordinate std; training poses lie well inside +-5) and epsilon re-derived from the clipped x0. At high
    noise an epsilon-network's x0 is `(x_t - sigma eps) / alpha` with alpha ~ 3e-3, so without the clip a small
    error in eps becomes a pose metres wide (DDPM's `clip_denoised`). None or 0 disables it.
    identity: a digest of the description the network was built from (`prior/format.py`), or '' for a prior built
    in memory; it lets `sampling/export_cache.py` reuse a stored sampler for the same network.
    """

    params: Any
    normalization: NormalizationStats
    apply_fn: Callable = static_field()
    schedule: VPSchedule = static_field(default=VPSchedule())
    prediction_type: str = static_field(default="epsilon")
    x0_clip: float = static_field(default=5.0)
    identity: str = static_field(default="")

    def denoise(self, x_t, t):
        """Tweedie estimate of the clean pose.

        Args:
          x_t: `[..., 17, 3]` noisy pose in model space.
          t: `[...]` (or scalar) diffusion time in [0, 1].
        Returns:
          (x0 `[..., 17, 3]` model space, epsilon `[..., 17, 3]`).
        """
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), x_t.shape[:-2])
        output = self.apply_fn(self.params, x_t, t)
        alpha = self.schedule.alpha(t)[..., None, None]
        sigma = self.schedule.sigma(t)[..., None, None]
        x0, epsilon = output_to_x0_and_epsilon(output, x_t, alpha, sigma, self.prediction_type)
        if self.x0_clip:
            x0 = jnp.clip(x0, -self.x0_clip, self.x0_clip)
            epsilon = (x_t - alpha * x0) / jnp.maximum(sigma, 1e-6)
        return x0, epsilon
