"""Guided sampling over the unconditional prior: `make_sampler(prior, energy_fn, config) -> Sampler`.

- `sample(key, evidence, num_hypotheses) -> [m, 17, 3]` mm root-relative (camera frame orientation);
- `sample_batch(key, evidence_batch, num_hypotheses) -> [frames, m, 17, 3]` (every evidence leaf has a leading
  frames axis; frame i uses `fold_in(key, i)`, so it equals `sample(fold_in(key, i), evidence_i, m)`);
- `*_with_energies` variants also return the final energies `[..., m]`.
One jitted function per (shape, m); `lax.scan` over the `num_steps` noise levels of `schedule.time_grid`; `vmap`
over hypotheses (in `chunk_size` chunks, see `chunking.py`) and over frames, in groups of about
`chunking.default_target_rows()` rows per sequential iteration (`frames_per_iteration`). Hypothesis i of a call
uses `fold_in(key, i)`: results are deterministic for a key and independent of the chunk size and grouping.

Several devices (`sampling_mesh`: all of this process's devices on a 'data' axis): every call runs as one
`shard_map` whose per-device code is the single-device sampler above on that device's share: the frames when
their count divides evenly over the devices, otherwise the hypotheses (device d draws hypotheses
`d * ceil(m / D) + i` of every frame, so one frame's 200 hypotheses run 100 per device on two). A hypothesis keeps
its key whatever the layout, so the result equals the single-device one up to float rounding inside batched
matmuls (which can move a hypothesis that sits on a bilinear cell border or the gradient clip). On a CPU the
`posediff` command makes one device per core (cli.py), which is faster than one device using every core
(docs/benchmarks.md). With an `export_cache` (the CLI's) a call runs the sampler as stored by `jax.export` in an
earlier process instead of tracing it (`export_cache.py`; a program stored on D devices is keyed on D).

Per noise level t -> s the registered update rule (`config.method`, sampling/registry.py) runs with the guided
denoiser of `guided.py`. With `guidance_repeats = K > 1` the update is repeated K times per level, re-noising
x_s back to t in between (Lugmayr et al.'s resampling / "universal guidance" recurrence: the guidance gets K
gradient steps at each noise level while the prior keeps the sample on its manifold). `final_refinement_steps`
R adds R re-noise-and-update rounds at the last noise level. Network calls per hypothesis:
`denoiser_calls(method) * (num_steps * K + R)` (`SamplerConfig.network_evaluations_per_hypothesis`).

Evidence dropout (`evidence_dropout = p`, default 0). A detector misses some joints outright (Stacked Hourglass:
about one MPII joint in ten outside PCKh@0.5), and which ones is a discrete unknown of the frame. Marginalising
it in the likelihood (the heatmap energy's `outlier_probability`) leaves every hypothesis pulled toward every
detection; with p > 0 each hypothesis instead draws its own answer, once for its whole trajectory: every
weighted joint's 2D evidence is ignored with probability p (`guidance.evidence.drop_joint_evidence`) and the
prior fills the joints it ignores. The hypotheses that drop a frame's wrong detections are free of them, and
single draws, guided by fewer joints, are worse. Measured on 240 S9 frames per camera (docs/results_h36m.md,
"Evidence dropout"): p = 0.05 gains 0.9 mm at best-of-200 and 1.6 mm PA-MPJPE on one camera's detections,
nothing at best-of-200 on another's, and costs 3 mm at best-of-1 on both, so it is an option, not a default.
The final energies are computed against the whole evidence, comparable across hypotheses. No extra cost.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.guidance.evidence import drop_joint_evidence, has_joint_weights
from posediff_jax.sampling import chunking, guided, registry
from posediff_jax.sampling.config import FIELDS, SamplerConfig
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import PoseDiffError


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


def network_matmuls(matmul_dtype: str):
    """The context the denoiser is traced in: the network's products in `matmul_dtype` (`model/precision.py`;
    'float32' changes nothing and imports nothing, so a stored sampler's start stays free of Flax)."""
    if matmul_dtype == "float32":
        return contextlib.nullcontext()
    from posediff_jax.model.precision import matmul_context

    return matmul_context(matmul_dtype)


def repeated_update(rule, x_t, t, s, denoise, key, config, schedule, repeats: int):
    """`repeats` updates t -> s of one noise level, re-noising s -> t in between (module docstring)."""
    update_key, renoise_key = jax.random.split(key)
    if repeats <= 1:
        return rule.update(x_t, t, s, denoise, update_key, config, schedule)

    def round_trip(index, x):
        # The last round's update key is fold_in(update_key, repeats), as when it ran after the loop; one loop
        # body traces the denoiser (network, gradient) once instead of twice.
        key_index = jnp.where(index == repeats - 1, repeats, index)
        x_s = rule.update(x, t, s, denoise, jax.random.fold_in(update_key, key_index), config, schedule)
        return jax.lax.cond(index < repeats - 1,
                            lambda x_s: registry.renoise(x_s, s, t, jax.random.fold_in(renoise_key, index), schedule),
                            lambda x_s: x_s, x_s)

    return jax.lax.fori_loop(0, repeats, round_trip, x_t)


DROPOUT_STREAM = 777  # fold_in index of a hypothesis key that draws its evidence dropout


def hypothesis_evidence(energy_fn, config: SamplerConfig, key, evidence):
    """The evidence one hypothesis (key `key`) is guided by: `evidence` itself, or with evidence dropout (module
    docstring) each weighted joint ignored with probability `config.evidence_dropout`, drawn once for the whole
    trajectory from `fold_in(key, DROPOUT_STREAM)` (the other draws of the hypothesis are unchanged)."""
    if not check_evidence_dropout(energy_fn, config, evidence):
        return evidence
    return drop_joint_evidence(evidence, jax.random.fold_in(key, DROPOUT_STREAM), float(config.evidence_dropout))


def check_evidence_dropout(energy_fn, config: SamplerConfig, evidence) -> bool:
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
    """One hypothesis: `[17, 3]` mm pose and its final energy (scalar) against the whole `evidence`."""
    schedule = prior.schedule
    rule = registry.get_sampler(config.method)
    times = schedule.time_grid(config.num_steps)
    denoise = make_denoiser(prior, energy_fn, config, hypothesis_evidence(energy_fn, config, key, evidence))
    initial_key, steps_key, refine_key = jax.random.split(key, 3)
    x_start = jax.random.normal(initial_key, (NUM_JOINTS, 3), jnp.float32)
    step_keys = jax.random.split(steps_key, config.num_steps)

    def step(x_t, inputs):
        t, s, step_key = inputs
        return repeated_update(rule, x_t, t, s, denoise, step_key, config, schedule, config.guidance_repeats), None

    x_final, _ = jax.lax.scan(step, x_start, (times[:-1], times[1:], step_keys))
    if config.final_refinement_steps > 0:
        t_last, s_last = times[-2], times[-1]

        def refine(index, x):
            round_key = jax.random.fold_in(refine_key, index)
            noisy = registry.renoise(x, s_last, t_last, round_key, schedule)
            return rule.update(noisy, t_last, s_last, denoise, jax.random.fold_in(round_key, 1), config, schedule)

        x_final = jax.lax.fori_loop(0, config.final_refinement_steps, refine, x_final)
    pose = guided.to_millimetres(prior, x_final)
    energy = jnp.zeros((), pose.dtype) if energy_fn is None else energy_fn(pose, evidence)
    return pose, energy


def sample_hypotheses(prior, energy_fn, config: SamplerConfig, key, evidence, num_hypotheses: int,
                      first_hypothesis=0):
    """`([m, 17, 3] mm, [m] energies)` for one frame, chunked over hypotheses."""
    keys = chunking.hypothesis_keys(key, num_hypotheses, first_hypothesis)
    return chunking.chunked_vmap(
        lambda hypothesis_key: sample_one(prior, energy_fn, config, hypothesis_key, evidence), keys, config.chunk_size
    )


def frame_keys(key, num_frames: int, first_frame=0):
    return jax.vmap(lambda index: jax.random.fold_in(key, index))(first_frame + jnp.arange(num_frames))


@dataclasses.dataclass
class Sampler:
    """Jitted guided sampling for a fixed prior, energy and configuration (see the module docstring)."""

    prior: Any
    energy_fn: Optional[Callable]
    config: SamplerConfig
    # Optional `export_cache.ExportCache` whose `identity` names `energy_fn` (name and options): `sample` and
    # `sample_batch` then run a stored program instead of tracing the sampler again (the prior must have an
    # identity).
    export_cache: Any = None
    # The devices to spread a call over (module docstring); None: this process's (`jax.local_devices()`).
    devices: Optional[Sequence[Any]] = None

    def __post_init__(self):
        self.config.validate()
        energy_fn, config = self.energy_fn, self.config

        def batch(prior, keys, evidence_batch, first_hypothesis, num_hypotheses):
            """One device: frames in groups of about `default_target_rows()` rows (`frames_per_iteration`)."""
            def one_frame(inputs):
                frame_key, evidence = inputs
                return sample_hypotheses(prior, energy_fn, config, frame_key, evidence, num_hypotheses,
                                         first_hypothesis)

            frames_per_group = frames_per_iteration(num_hypotheses, config.chunk_size)
            return chunking.chunked_vmap(one_frame, (keys, evidence_batch), frames_per_group, group_size=1)

        def single(prior, key, evidence, first_hypothesis, num_hypotheses):
            mesh = sampling_mesh(self.devices)
            if mesh is None:
                return sample_hypotheses(prior, energy_fn, config, key, evidence, num_hypotheses, first_hypothesis)
            one_frame = jax.tree.map(lambda leaf: leaf[None], evidence)
            poses, energies = _shard_over_mesh(batch, mesh, prior, key[None], one_frame, first_hypothesis,
                                               num_hypotheses)
            return poses[0], energies[0]

        def batch_from_key(prior, key, evidence_batch, first, num_hypotheses):
            first_frame, first_hypothesis = first
            keys = frame_keys(key, jax.tree.leaves(evidence_batch)[0].shape[0], first_frame)
            mesh = sampling_mesh(self.devices)
            if mesh is None:
                return batch(prior, keys, evidence_batch, first_hypothesis, num_hypotheses)
            return _shard_over_mesh(batch, mesh, prior, keys, evidence_batch, first_hypothesis, num_hypotheses)

        self._single = single
        self._batch_from_key = batch_from_key
        self._single_jit = jax.jit(single, static_argnums=4)
        self._batch_jit = jax.jit(batch_from_key, static_argnums=4)

    def sample_with_energies(self, key, evidence, num_hypotheses: int, first_hypothesis: int = 0):
        """`([m, 17, 3] mm, [m] final energies)` for one frame (evidence may be None for generation).

        Hypothesis i uses `fold_in(key, first_hypothesis + i)`, so hypotheses can be drawn in groups.
        """
        _check_hypotheses(num_hypotheses)
        check_evidence_dropout(self.energy_fn, self.config, evidence)  # before any compilation
        if self._exportable():
            return self._call_stored("sample", self._single, key, evidence, first_hypothesis, num_hypotheses)
        return self._single_jit(self.prior, key, evidence, np.int32(first_hypothesis), int(num_hypotheses))

    def sample(self, key, evidence, num_hypotheses: int, first_hypothesis: int = 0):
        """`[m, 17, 3]` mm root-relative hypotheses for one frame."""
        return self.sample_with_energies(key, evidence, num_hypotheses, first_hypothesis)[0]

    def sample_batch_with_energies(self, key, evidence_batch, num_hypotheses: int, first_frame: int = 0,
                                   first_hypothesis: int = 0):
        """`([frames, m, 17, 3], [frames, m])` for a batch of frames (leading axis on every evidence leaf).

        Frame f of the batch uses `fold_in(key, first_frame + f)` and equals `sample(that key, evidence_f, m)`.
        """
        _check_hypotheses(num_hypotheses)
        leaves = jax.tree.leaves(evidence_batch)
        if not leaves or np.ndim(leaves[0]) == 0:
            raise PoseDiffError("evidence_batch: expected evidence with a leading frames axis")
        check_evidence_dropout(self.energy_fn, self.config, evidence_batch)  # before any compilation
        first = (first_frame, first_hypothesis)
        if self._exportable():  # the frame keys are derived inside the stored program
            return self._call_stored("sample_batch", self._batch_from_key, key, evidence_batch, first, num_hypotheses)
        return self._batch_jit(self.prior, key, evidence_batch, jax.tree.map(np.int32, first), int(num_hypotheses))

    def _exportable(self) -> bool:
        return (self.export_cache is not None and bool(getattr(self.prior, "identity", ""))
                and not callable(self.config.scale_schedule) and self.devices is None)

    def _call_stored(self, name: str, function, key, evidence, first, num_hypotheses: int):
        """`function(prior, key, evidence, first, num_hypotheses)` through `export_cache` (what the traced sampler
        closes over goes into the program's key with the cache's energy identity); `first`: int or tuple of ints
        (passed as int32 arguments, not baked in)."""
        count = int(num_hypotheses)

        def run(prior, key, evidence, first):
            return function(prior, key, evidence, first, count)

        prior = self.prior
        described = {"config": dataclasses.asdict(self.config), "num_hypotheses": count,
                     "target_rows": chunking.default_target_rows(), "energy": self.energy_fn is not None,
                     "prior": [repr(prior.schedule), prior.prediction_type, prior.x0_clip]}
        first = jax.tree.map(np.int32, first)
        return self.export_cache.call(name, run, (prior, key, evidence, first), described)

    def sample_batch(self, key, evidence_batch, num_hypotheses: int, first_frame: int = 0, first_hypothesis: int = 0):
        """`[frames, m, 17, 3]` mm root-relative hypotheses."""
        return self.sample_batch_with_energies(key, evidence_batch, num_hypotheses, first_frame, first_hypothesis)[0]

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


def frames_per_iteration(num_hypotheses: int, chunk_size: int) -> int:
    """Frames vmapped side by side per sequential iteration of `sample_batch` on one device: enough that frames x
    rows of one frame's hypothesis group reach `chunking.default_target_rows()` (at least 1). A vmap over all
    frames would multiply the rows of every step by the frame count (8 frames x 512 hypotheses: 4,096 rows,
    whose activations spill out of a CPU's caches)."""
    rows_per_frame = chunking.plan_chunks(num_hypotheses, chunk_size).rows_per_group
    return max(1, chunking.default_target_rows() // rows_per_frame)


def sampling_mesh(devices=None):
    """A 1-D 'data' mesh of `devices` (default: this process's devices: in a multi-process job each process samples
    its own frames), or None for one device (module docstring)."""
    devices = list(jax.local_devices() if devices is None else devices)
    if len(devices) < 2:
        return None
    return jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def split_over_frames(num_frames: int, num_devices: int) -> bool:
    """Whether a call's frames (True) or its hypotheses (False) are split over the devices."""
    return num_frames % num_devices == 0


def _shard_over_mesh(batch, mesh, prior, keys, evidence_batch, first_hypothesis, num_hypotheses: int):
    """`batch(prior, keys [F, ...], evidence [F, ...], first_hypothesis, m) -> ([F, m, 17, 3], [F, m])` run on
    every device of `mesh` for its share of the frames or, when F does not divide, of the hypotheses."""
    from jax.sharding import PartitionSpec

    num_devices = mesh.devices.size
    replicated, split = PartitionSpec(), PartitionSpec("data")
    if split_over_frames(keys.shape[0], num_devices):
        def per_device(prior, keys, evidence_batch, first):
            return batch(prior, keys, evidence_batch, first, num_hypotheses)

        in_specs, out_specs = (replicated, split, split, replicated), (split, split)
    else:
        per_device_hypotheses = -(-int(num_hypotheses) // num_devices)

        def per_device(prior, keys, evidence_batch, first):
            offset = first + jax.lax.axis_index("data").astype(jnp.int32) * per_device_hypotheses
            return batch(prior, keys, evidence_batch, offset, per_device_hypotheses)

        in_specs = (replicated,) * 4
        out_specs = (PartitionSpec(None, "data"), PartitionSpec(None, "data"))
    sharded = jax.shard_map(per_device, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    poses, energies = sharded(prior, keys, evidence_batch, jnp.asarray(first_hypothesis, jnp.int32))
    return poses[:, :num_hypotheses], energies[:, :num_hypotheses]


def make_sampler(prior, energy_fn=None, config: Optional[SamplerConfig] = None, export_cache=None,
                 devices=None, **options) -> Sampler:
    """A `Sampler` (module docstring). `energy_fn=None` is plain unconditional sampling.

    Args:
      prior: `posediff_jax.prior.Prior`.
      energy_fn: `energy(pose [17, 3] mm, evidence) -> scalar` or None.
      config: a `SamplerConfig` (default: `SamplerConfig()`, the defaults of sampling/config.py);
      export_cache: optional `export_cache.ExportCache` whose identity names `energy_fn` (the CLI's; see there).
      devices: the devices a call is spread over (default: all; `jax.devices()[:1]` keeps it on one).
      **options: SamplerConfig fields overriding `config` (e.g. `num_steps=25, guidance='x0'`).
    """
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        raise PoseDiffError(f"make_sampler: unknown options {unknown} (known: {list(FIELDS)})")
    config = config if config is not None else SamplerConfig()
    if options:
        config = config.replace(**options)
    return Sampler(prior=prior, energy_fn=energy_fn, config=config, export_cache=export_cache,
                   devices=None if devices is None else tuple(devices))
