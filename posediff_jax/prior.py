"""The trained unconditional pose prior as one PyTree.

`Prior` bundles what sampling needs: EMA parameters, the network's apply function, the noise schedule, the
output parameterisation and the normalisation statistics. Static fields make it safe to close over in
`jax.jit`; `params` and `normalization` are ordinary leaves. Load one with
`posediff_jax.training.checkpoint.load_prior(path)` or `load_default_prior()` (the shipped checkpoint).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax.numpy as jnp

from posediff_jax.diffusion.parameterization import output_to_x0_and_epsilon
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import NormalizationStats


@flax.struct.dataclass
class Prior:
    """params: network parameters (EMA); normalization: mm <-> model space.

    apply_fn(params, x_t [..., 17, 3], t [...]) -> output [..., 17, 3] in model space.
    """

    params: Any
    normalization: NormalizationStats
    apply_fn: Callable = flax.struct.field(pytree_node=False)
    schedule: VPSchedule = flax.struct.field(pytree_node=False, default=VPSchedule())
    prediction_type: str = flax.struct.field(pytree_node=False, default="epsilon")

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
        return output_to_x0_and_epsilon(output, x_t, alpha, sigma, self.prediction_type)
