"""`train_and_evaluate(config, workdir)`: data-parallel training of the unconditional pose prior.

The state is replicated over a 'data' mesh and the training poses are resident on every device: one `jax.jit`
call runs `steps_per_call` steps under `lax.scan`, each gathering its examples by index and augmenting them on
the device. Step k's examples and draws depend only on k, so a resumed run (Orbax checkpoints, also on
SIGTERM/SIGINT) reaches the same parameters as an uninterrupted one whatever the device or process count.
"""

import contextlib
import json
import pathlib
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from posediff_jax.data.augment import check_up_vectors, mirror_planes
from posediff_jax.data.device_augment import augment_poses_on_device
from posediff_jax.data.pipeline import PoseBatchIterator, cached_normalization_stats, load_pose_data
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.diffusion.losses import make_denoising_loss
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.io_utils import make_writable_folder
from posediff_jax.model import make_apply_fn
from posediff_jax.model.precision import matmul_context
from posediff_jax.plausibility import plausibility_metrics
from posediff_jax.prior import format as prior_format
from posediff_jax.training import checkpoint, resume_check, sharding
from posediff_jax.training.config_schema import validate_config
from posediff_jax.training.train_state import (TrainState, create_train_state, make_network, make_optimizer,
                                               update_ema)
from posediff_jax.validation import PoseDiffError


def load_pose_splits(data_config, seed: int):
    """(train poses `[N, 17, 3]`, held-out poses `[M, 17, 3]`, train up vectors `[N, 3]` or None) in mm.

    Synthetic data holds out its last 10% and has no up vectors.
    """
    if data_config.source == "synthetic":
        poses = synthetic_poses(data_config.synthetic_count, seed=seed)
        split = int(0.9 * len(poses))
        return poses[:split], poses[split:], None
    data = load_pose_data(data_config)
    return data.train, data.held_out, data.train_up


def make_train_step(network, optimizer, loss_fn, normalization, ema_decay: float, matmul_dtype: str = "float32"):
    """`train_step(state, batch, key) -> (state, loss)`; `matmul_dtype` as `model/precision.py`."""
    apply_fn = make_apply_fn(network)

    def train_step(state: TrainState, batch, key):
        x0 = normalization.normalize(batch["pose"])
        with matmul_context(matmul_dtype):
            loss, grads = jax.value_and_grad(loss_fn)(state.params, apply_fn, x0, key)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = jax.tree.map(lambda p, u: p + u, state.params, updates)
        # EMA warm-up: early on the average follows the parameters closely.
        decay = jnp.minimum(ema_decay, (1.0 + state.step) / (10.0 + state.step))
        ema_params = update_ema(state.ema_params, params, decay)
        return TrainState(step=state.step + 1, params=params, ema_params=ema_params, opt_state=opt_state), loss

    return train_step


def jit_train_steps(network, optimizer, loss_fn, normalization, ema_decay: float, data_config, mesh,
                    matmul_dtype: str = "float32"):
    """Compiled `train_steps(state, poses, up, indices, train_key, augment_key) -> (state, losses [steps])`.

    Scans over `indices` `[steps, global_batch]` (batch axis sharded) into the replicated, resident `poses` / `up`
    (state donated); step k augments with `fold_in(augment_key, k)` and draws its noise from `fold_in(train_key, k)`.
    """
    train_step = make_train_step(network, optimizer, loss_fn, normalization, ema_decay, matmul_dtype)
    batch_sharding, replicated = sharding.batch_sharded(mesh), sharding.replicated(mesh)

    def train_steps(state, poses, up, indices, train_key, augment_key):
        def one_step(state, indices_of_step):
            # Each device gathers its slice of the batch from its resident copy (no collective).
            batch_poses = poses.at[indices_of_step].get(out_sharding=batch_sharding)
            if data_config.augment:
                batch_up = up.at[indices_of_step].get(out_sharding=batch_sharding)
                batch_poses = augment_poses_on_device(
                    batch_poses, batch_up, jax.random.fold_in(augment_key, state.step),
                    flip_probability=data_config.flip_probability,
                    max_rotation_degrees=data_config.max_rotation_degrees, rotation_axis=data_config.rotation_axis,
                    bone_scale_sigma=data_config.bone_scale_sigma)
            return train_step(state, {"pose": batch_poses}, jax.random.fold_in(train_key, state.step))

        return jax.lax.scan(one_step, state, indices)

    in_shardings = (replicated, replicated, replicated, sharding.step_batch_sharded(mesh), replicated, replicated)
    return jax.jit(train_steps, in_shardings=in_shardings, out_shardings=(replicated, replicated), donate_argnums=0)


def step_indices(iterator: PoseBatchIterator, first_step: int, count: int, step_sharding) -> jax.Array:
    """The examples of `count` steps from `first_step`: a global `[count, global_batch]` int32 array."""
    local = np.stack([iterator.indices_at(step) for step in range(first_step, first_step + count)])
    return jax.make_array_from_process_local_data(step_sharding, local.astype(np.int32))


def device_resident(array: np.ndarray, replicated_sharding) -> jax.Array:
    """A host array replicated on every device of every process (each process holds the same array)."""
    array = np.ascontiguousarray(array)
    return jax.make_array_from_callback(array.shape, replicated_sharding, lambda index: array[index])


def training_up_vectors(train_up, count: int) -> np.ndarray:
    """Checked unit up vectors `[count, 3]` float32 (the camera's -y where the data has none)."""
    up = check_up_vectors(train_up, count)
    mirror_planes(up)
    return up.astype(np.float32)


def steps_until_next_event(step: int, end_step: int, steps_per_call: int, every: tuple[int, ...]) -> int:
    """Steps of the next call: at most `steps_per_call`, stopping at `end_step` and each period of `every` (>= 1)."""
    count = min(steps_per_call, end_step - step)
    for period in every:
        count = min(count, period - step % period)
    return max(count, 1)


# Bones average ~250 mm on Human3.6M; data read in the wrong unit is off by 1000x.
PLAUSIBLE_MEAN_BONE_MM = (50.0, 1_000.0)


def check_pose_units(name: str, poses) -> None:
    """Raises `PoseDiffError` unless the poses' median mean bone length is a person's in millimetres."""
    from posediff_jax import skeleton
    poses = np.asarray(poses)
    if len(poses) == 0:
        raise PoseDiffError(f"{name}: no poses (check config.data: subjects, stride, the data files)")
    sample = poses[:: max(1, len(poses) // 10_000)].astype(np.float64)
    mean_bone = float(np.nanmedian(np.mean(skeleton.bone_lengths(sample), axis=-1)))
    low, high = PLAUSIBLE_MEAN_BONE_MM
    if not low <= mean_bone <= high:  # False for NaN too
        hint = ("is the data file in millimetres? data_3d_h36m.npz (and the pose files made from it) must hold "
                "metres" if mean_bone > high else "is the data in another unit than metres?")
        raise PoseDiffError(f"{name}: the mean bone length is {mean_bone:.4g} mm, not a person's "
                            f"({low:g}-{high:g} mm): {hint}")


def write_metrics(workdir, step: int, metrics: dict) -> None:
    """Appends a `{"step", "time", **metrics}` line to `workdir/metrics.jsonl`; only process 0 writes."""
    if jax.process_index() == 0:
        record = {"step": int(step), "time": time.time(), **{name: float(value) for name, value in metrics.items()}}
        with open(pathlib.Path(workdir) / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")


class StopRequest:
    """Turns SIGTERM/SIGINT into a flag the loop checks (`signum`, 0 until one comes): it saves a checkpoint and
    returns cleanly."""

    def __init__(self):
        self.signum, self._previous = 0, {}

    def __enter__(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def local_copy(tree):
    """Host numpy copies of replicated (possibly multi-process, not fully addressable) arrays."""
    return jax.tree.map(lambda leaf: np.asarray(leaf.addressable_data(0)) if isinstance(leaf, jax.Array)
                        else np.asarray(leaf), tree)


def say(message: str) -> None:
    """A progress line on process 0 (through tqdm, so that it does not break a progress bar)."""
    if jax.process_index() == 0:
        tqdm.tqdm.write(message)


def evaluate_prior(prior, held_out_poses, reference_poses, loss_fn, config, key) -> dict:
    """Held-out denoising loss and plausibility (vs `reference_poses`) of unconditional DDPM samples."""
    from posediff_jax.sampling import make_sampler, sampler_config_for
    held_out = held_out_poses[: config.eval.num_poses]
    x0 = prior.normalization.normalize(jnp.asarray(held_out))
    eval_loss = float(jax.jit(lambda params, x, k: loss_fn(params, prior.apply_fn, x, k))(prior.params, x0, key))
    sampler = make_sampler(prior, None, sampler_config_for(None, num_steps=config.eval.sampler_steps,
                                                           chunk_size=1024))
    samples = np.asarray(sampler.sample(jax.random.fold_in(key, 1), None, config.eval.num_samples))
    return {"eval_loss": eval_loss, **plausibility_metrics(samples, reference_poses)}


def train_and_evaluate(config, workdir, stop_after_steps: int | None = None) -> dict:
    """Trains (or resumes) the prior in `workdir`; returns the last logged metrics, with `stopped_by` naming the
    signal that stopped the run early (after its checkpoint) if one did.

    `stop_after_steps` ends this invocation early with a checkpoint, as a pre-emption would. Refused in one line
    (`PoseDiffError`): a workdir another trainer holds (`checkpoint.workdir_lock`) or an evaluation's results
    folder; a full disk ends the run in one line with the finished checkpoints intact.
    """
    validate_config(config)
    sharding.maybe_initialize_distributed(config.multihost)
    workdir = pathlib.Path(workdir)
    make_writable_folder(workdir, "--workdir")  # a file, or not creatable: one line before any data is read
    resume_check.check_not_evaluation_results(workdir)
    with checkpoint.workdir_lock(workdir), checkpoint.full_disk_as_error(workdir):
        return _train(config, workdir, stop_after_steps)


def _train(config, workdir: pathlib.Path, stop_after_steps: int | None) -> dict:
    training = config.training
    # An existing run: refuse a different model/diffusion before reading data or writing anything.
    stored = resume_check.existing_description(workdir)
    if stored is not None:
        resume_check.check_same_prior(workdir, stored, config)

    train_poses, held_out_poses, train_up = load_pose_splits(config.data, config.seed)
    check_pose_units("training poses", train_poses)
    check_pose_units("held-out poses", held_out_poses)
    reference_poses = train_poses[:: max(1, len(train_poses) // 20_000)]
    if stored is None:
        # Computed once per workdir (cached there, never in the user's data folder) and stored in prior.json.
        normalization = cached_normalization_stats(train_poses, workdir)
    else:
        normalization = cached_normalization_stats(train_poses)  # recomputed, nothing written before the check
        resume_check.check_same_normalization(workdir, stored, normalization)
    description = prior_format.prior_description(config, normalization)

    wrote_description = stored is not None

    def write_description_once():
        """prior.json, once the workdir holds this model's weights: a failed start does not lock the workdir."""
        nonlocal wrote_description
        if not wrote_description and jax.process_index() == 0:
            prior_format.write_prior_description(workdir, description)
        wrote_description = True

    loss_fn = make_denoising_loss(VPSchedule(config.diffusion.schedule), config.diffusion.prediction_type,
                                  config.diffusion.time_sampling, config.diffusion.num_train_steps)
    network = make_network(config.model)
    optimizer = make_optimizer(training)
    mesh = sharding.make_data_mesh()
    replicated = sharding.replicated(mesh)
    sharding.check_global_batch_size(training.global_batch_size)

    base_key = jax.random.PRNGKey(config.seed)
    init_key, train_key, eval_key = jax.random.split(base_key, 3)
    create = jax.jit(lambda key: create_train_state(network, optimizer, key), out_shardings=replicated)
    abstract_state = jax.eval_shape(lambda key: create_train_state(network, optimizer, key), init_key)
    abstract_state = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=replicated),
                                  abstract_state)
    manager = checkpoint.make_checkpoint_manager(workdir, training.checkpoint_every, training.keep_checkpoints,
                                                 training.async_checkpointing)
    state = checkpoint.restore_latest(manager, abstract_state)
    if state is None:
        state = create(init_key)
    else:
        write_description_once()  # the checkpoints fit this model (a workdir that had lost its prior.json)
    start_step = int(local_copy(state.step))
    if start_step >= training.num_steps:
        say(f"{workdir}: already finished at step {start_step} (config: {training.num_steps} steps); "
            "raise --config.training.num_steps to train longer")
    elif start_step > 0:
        say(f"{workdir}: resuming from step {start_step} of {training.num_steps}")

    iterator = PoseBatchIterator(train_poses, training.global_batch_size, seed=config.seed, augment=False)
    resident_poses = device_resident(np.asarray(train_poses, np.float32), replicated)
    resident_up = device_resident(training_up_vectors(train_up, len(train_poses)), replicated)
    augment_key = jax.random.fold_in(base_key, 3)  # independent of the three keys split above
    train_steps = jit_train_steps(network, optimizer, loss_fn, normalization, training.ema_decay, config.data, mesh,
                                  training.matmul_dtype)
    last_metrics: dict = {"step": start_step}
    end_step = (training.num_steps if stop_after_steps is None
                else min(training.num_steps, start_step + stop_after_steps))
    events = (training.log_every, training.eval_every, training.checkpoint_every)

    progress = tqdm.tqdm(total=training.num_steps, initial=start_step, desc="train", unit="step",
                         disable=not training.progress_bar or jax.process_index() != 0, dynamic_ncols=True)
    losses, window_start, window_steps = [], time.perf_counter(), 0
    with StopRequest() as stop, checkpoint.quiet_failed_saves(), manager:  # closed, failed or not
        step = start_step
        while step < end_step and not stop.signum:
            count = steps_until_next_event(step, end_step, training.steps_per_call, events)
            indices = step_indices(iterator, step, count, sharding.step_batch_sharded(mesh))
            state, step_losses = train_steps(state, resident_poses, resident_up, indices, train_key, augment_key)
            step += count
            losses.append(step_losses)
            window_steps += count
            progress.update(count)
            write_description_once()  # the first call ran: the model builds and trains
            checkpoint.save_state(manager, step, state, num_steps=training.num_steps)
            if step % training.log_every == 0 or step == end_step:
                mean_loss = float(np.mean(np.concatenate([np.ravel(x) for x in local_copy(losses)])))  # waits
                elapsed = time.perf_counter() - window_start
                last_metrics = {"loss": mean_loss, "steps_per_second": window_steps / elapsed,
                                "examples_per_second": window_steps * training.global_batch_size / elapsed}
                write_metrics(workdir, step, last_metrics)
                progress.set_postfix(loss=f"{mean_loss:.4f}", ex_per_s=f"{last_metrics['examples_per_second']:.0f}")
                losses, window_start, window_steps = [], time.perf_counter(), 0
            if step % training.eval_every == 0 or step == training.num_steps:
                prior = prior_format.prior_from_description(description, local_copy(state.ema_params))
                evaluation = evaluate_prior(prior, held_out_poses, reference_poses, loss_fn, config, eval_key)
                write_metrics(workdir, step, evaluation)
                last_metrics.update(evaluation)
                progress.write(f"step {step}: " + ", ".join(f"{k}={v:.3f}" for k, v in evaluation.items()))
        manager.wait_until_finished()
        if manager.latest_step() != step:
            write_description_once()
            checkpoint.save_state(manager, step, state, force=True, num_steps=training.num_steps)
        manager.wait_until_finished()
    progress.close()
    if step >= training.num_steps and jax.process_index() == 0:
        prior_format.export_prior(workdir / checkpoint.EXPORT_DIR, local_copy(state.ema_params), description)
    stopped_by = {"stopped_by": signal.Signals(stop.signum).name} if stop.signum else {}
    return {**last_metrics, "step": step, "stopped_early": step < training.num_steps, **stopped_by}
