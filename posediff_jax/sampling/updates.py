"""Reverse-diffusion update rules, registered by name (score_sde's predictor registry, in JAX).

An update rule moves one hypothesis from time t to s < t:

    @register_sampler("ddim", denoiser_calls=1)
    def ddim_update(x_t, t, s, denoise, key, config, schedule) -> x_s

- `x_t`: `[17, 3]` model space; `t`, `s`: scalar times in [0, 1] (`s = 0` on the last step);
- `denoise(x, time) -> (x0 [17, 3], eps [17, 3])`: the GUIDED Tweedie estimate (`guided.py`; the rule never knows
  which energy, or whether there is one) and the network's noise estimate;
- `key`: a PRNG key for the noise the rule draws; `config`: the `SamplerConfig`; `schedule`: `VPSchedule`.
`denoiser_calls` is a rule's count of `denoise` calls per update, for cost tables. `repeated_update` wraps any
rule with the re-noise-and-guide-again recurrence (`guidance_repeats`).

With alpha_bar = ab (the last step lands on ab_s = 1 and returns the guided x0):
- 'ddim' (Song et al. 2021): `x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s - c^2) eps + c z`,
  `c = eta sqrt((1 - ab_s) / (1 - ab_t)) sqrt(1 - ab_t / ab_s)`; no noise is drawn when eta = 0.
- 'ddpm' (Ho et al. 2020, ancestral): the Gaussian posterior q(x_s | x_t', x0) with
  `x_t' = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps` (x_t moved consistently with the guided x0).
- 'heun': deterministic second order: a DDIM (Euler) step to s, a second denoiser call there, and the DDIM
  step from x_t with the averaged x0 and eps (plain DDIM on the last step, where s = 0).
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class UpdateRule:
    name: str
    update: Callable
    denoiser_calls: int = 1


UPDATE_RULES: dict[str, UpdateRule] = {}


def register_sampler(name: str, denoiser_calls: int = 1):
    """Decorator: registers `update(x_t, t, s, denoise, key, config, schedule) -> x_s` as update rule `name`
    (`--method name`, `config.sampler.method`)."""

    def decorator(update: Callable) -> Callable:
        if name in UPDATE_RULES and UPDATE_RULES[name].update is not update:
            raise ValueError(f"update rule {name!r} is already registered")
        UPDATE_RULES[name] = UpdateRule(name, update, int(denoiser_calls))
        return update

    return decorator


def registered_samplers() -> tuple[str, ...]:
    return tuple(sorted(UPDATE_RULES))


def alpha_bars(schedule, t, s):
    """(ab_t, ab_s) with ab_s = 1 exactly on the last step (s <= 0)."""
    return schedule.alpha_bar(t), jnp.where(s <= 0.0, 1.0, schedule.alpha_bar(s))


def ddim_step(x0, eps, alpha_bar_t, alpha_bar_s, noise=None, eta: float = 0.0):
    """DDIM update t -> s (module docstring); `noise` `[17, 3]` standard normal, or None when eta = 0."""
    if eta == 0.0 or noise is None:
        return jnp.sqrt(alpha_bar_s) * x0 + jnp.sqrt(jnp.clip(1 - alpha_bar_s, 0.0)) * eps
    ratio = jnp.clip(alpha_bar_t / alpha_bar_s, 0.0, 1.0)
    c = eta * jnp.sqrt(jnp.clip((1 - alpha_bar_s) / jnp.maximum(1 - alpha_bar_t, 1e-12), 0.0)) * jnp.sqrt(1 - ratio)
    direction = jnp.sqrt(jnp.clip(1 - alpha_bar_s - c**2, 0.0))
    return jnp.sqrt(alpha_bar_s) * x0 + direction * eps + c * noise


def ddpm_step(x0, eps, alpha_bar_t, alpha_bar_s, noise):
    """DDPM ancestral update t -> s (module docstring)."""
    x_t = jnp.sqrt(alpha_bar_t) * x0 + jnp.sqrt(1.0 - alpha_bar_t) * eps
    alpha = jnp.clip(alpha_bar_t / alpha_bar_s, 0.0, 1.0)
    beta = 1.0 - alpha
    denominator = jnp.maximum(1.0 - alpha_bar_t, 1e-12)
    mean = jnp.sqrt(alpha_bar_s) * beta / denominator * x0 + jnp.sqrt(alpha) * (1 - alpha_bar_s) / denominator * x_t
    variance = jnp.clip(beta * (1 - alpha_bar_s) / denominator, 0.0)
    return mean + jnp.sqrt(variance) * noise


@register_sampler("ddim")
def ddim_update(x_t, t, s, denoise, key, config, schedule):
    x0, eps = denoise(x_t, t)
    alpha_bar_t, alpha_bar_s = alpha_bars(schedule, t, s)
    noise = None if config.eta == 0 else jax.random.normal(key, x_t.shape, x_t.dtype)
    return ddim_step(x0, eps, alpha_bar_t, alpha_bar_s, noise, config.eta)


@register_sampler("ddpm")
def ddpm_update(x_t, t, s, denoise, key, config, schedule):
    x0, eps = denoise(x_t, t)
    alpha_bar_t, alpha_bar_s = alpha_bars(schedule, t, s)
    return ddpm_step(x0, eps, alpha_bar_t, alpha_bar_s, jax.random.normal(key, x_t.shape, x_t.dtype))


@register_sampler("heun", denoiser_calls=2)
def heun_update(x_t, t, s, denoise, key, config, schedule):
    del key, config
    x0_t, eps_t = denoise(x_t, t)
    alpha_bar_t, alpha_bar_s = alpha_bars(schedule, t, s)
    euler = ddim_step(x0_t, eps_t, alpha_bar_t, alpha_bar_s)
    x0_s, eps_s = denoise(euler, jnp.maximum(s, 1e-3))
    corrected = ddim_step(0.5 * (x0_t + x0_s), 0.5 * (eps_t + eps_s), alpha_bar_t, alpha_bar_s)
    return jnp.where(s <= 0.0, euler, corrected)


def renoise(x_s, s, t, key, schedule):
    """Forward-diffuses `x_s` from time s back to t > s: `sqrt(ab_t/ab_s) x_s + sqrt(1 - ab_t/ab_s) z`."""
    alpha_bar_t, alpha_bar_s = alpha_bars(schedule, t, s)
    ratio = jnp.clip(alpha_bar_t / alpha_bar_s, 0.0, 1.0)
    return jnp.sqrt(ratio) * x_s + jnp.sqrt(1.0 - ratio) * jax.random.normal(key, x_s.shape, x_s.dtype)


def repeated_update(rule: UpdateRule, x_t, t, s, denoise, key, config, schedule):
    """`config.guidance_repeats` updates t -> s of one noise level, re-noising s -> t in between (Lugmayr et al.'s
    resampling, "universal guidance"'s recurrence): the guidance gets several gradient steps at each noise level
    while the prior keeps the sample on its manifold."""
    repeats = int(config.guidance_repeats)
    update_key, renoise_key = jax.random.split(key)
    if repeats <= 1:
        return rule.update(x_t, t, s, denoise, update_key, config, schedule)

    def round_trip(index, x):
        # The last round's key is fold_in(update_key, repeats); one loop body traces the denoiser once.
        key_index = jnp.where(index == repeats - 1, repeats, index)
        x_s = rule.update(x, t, s, denoise, jax.random.fold_in(update_key, key_index), config, schedule)
        return jax.lax.cond(index < repeats - 1,
                            lambda x_s: renoise(x_s, s, t, jax.random.fold_in(renoise_key, index), schedule),
                            lambda x_s: x_s, x_s)

    return jax.lax.fori_loop(0, repeats, round_trip, x_t)
