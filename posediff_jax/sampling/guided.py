"""Guidance: the Tweedie x0 estimate nudged down the gradient of an energy.

At every reverse step the prior gives `x0_hat(x_t) = E[x0 | x_t]` (model space). The guided estimate is

    x0_guided = x0_hat - step_t * clip(g, max_grad_norm),   step_t = guidance_scale * scale_schedule(t)

with `g` the gradient of `E(denormalise(x0_hat))` (the energy sees millimetres, root at zero):
- 'dps' (Chung et al. 2023, diffusion posterior sampling): `g = d E(x0_hat(x_t)) / d x_t`, the gradient taken
  through the network (one extra backward pass per step).
- 'x0': `g = d E / d x0` at `x0_hat` (no backward pass through the network; cheaper, slightly less faithful).
The sampler then updates with `x0_guided` and the network's noise estimate `eps_hat` (kept unchanged), i.e.
as if `x_t` had been moved by `alpha_t (x0_guided - x0_hat)`: in DDIM the correction enters `x_{t-1}` with
weight `alpha_{t-1}` (faint at high noise, full strength near the data) and, since the next step's Tweedie
estimate starts from the corrected pose, corrections accumulate over the steps like gradient descent on x0
held near the data manifold by the prior. Gradient norms are clipped per hypothesis (`max_grad_norm`,
model-space units), which keeps the step bounded however steep the energy (heatmaps far from their peak, or
the 1/alpha factor of 'dps' at high noise).

Scale choice: a fixed step in model space (units of the per-coordinate pose std) rather than DPS's
`scale / ||residual||`: our energies are already likelihood-scaled (`-log` of peak-1 Gaussians is
`d^2 / (2 sigma^2)`), so the step is a damped gradient step whose size must stay below the Newton step
(~ (sigma_joint / std_pose)^2). Measured on 10 real S9 frames with GT-rendered heatmaps and the shipped prior
(the former tools/eval_guidance_h36m.py, now `posediff evaluate --config configs/eval_h36m.py --set
evidence.source=gt_heatmaps`; 25 steps, best-of-50 MPJPE): scale 0.03 -> 87 mm, 0.1 -> 58 mm, 0.15 -> 56 mm,
0.2 -> 61 mm, 0.3 -> 110 mm, 1.0 -> 430 mm (overshoot); 0.1 with 50 steps -> 48 mm. The default is 0.1.
The schedule multiplies it by a function of t: 'constant', 'decreasing' (`0.25 + 1.5 t`: 1.75x at pure noise,
0.25x at the data, mean 1 over t so `guidance_scale` keeps its meaning as the average step), 'increasing'
(`1 - t`) or 'alpha_bar' (`alpha_bar(t)`), or any callable `t -> factor`; 'auto' is resolved by what the evidence
is (`sampling.config.resolve_scale_schedule`: 'constant' for exact 2D, 'decreasing' for a detector's).

Why the evidence decides (configs/eval_h36m.py, 60 S9 frames, m = 200, shipped prior; docs/results_h36m.md
"Guidance over time"): with a detector's keypoints the guidance's pull in the last noise levels drags every
hypothesis onto the detector's errors (~12 px on S9), which the prior would otherwise correct; spending the same
average step early, where it picks the basin, and little at the end gives best-of-200 62.2 -> 59.7 mm and
best-of-1 108.4 -> 106.8 (every column better). With exact 2D the same schedule loses 3.1 mm at best-of-200
(29.7 -> 32.8): there the late pull is what places the joints. Pushing guidance later ('increasing',
'alpha_bar') is worse on both.
"""

from __future__ import annotations

from typing import Callable, Union

import jax
import jax.numpy as jnp

from posediff_jax.sampling.config import AUTO_SCHEDULES, GUIDANCE_MODES, SCALE_SCHEDULES
from posediff_jax.skeleton import NUM_JOINTS, ROOT_JOINT
from posediff_jax.validation import PoseDiffError

DECREASING_AT_DATA = 0.25  # the 'decreasing' schedule's factor at t = 0 (1.75 at t = 1; mean 1)


def scale_schedule_fn(scale_schedule: Union[str, Callable], schedule) -> Callable:
    """Name (or callable) -> `factor(t)`; see the module docstring."""
    if callable(scale_schedule):
        return scale_schedule
    if scale_schedule == "auto":  # not resolved by the caller: a detector's evidence
        scale_schedule = AUTO_SCHEDULES[False]
    if scale_schedule == "constant":
        return lambda t: jnp.ones_like(t)
    if scale_schedule == "increasing":
        return lambda t: 1.0 - t
    if scale_schedule == "alpha_bar":
        return schedule.alpha_bar
    if scale_schedule == "decreasing":
        return lambda t: DECREASING_AT_DATA + 2.0 * (1.0 - DECREASING_AT_DATA) * t
    raise PoseDiffError(f"scale_schedule: expected one of {SCALE_SCHEDULES} or a callable, got {scale_schedule!r}")


def clip_by_norm(gradient, max_norm: float):
    """Scales `gradient` down so its global norm is at most `max_norm` (finite; NaN-safe)."""
    gradient = jnp.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)
    norm = jnp.sqrt(jnp.sum(gradient**2) + 1e-20)
    return gradient * jnp.minimum(1.0, max_norm / norm)


def model_space_root(prior):
    """`[3]` model-space coordinates of a root at the origin (what `normalize` gives for a zero root)."""
    return prior.normalization.normalize(jnp.zeros((NUM_JOINTS, 3), jnp.float32))[ROOT_JOINT]


def to_millimetres(prior, x0):
    """Model-space pose `[17, 3]` -> mm with the root exactly at zero."""
    pose = prior.normalization.denormalize(x0)
    return pose.at[ROOT_JOINT].set(0.0)


def denoise_with_root(prior, x_t, t):
    """`prior.denoise` for one pose `[17, 3]` with the x0 root pinned to the origin."""
    x0, _ = prior.denoise(x_t, t)
    return x0.at[ROOT_JOINT].set(model_space_root(prior))


def millimetre_preconditioner(prior):
    """`[17, 3]` factors `mean(std)^2 / std^2` that turn a model-space gradient step into a step of the same size
    in millimetres for every coordinate (a pose std differs ~5x between the hips and the wrists, so without it
    the stiffest energies overshoot on loose joints and crawl on tight ones)."""
    std = prior.normalization.std
    return jnp.mean(std) ** 2 / std**2


def guided_denoise(prior, energy_fn, x_t, t, evidence, guidance: str, step_size, max_grad_norm: float,
                   precondition: bool = False):
    """One guided Tweedie estimate for one hypothesis.

    Args:
      prior: `Prior`.
      energy_fn: `energy(pose [17, 3] mm, evidence) -> scalar`, or None (unguided).
      x_t: `[17, 3]` model space; t: scalar time.
      evidence: the energy's evidence (one frame).
      guidance: 'dps', 'x0' or 'none'.
      step_size: scalar `guidance_scale * scale_schedule(t)`.
      max_grad_norm: clip norm of the gradient (model space).
      precondition: scale the gradient by `millimetre_preconditioner` (uniform step in mm).
    Returns:
      (x0_guided `[17, 3]`, eps_hat `[17, 3]` (noise estimate of the unguided x0_hat), energy scalar of x0_hat).
    """
    if guidance not in GUIDANCE_MODES:
        raise PoseDiffError(f"guidance: expected one of {GUIDANCE_MODES}, got {guidance!r}")

    def energy_of_x0(x0):
        return energy_fn(to_millimetres(prior, x0), evidence)

    if energy_fn is None or guidance == "none":
        x0 = denoise_with_root(prior, x_t, t)
        energy = jnp.zeros((), x0.dtype) if energy_fn is None else energy_of_x0(x0)
        gradient = jnp.zeros_like(x0)
    elif guidance == "dps":

        def energy_of_x_t(x):
            x0 = denoise_with_root(prior, x, t)
            return energy_of_x0(x0), x0

        (energy, x0), gradient = jax.value_and_grad(energy_of_x_t, has_aux=True)(x_t)
    else:
        x0 = denoise_with_root(prior, x_t, t)
        energy, gradient = jax.value_and_grad(energy_of_x0)(x0)
    gradient = gradient.at[ROOT_JOINT].set(0.0)  # the root is pinned: its gradient must not use the clip budget
    if precondition:
        gradient = gradient * millimetre_preconditioner(prior)
    x0_guided = x0 - step_size * clip_by_norm(gradient, max_grad_norm)
    x0_guided = x0_guided.at[ROOT_JOINT].set(model_space_root(prior))
    alpha, sigma = prior.schedule.alpha(t), prior.schedule.sigma(t)
    eps = (x_t - alpha * jax.lax.stop_gradient(x0)) / jnp.maximum(sigma, 1e-6)
    return x0_guided, eps, energy
