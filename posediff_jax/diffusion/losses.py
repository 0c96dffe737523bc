"""The denoising training loss as a small factory (score_sde style)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from posediff_jax.diffusion.parameterization import check_prediction_type, target_for
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.validation import PoseDiffError

TIME_SAMPLING = ("continuous", "discrete")


def sample_times(key, batch_size: int, schedule: VPSchedule, time_sampling: str, num_train_steps: int):
    """`[batch]` training times: uniform in `[t_min, 1]` (continuous) or on the DDPM grid `k / T` (discrete)."""
    if time_sampling == "continuous":
        return jax.random.uniform(key, (batch_size,), minval=schedule.t_min, maxval=1.0)
    if time_sampling == "discrete":
        steps = jax.random.randint(key, (batch_size,), 1, num_train_steps + 1)
        return steps.astype(jnp.float32) / num_train_steps
    raise PoseDiffError(f"time_sampling: expected one of {TIME_SAMPLING}, got {time_sampling!r}")


def make_denoising_loss(schedule: VPSchedule, prediction_type: str = "epsilon", time_sampling: str = "continuous",
                        num_train_steps: int = 1000) -> Callable:
    """`loss_fn(params, apply_fn, x0 [batch, 17, 3] model space, key)`: the mean squared error of the network's
    output against the `prediction_type` target at random times."""
    check_prediction_type(prediction_type)
    if time_sampling not in TIME_SAMPLING:
        raise PoseDiffError(f"time_sampling: expected one of {TIME_SAMPLING}, got {time_sampling!r}")

    def loss_fn(params, apply_fn, x0, key):
        time_key, noise_key = jax.random.split(key)
        t = sample_times(time_key, x0.shape[0], schedule, time_sampling, num_train_steps)
        epsilon = jax.random.normal(noise_key, x0.shape, x0.dtype)
        alpha = schedule.alpha(t)[:, None, None]
        sigma = schedule.sigma(t)[:, None, None]
        x_t = alpha * x0 + sigma * epsilon
        target = target_for(prediction_type, x0, epsilon, alpha, sigma)
        return jnp.mean((apply_fn(params, x_t, t) - target) ** 2)

    return loss_fn
