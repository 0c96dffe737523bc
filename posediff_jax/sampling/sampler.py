"""Guided sampling over the unconditional prior: a `lax.scan` over noise levels, vmapped over hypotheses and frames.

`sample_one` is the algorithm for one hypothesis: start from noise, and at every noise level t -> s run the
update rule (`config.method`, `updates.py`) with the guided denoiser (`guided.py`), `guidance_repeats` times
(`updates.repeated_update`); `final_refinement_steps` more re-noise-and-update rounds at the last level.
Network calls per hypothesis: `SamplerConfig.network_evaluations_per_hypothesis`.

`make_sampler(prior, energy_fn, config) -> Sampler` wraps it without it knowing: `jit`, a chunked `vmap` over
hypotheses and frames (`chunking.py`), all of this process's devices (`devices.py`) and, for the CLI, programs
stored with `jax.export` (`export_cache.py`):
- `sample(key, evidence, m) -> [m, 17, 3]` mm root-relative (camera frame orientation);
- `sample_batch(key, evidence_batch, m) -> [frames, m, 17, 3]` (every evidence leaf has a leading frames axis;
  frame f uses `fold_in(key, first_frame + f)`, so it equals `sample(that key, evidence_f, m)`);
- `with_energies=True` also returns the final energies `[..., m]` against the whole evidence.
Hypothesis i uses `fold_in(key, first_hypothesis + i)`: results are deterministic for a key and independent of
the chunking, the grouping and the device layout (up to float rounding in batched kernels).

Evidence dropout (`evidence_dropout = p`): each hypothesis ignores every weighted joint's 2D evidence with
probability p, drawn once for its whole trajectory, and the prior fills what it ignores: the hypotheses that drop
a detector's wrong joints are free of them (docs/decisions.md, "Evidence dropout").
"""

import contextlib
import dataclasses
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.guidance.evidence import drop_joint_evidence, has_joint_weights
from posediff_jax.sampling import chunking, devices as device_layout, guided, updates
from posediff_jax.sampling.config import SamplerConfig
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import PoseDiffError

DROPOUT_STREAM = 777  # fold_in index of a hypothesis key that draws its evidence dropout


def network_matmuls(matmul_dtype: str):
    """The context the denoiser is traced in: the network's products in `matmul_dtype` (`model/precision.py`;
    'float32' changes nothing and imports nothing, so a stored sampler's start stays free of Flax)."""
    if matmul_dtype == "float32":
        return contextlib.nullcontext()
    from posediff_jax.model.precision import matmul_context

    return matmul_context(matmul_dtype)


def make_denoiser(prior, energy_fn, config: SamplerConfig, evidence):
    """`denoise(x_t [17, 3], t) -> (x0_guided, eps)` for one hypothesis (the update rules' view of guidance)."""
    factor = guided.scale_schedule_fn(config.scale_schedule, prior.schedule)
    guidance = config.guidance if (energy_fn is not None and config.guidance_scale > 0) else "none"
    step_energy_fn = energy_fn if guidance != "none" else None

    def denoise(x_t, t):
        with network_matmuls(config.matmul_dtype):
            x0, eps, _ = guided.guided_denoise(prior, step_energy_fn, x_t, t, evidence, guidance,
                                               config.guidance_scale * factor(t), config.max_grad_norm,
                                               config.precondition)
        return x0, eps

    return denoise


def uses_evidence_dropout(energy_fn, config: SamplerConfig, evidence) -> bool:
    """Whether evidence dropout applies (a guided sampler with `evidence_dropout > 0`); a `PoseDiffError` when it
    would but `evidence` has no per-joint weights to drop (e.g. completion's known joints)."""
    rate = float(config.evidence_dropout)
    if energy_fn is None or rate <= 0.0 or config.guidance == "none" or config.guidance_scale <= 0:
        return False
    if not has_joint_weights(evidence):
        raise PoseDiffError(f"evidence_dropout {rate:g}: this energy's evidence ({type(evidence).__name__}) has no "
                            "per-joint weights to drop; use it with heatmap or keypoint evidence, or set it to 0")
    return True


def sample_one(prior, energy_fn, config: SamplerConfig, key, evidence):
    """One hypothesis: its `[17, 3]` mm pose and final energy (scalar) against the whole `evidence`."""
    schedule = prior.schedule
    rule = updates.UPDATE_RULES[config.method]
    guiding = evidence
    if uses_evidence_dropout(energy_fn, config, evidence):
        guiding = drop_joint_evidence(evidence, jax.random.fold_in(key, DROPOUT_STREAM), float(config.evidence_dropout))
    denoise = make_denoiser(prior, energy_fn, config, guiding)
    times = schedule.time_grid(config.num_steps)
    initial_key, steps_key, refine_key = jax.random.split(key, 3)

    def level(x_t, inputs):
        t, s, step_key = inputs
        return updates.repeated_update(rule, x_t, t, s, denoise, step_key, config, schedule), None

    x_start = jax.random.normal(initial_key, (NUM_JOINTS, 3), jnp.float32)
    levels = (times[:-1], times[1:], jax.random.split(steps_key, config.num_steps))
    x_final, _ = jax.lax.scan(level, x_start, levels)

    def refine(index, x):
        round_key = jax.random.fold_in(refine_key, index)
        noisy = updates.renoise(x, times[-1], times[-2], round_key, schedule)
        return rule.update(noisy, times[-2], times[-1], denoise, jax.random.fold_in(round_key, 1), config, schedule)

    if config.final_refinement_steps > 0:
        x_final = jax.lax.fori_loop(0, config.final_refinement_steps, refine, x_final)
    pose = guided.to_millimetres(prior, x_final)
    energy = jnp.zeros((), pose.dtype) if energy_fn is None else energy_fn(pose, evidence)
    return pose, energy


def sample_hypotheses(prior, energy_fn, config: SamplerConfig, key, evidence, num_hypotheses: int,
                      first_hypothesis=0):
    """`([m, 17, 3] mm, [m] energies)` for one frame, chunked over hypotheses."""
    keys = chunking.hypothesis_keys(key, num_hypotheses, first_hypothesis)
    return chunking.chunked_vmap(lambda hypothesis_key: sample_one(prior, energy_fn, config, hypothesis_key, evidence),
                                 keys, config.chunk_size)


def sample_frames(energy_fn, config: SamplerConfig, prior, keys, evidence_batch, first_hypothesis,
                  num_hypotheses: int):
    """`([F, m, 17, 3], [F, m])` on one device: frame f from `keys[f]`, frames in groups of about
    `chunking.default_target_rows()` rows."""
    def one_frame(inputs):
        frame_key, evidence = inputs
        return sample_hypotheses(prior, energy_fn, config, frame_key, evidence, num_hypotheses, first_hypothesis)

    if keys.shape[0] == 1:
        return jax.tree.map(lambda leaf: leaf[None], one_frame(jax.tree.map(lambda leaf: leaf[0], (keys, evidence_batch))))
    group = chunking.frames_per_iteration(num_hypotheses, config.chunk_size)
    return chunking.chunked_vmap(one_frame, (keys, evidence_batch), group, group_size=1)


@dataclasses.dataclass
class Sampler:
    """Jitted guided sampling for a fixed prior, energy and validated configuration (`make_sampler` builds it).

    `export_cache`: an `export_cache.ExportCache` whose identity names `energy_fn` (name and options): calls then
    run a program stored by an earlier process instead of tracing (the prior must have an identity).
    `devices`: the devices a call is spread over; None: this process's.
    """

    prior: Any
    energy_fn: Optional[Callable]
    config: SamplerConfig
    export_cache: Any = None
    devices: Optional[Sequence[Any]] = None

    def __post_init__(self):
        self._jitted = jax.jit(self._program, static_argnums=(5, 6))

    def _program(self, prior, key, evidence, first_frame, first_hypothesis, num_hypotheses: int, one_frame: bool):
        """The whole call: `one_frame` samples `evidence` (no frames axis) from `key`; otherwise frame f of
        `evidence` from `fold_in(key, first_frame + f)`."""
        if one_frame:
            keys, evidence = key[None], jax.tree.map(lambda leaf: leaf[None], evidence)
        else:
            count = jax.tree.leaves(evidence)[0].shape[0]
            keys = jax.vmap(lambda index: jax.random.fold_in(key, index))(first_frame + jnp.arange(count))
        batch = lambda *arguments: sample_frames(self.energy_fn, self.config, *arguments)  # noqa: E731
        poses, energies = device_layout.on_devices(batch, self.devices, prior, keys, evidence, first_hypothesis,
                                                   num_hypotheses)
        return (poses[0], energies[0]) if one_frame else (poses, energies)

    def _call(self, key, evidence, first_frame, first_hypothesis, num_hypotheses, one_frame: bool):
        if int(num_hypotheses) < 1:
            raise PoseDiffError(f"num_hypotheses: expected >= 1, got {num_hypotheses}")
        uses_evidence_dropout(self.energy_fn, self.config, evidence)  # refused before any compilation
        first_frame, first_hypothesis, count = np.int32(first_frame), np.int32(first_hypothesis), int(num_hypotheses)
        if not self._exportable():
            return self._jitted(self.prior, key, evidence, first_frame, first_hypothesis, count, one_frame)

        def program(prior, key, evidence, first):
            return self._program(prior, key, evidence, first[0], first[1], count, one_frame)

        prior = self.prior
        described = {"config": dataclasses.asdict(self.config), "num_hypotheses": count,
                     "target_rows": chunking.default_target_rows(), "energy": self.energy_fn is not None,
                     "prior": [repr(prior.schedule), prior.prediction_type, prior.x0_clip]}
        name = "sample" if one_frame else "sample_batch"
        return self.export_cache.call(name, program, (prior, key, evidence, (first_frame, first_hypothesis)),
                                      described)

    def _exportable(self) -> bool:
        return (self.export_cache is not None and bool(getattr(self.prior, "identity", ""))
                and not callable(self.config.scale_schedule) and self.devices is None)

    def sample(self, key, evidence, num_hypotheses: int, first_hypothesis: int = 0, with_energies: bool = False):
        """`[m, 17, 3]` mm root-relative hypotheses for one frame (evidence None: generation); with `with_energies`,
        `(poses, [m] final energies)`. Hypothesis i uses `fold_in(key, first_hypothesis + i)`."""
        poses, energies = self._call(key, evidence, 0, first_hypothesis, num_hypotheses, one_frame=True)
        return (poses, energies) if with_energies else poses

    def sample_batch(self, key, evidence_batch, num_hypotheses: int, first_frame: int = 0, first_hypothesis: int = 0,
                     with_energies: bool = False):
        """`[frames, m, 17, 3]` mm root-relative hypotheses (leading frames axis on every evidence leaf); with
        `with_energies`, `(poses, [frames, m] energies)`."""
        leaves = jax.tree.leaves(evidence_batch)
        if not leaves or np.ndim(leaves[0]) == 0:
            raise PoseDiffError("evidence_batch: expected evidence with a leading frames axis")
        poses, energies = self._call(key, evidence_batch, first_frame, first_hypothesis, num_hypotheses,
                                     one_frame=False)
        return (poses, energies) if with_energies else poses

    def energies(self, poses, evidence):
        """`[..., m]` energies of hypotheses `[..., m, 17, 3]` mm against one frame's evidence."""
        if self.energy_fn is None:
            return jnp.zeros(poses.shape[:-2], jnp.float32)
        flat = jnp.reshape(poses, (-1, NUM_JOINTS, 3))
        return jax.vmap(lambda pose: self.energy_fn(pose, evidence))(flat).reshape(poses.shape[:-2])


def make_sampler(prior, energy_fn=None, config: Optional[SamplerConfig] = None, export_cache=None,
                 devices=None, **options) -> Sampler:
    """A `Sampler` (module docstring). `energy_fn=None` is plain unconditional sampling.

    Args:
      prior: `posediff_jax.prior.Prior`.
      energy_fn: `energy(pose [17, 3] mm, evidence) -> scalar` or None.
      config: a `SamplerConfig` (default: `SamplerConfig()`).
      export_cache: optional `export_cache.ExportCache` whose identity names `energy_fn` (the CLI's).
      devices: the devices a call is spread over (default: all; `jax.devices()[:1]` keeps it on one).
      **options: SamplerConfig fields overriding `config` (e.g. `num_steps=25, guidance='x0'`).
    """
    config = (config if config is not None else SamplerConfig()).replace("make_sampler", **options)  # validated
    return Sampler(prior=prior, energy_fn=energy_fn, config=config, export_cache=export_cache,
                   devices=None if devices is None else tuple(devices))
