"""Variance-preserving (VP) noise schedules in continuous time: `x_t = alpha(t) x0 + sigma(t) eps`, t in [0, 1].

- 'linear': DDPM's linear betas in continuous time, `alpha_bar(t) = exp(-beta_min t - (beta_max - beta_min) t^2 / 2)`.
- 'cosine': Nichol & Dhariwal 2021, `alpha_bar(t) = cos(pi/2 (t+s)/(1+s))^2 / cos(pi/2 s/(1+s))^2`, clipped.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp

from posediff_jax.validation import PoseDiffError

SCHEDULE_KINDS = ("linear", "cosine")


@dataclasses.dataclass(frozen=True)
class VPSchedule:
    """A VP schedule; frozen and hashable so it can be a static argument of `jax.jit`."""

    kind: str = "cosine"
    beta_min: float = 0.1
    beta_max: float = 20.0
    cosine_offset: float = 0.008
    min_alpha_bar: float = 1e-5
    t_min: float = 1e-3

    def __post_init__(self):
        if self.kind not in SCHEDULE_KINDS:
            raise PoseDiffError(f"schedule kind: expected one of {SCHEDULE_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.t_min < 1.0:
            raise PoseDiffError(f"schedule t_min: expected 0 <= t_min < 1, got {self.t_min}")

    def alpha_bar(self, t):
        """Signal fraction `alpha_bar(t)` in `(0, 1]`, elementwise over `t`."""
        t = jnp.asarray(t, jnp.float32)
        if self.kind == "linear":
            value = jnp.exp(-self.beta_min * t - 0.5 * (self.beta_max - self.beta_min) * t**2)
        else:
            s = self.cosine_offset
            value = jnp.cos(0.5 * math.pi * (t + s) / (1 + s)) ** 2 / math.cos(0.5 * math.pi * s / (1 + s)) ** 2
        return jnp.clip(value, self.min_alpha_bar, 1.0)

    def alpha(self, t):
        return jnp.sqrt(self.alpha_bar(t))

    def sigma(self, t):
        return jnp.sqrt(1.0 - self.alpha_bar(t))

    def log_snr(self, t):
        """`log(alpha_bar / (1 - alpha_bar))`, decreasing in `t`."""
        alpha_bar = self.alpha_bar(t)
        return jnp.log(alpha_bar) - jnp.log1p(-alpha_bar + 1e-12)

    def time_grid(self, num_steps: int):
        """`[num_steps + 1]` times from 1 down to 0 (uniform); samplers step `t[i] -> t[i+1]`."""
        if num_steps < 1:
            raise PoseDiffError(f"num_steps: expected >= 1, got {num_steps}")
        return jnp.linspace(1.0, 0.0, num_steps + 1, dtype=jnp.float32)

    def discrete_times(self, num_train_steps: int):
        """`[num_train_steps]` training times `k / num_train_steps`, `k = 1..num_train_steps`."""
        if num_train_steps < 1:
            raise PoseDiffError(f"num_train_steps: expected >= 1, got {num_train_steps}")
        return jnp.arange(1, num_train_steps + 1, dtype=jnp.float32) / num_train_steps
