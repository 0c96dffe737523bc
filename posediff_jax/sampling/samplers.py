"""DDIM and DDPM-ancestral samplers over the unconditional prior, with energy guidance.

`make_sampler(prior, energy_fn, num_steps, method, guidance, guidance_scale, scale_schedule)` returns a
`Sampler`:
- `sample(key, evidence, num_hypotheses) -> [m, 17, 3]` mm root-relative (camera frame orientation);
- `sample_batch(key, evidence_batch, num_hypotheses) -> [frames, m, 17, 3]` (every evidence leaf has a leading
  frames axis; frame i uses `fold_in(key, i)`, so it equals `sample(fold_in(key, i), evidence_i, m)`);
- `*_with_energies` variants also return the final energies `[..., m]`.
One jitted function per (shape, m); `lax.scan` over the `num_steps` steps of `schedule.time_grid`; `vmap` over
hypotheses (in `chunk_size` chunks under `lax.map`, see `chunking.py`) and over frames. Hypothesis i of a call
uses `fold_in(key, i)`: results are deterministic for a key and independent of the chunk size. With several
devices, `sample_batch` shards the frames over a 'data' mesh axis when their count divides evenly.

Updates from t to s < t (model space, `alpha_bar` from `prior.schedule`), given the guided x0 and the noise
estimate eps (see `guided.py`):
- DDIM (Song et al. 2021): `x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s - c^2) eps + c z`,
  `c = eta sqrt((1 - ab_s) / (1 - ab_t)) sqrt(1 - ab_t / ab_s)` (eta = 0: deterministic given x_T).
- DDPM ancestral (Ho et al. 2020): the Gaussian posterior q(x_s | x_t', x0) with
  `x_t' = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps` (x_t moved consistently with the guided x0): mean
  `sqrt(ab_s) b / (1 - ab_t) x0 + sqrt(a) (1 - ab_s) / (1 - ab_t) x_t'`, variance `b (1 - ab_s) / (1 - ab_t)`,
  `a = ab_t / ab_s`, `b = 1 - a`.
The last step lands on t = 0 (alpha_bar = 1), where both return the guided x0.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.sampling import chunking, guided
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import PoseDiffError

METHODS = ("ddim", "ddpm")


def ddim_step(x_t, x0, eps, alpha_bar_t, alpha_bar_s, noise, eta: float = 0.0):
    """DDIM update t -> s (module docstring); `noise` `[17, 3]` standard normal (unused when eta = 0)."""
    ratio = jnp.clip(alpha_bar_t / alpha_bar_s, 0.0, 1.0)
    c = eta * jnp.sqrt(jnp.clip((1 - alpha_bar_s) / jnp.maximum(1 - alpha_bar_t, 1e-12), 0.0)) * jnp.sqrt(1 - ratio)
    direction = jnp.sqrt(jnp.clip(1 - alpha_bar_s - c**2, 0.0))
    return jnp.sqrt(alpha_bar_s) * x0 + direction * eps + c * noise


def ddpm_step(x_t, x0, eps, alpha_bar_t, alpha_bar_s, noise):
    """DDPM ancestral update t -> s (module docstring); `x_t` is replaced by `sqrt(ab_t) x0 + sqrt(1 - ab_t) eps`."""
    del x_t
    x_t = jnp.sqrt(alpha_bar_t) * x0 + jnp.sqrt(1.0 - alpha_bar_t) * eps
    alpha = jnp.clip(alpha_bar_t / alpha_bar_s, 0.0, 1.0)
    beta = 1.0 - alpha
    denominator = jnp.maximum(1.0 - alpha_bar_t, 1e-12)
    mean = jnp.sqrt(alpha_bar_s) * beta / denominator * x0 + jnp.sqrt(alpha) * (1 - alpha_bar_s) / denominator * x_t
    variance = jnp.clip(beta * (1 - alpha_bar_s) / denominator, 0.0)
    return mean + jnp.sqrt(variance) * noise


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    num_steps: int = 50
    method: str = "ddim"
    guidance: str = "dps"
    guidance_scale: float = 0.1
    scale_schedule: Union[str, Callable] = "constant"
    max_grad_norm: float = 50.0
    precondition: bool = False
    eta: float = 0.0
    chunk_size: int = 256

    def validate(self):
        if self.method not in METHODS:
            raise PoseDiffError(f"method: expected one of {METHODS}, got {self.method!r}")
        if self.guidance not in guided.GUIDANCE_MODES:
            raise PoseDiffError(f"guidance: expected one of {guided.GUIDANCE_MODES}, got {self.guidance!r}")
        if int(self.num_steps) < 1:
            raise PoseDiffError(f"num_steps: expected >= 1, got {self.num_steps}")
        if not np.isfinite(self.guidance_scale) or self.guidance_scale < 0:
            raise PoseDiffError(f"guidance_scale: expected a finite value >= 0, got {self.guidance_scale}")
        if int(self.chunk_size) < 1:
            raise PoseDiffError(f"chunk_size: expected >= 1, got {self.chunk_size}")


def sample_one(prior, energy_fn, config: SamplerConfig, key, evidence):
    """One hypothesis: `[17, 3]` mm pose and its final energy (scalar)."""
    schedule = prior.schedule
    times = schedule.time_grid(config.num_steps)
    factor = guided.scale_schedule_fn(config.scale_schedule, schedule)
    initial_key, steps_key = jax.random.split(key)
    x_start = jax.random.normal(initial_key, (NUM_JOINTS, 3), jnp.float32)
    step_keys = jax.random.split(steps_key, config.num_steps)
    guidance = config.guidance if (energy_fn is not None and config.guidance_scale > 0) else "none"
    # An unguided run with an energy still reports energies; skip computing them inside the loop.
    step_energy_fn = energy_fn if guidance != "none" else None

    def step(x_t, inputs):
        t, s, step_key = inputs
        step_size = config.guidance_scale * factor(t)
        x0, eps, _ = guided.guided_denoise(
            prior, step_energy_fn, x_t, t, evidence, guidance, step_size, config.max_grad_norm, config.precondition
        )
        alpha_bar_t, alpha_bar_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
        alpha_bar_s = jnp.where(s <= 0.0, 1.0, alpha_bar_s)
        noise = jax.random.normal(step_key, x_t.shape, x_t.dtype)
        if config.method == "ddim":
            x_s = ddim_step(x_t, x0, eps, alpha_bar_t, alpha_bar_s, noise, config.eta)
        else:
            x_s = ddpm_step(x_t, x0, eps, alpha_bar_t, alpha_bar_s, noise)
        return x_s, None

    x_final, _ = jax.lax.scan(step, x_start, (times[:-1], times[1:], step_keys))
    pose = guided.to_millimetres(prior, x_final)
    energy = jnp.zeros((), pose.dtype) if energy_fn is None else energy_fn(pose, evidence)
    return pose, energy


def sample_hypotheses(prior, energy_fn, config: SamplerConfig, key, evidence, num_hypotheses: int):
    """`([m, 17, 3] mm, [m] energies)` for one frame, chunked over hypotheses."""
    keys = chunking.hypothesis_keys(key, num_hypotheses)
    return chunking.chunked_vmap(
        lambda hypothesis_key: sample_one(prior, energy_fn, config, hypothesis_key, evidence), keys, config.chunk_size
    )


def frame_keys(key, num_frames: int):
    return jax.vmap(lambda index: jax.random.fold_in(key, index))(jnp.arange(num_frames))


@dataclasses.dataclass
class Sampler:
    """Jitted guided sampling for a fixed prior, energy and configuration (see the module docstring)."""

    prior: Any
    energy_fn: Optional[Callable]
    config: SamplerConfig

    def __post_init__(self):
        self.config.validate()
        sample_frame = functools.partial(sample_hypotheses, energy_fn=self.energy_fn, config=self.config)
        self._single = jax.jit(
            lambda prior, key, evidence, num_hypotheses: sample_frame(
                prior, key=key, evidence=evidence, num_hypotheses=num_hypotheses
            ),
            static_argnums=3,
        )

        def batch(prior, key, evidence_batch, num_hypotheses):
            frames = jax.tree.leaves(evidence_batch)[0].shape[0]
            return jax.vmap(
                lambda frame_key, evidence: sample_frame(
                    prior, key=frame_key, evidence=evidence, num_hypotheses=num_hypotheses
                )
            )(frame_keys(key, frames), evidence_batch)

        self._batch = jax.jit(batch, static_argnums=3)

    def sample_with_energies(self, key, evidence, num_hypotheses: int):
        """`([m, 17, 3] mm, [m] final energies)` for one frame (evidence may be None for generation)."""
        _check_hypotheses(num_hypotheses)
        return self._single(self.prior, key, evidence, int(num_hypotheses))

    def sample(self, key, evidence, num_hypotheses: int):
        """`[m, 17, 3]` mm root-relative hypotheses for one frame."""
        return self.sample_with_energies(key, evidence, num_hypotheses)[0]

    def sample_batch_with_energies(self, key, evidence_batch, num_hypotheses: int):
        """`([frames, m, 17, 3], [frames, m])` for a batch of frames (leading axis on every evidence leaf)."""
        _check_hypotheses(num_hypotheses)
        leaves = jax.tree.leaves(evidence_batch)
        if not leaves or np.ndim(leaves[0]) == 0:
            raise PoseDiffError("evidence_batch: expected evidence with a leading frames axis")
        evidence_batch = shard_frames(evidence_batch)
        return self._batch(self.prior, key, evidence_batch, int(num_hypotheses))

    def sample_batch(self, key, evidence_batch, num_hypotheses: int):
        """`[frames, m, 17, 3]` mm root-relative hypotheses."""
        return self.sample_batch_with_energies(key, evidence_batch, num_hypotheses)[0]

    def energies(self, poses, evidence):
        """`[..., m]` energies of hypotheses `[..., m, 17, 3]` mm against one frame's evidence."""
        if self.energy_fn is None:
            return jnp.zeros(poses.shape[:-2], jnp.float32)
        flat = jnp.reshape(poses, (-1, NUM_JOINTS, 3))
        values = jax.vmap(lambda pose: self.energy_fn(pose, evidence))(flat)
        return values.reshape(poses.shape[:-2])


def _check_hypotheses(num_hypotheses):
    if int(num_hypotheses) < 1:
        raise PoseDiffError(f"num_hypotheses: expected >= 1, got {num_hypotheses}")


def shard_frames(evidence_batch):
    """Places the frames axis of every leaf over a 'data' mesh of all devices (no-op on one device or when the
    frame count does not divide evenly)."""
    devices = jax.devices()
    frames = jax.tree.leaves(evidence_batch)[0].shape[0]
    if len(devices) < 2 or frames % len(devices):
        return evidence_batch
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    return jax.device_put(evidence_batch, sharding)


def make_sampler(
    prior,
    energy_fn=None,
    num_steps: int = 50,
    method: str = "ddim",
    guidance: str = "dps",
    guidance_scale: float = 0.1,
    scale_schedule: Union[str, Callable] = "constant",
    max_grad_norm: float = 50.0,
    precondition: bool = False,
    eta: float = 0.0,
    chunk_size: int = 256,
) -> Sampler:
    """A `Sampler` (module docstring). `energy_fn=None` is plain unconditional sampling.

    Args:
      prior: `posediff_jax.prior.Prior`.
      energy_fn: `energy(pose [17, 3] mm, evidence) -> scalar` or None.
      num_steps: reverse steps (uniform in t from 1 to 0).
      method: 'ddim' or 'ddpm' (ancestral).
      guidance: 'dps' (gradient through the network), 'x0' (gradient on x0 only) or 'none'.
      guidance_scale: step size in model space (see `guided.py`); 0 disables guidance.
      scale_schedule: 'constant', 'increasing', 'alpha_bar' or a callable `t -> factor`.
      max_grad_norm: per-hypothesis clip of the guidance gradient (model space).
      precondition: equalise the guidance step in millimetres over coordinates (`guided.millimetre_preconditioner`).
      eta: DDIM stochasticity (0 deterministic, 1 ~ DDPM).
      chunk_size: hypotheses per vmapped chunk (memory bound).
    """
    config = SamplerConfig(
        num_steps=int(num_steps),
        method=method,
        guidance=guidance,
        guidance_scale=float(guidance_scale),
        scale_schedule=scale_schedule,
        max_grad_norm=float(max_grad_norm),
        precondition=bool(precondition),
        eta=float(eta),
        chunk_size=int(chunk_size),
    )
    return Sampler(prior=prior, energy_fn=energy_fn, config=config)
