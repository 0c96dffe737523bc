"""The guided step: the prior's Tweedie x0 estimate nudged down the gradient of an energy.

At every reverse step the prior gives `x0_hat(x_t) = E[x0 | x_t]` (model space). The guided estimate is

    x0_guided = x0_hat - step_t * clip(g, max_grad_norm),   step_t = guidance_scale * scale_schedule(t)

with `g` the gradient of `E(denormalise(x0_hat))` (the energy sees millimetres, root at zero):
- 'dps' (Chung et al. 2023, diffusion posterior sampling): `g = d E(x0_hat(x_t)) / d x_t`, through the network;
- 'x0': `g = d E / d x0` at `x0_hat` (no backward pass through the network: cheaper, less faithful).
The update rule (`updates.py`) then steps with `x0_guided` and the unguided noise estimate `eps_hat`, as if
`x_t` had moved by `alpha_t (x0_guided - x0_hat)`: corrections accumulate over the steps like gradient descent
on x0 held near the data manifold by the prior. Gradients are clipped per hypothesis (`max_grad_norm`, model
space), which bounds the step however steep the energy.

The step is fixed in model space (units of the per-coordinate pose std) rather than DPS's `scale / ||residual||`:
the energies are already likelihood-scaled (`-log` of a peak-1 Gaussian is `d^2 / (2 sigma^2)`), so this is a
damped gradient step. `scale_schedule` spreads it over time with mean 1 ('decreasing': front-loaded, for a
detector's 2D, whose errors a late pull would copy; 'constant' for exact 2D; docs/decisions.md).
"""

import jax
import jax.numpy as jnp

from posediff_jax.sampling.config import AUTO_SCHEDULES
from posediff_jax.skeleton import NUM_JOINTS, ROOT_JOINT

DECREASING_AT_DATA = 0.25  # the 'decreasing' schedule's factor at t = 0 (1.75 at t = 1; mean 1)

# Scale schedules by name (`SamplerConfig.scale_schedule`): `factor(t, schedule)`.
SCALE_SCHEDULE_FACTORS = {
    "constant": lambda t, schedule: jnp.ones_like(t),
    "increasing": lambda t, schedule: 1.0 - t,
    "alpha_bar": lambda t, schedule: schedule.alpha_bar(t),
    "decreasing": lambda t, schedule: DECREASING_AT_DATA + 2.0 * (1.0 - DECREASING_AT_DATA) * t,
}


def scale_schedule_fn(scale_schedule, schedule):
    """A validated schedule name (or a callable `t -> factor`) -> `factor(t)`; 'auto' left unresolved by the caller
    is a detector's evidence."""
    if callable(scale_schedule):
        return scale_schedule
    name = AUTO_SCHEDULES[False] if scale_schedule == "auto" else scale_schedule
    return lambda t: SCALE_SCHEDULE_FACTORS[name](t, schedule)


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
    return prior.normalization.denormalize(x0).at[ROOT_JOINT].set(0.0)


def denoise_with_root(prior, x_t, t):
    """`prior.denoise` for one pose `[17, 3]` with the x0 root pinned to the origin."""
    x0, _ = prior.denoise(x_t, t)
    return x0.at[ROOT_JOINT].set(model_space_root(prior))


def millimetre_preconditioner(prior):
    """`[17, 3]` factors `mean(std)^2 / std^2` that make a model-space gradient step the same size in millimetres
    for every coordinate (a pose std differs ~5x between hips and wrists: stiff energies would overshoot on loose
    joints and crawl on tight ones)."""
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
      guidance: 'dps', 'x0' or 'none' (validated by `SamplerConfig`).
      step_size: scalar `guidance_scale * scale_schedule(t)`.
      max_grad_norm: clip norm of the gradient (model space).
      precondition: scale the gradient by `millimetre_preconditioner` (uniform step in mm).
    Returns:
      (x0_guided `[17, 3]`, eps_hat `[17, 3]` (noise estimate of the unguided x0_hat), energy of x0_hat).
    """

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
