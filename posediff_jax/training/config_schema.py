"""The training configuration's keys and defaults; every config file starts from `default_config()`.

A config file (`configs/*.py`) defines `get_config(arg=None)` returning an `ml_collections.ConfigDict`.
`load_config("configs/tiny.py:arg", overrides)` imports it, applies `key=value` overrides and checks that every
key exists in `default_config()`: an unknown key (a typo) is an error naming the key.
"""

from __future__ import annotations

from typing import Sequence

import ml_collections

from posediff_jax.config_files import ConfigError, apply_overrides, check_known_keys, load_config_file
from posediff_jax.validation import PoseDiffError

__all__ = ["ConfigError", "apply_overrides", "default_config", "load_config", "validate_config"]


def default_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.multihost = False  # call jax.distributed.initialize() (also when JAX_COORDINATOR_ADDRESS is set)

    config.model = ml_collections.ConfigDict()
    config.model.name = "residual_mlp"  # a registered network (posediff_jax/model/registry.py)
    config.model.width = 512
    config.model.depth = 4
    config.model.time_embedding_dim = 128
    config.model.normalization = "layer_norm"  # 'layer_norm' | 'final' | 'none' (model/score_network.py)

    config.diffusion = ml_collections.ConfigDict()
    config.diffusion.schedule = "cosine"  # 'linear' | 'cosine'
    config.diffusion.prediction_type = "epsilon"  # 'epsilon' | 'x0' | 'v'
    config.diffusion.time_sampling = "continuous"  # 'continuous' | 'discrete' (DDPM grid)
    config.diffusion.num_train_steps = 1000  # grid size for 'discrete'

    config.data = ml_collections.ConfigDict()
    config.data.source = "h36m"  # 'h36m' | 'synthetic' | 'npz' (config.data.poses_file)
    config.data.manual_dir = ""  # folder with VideoPose3D's data_3d_h36m.npz
    config.data.data_dir = ""  # where tfds keeps prepared datasets ('' = tfds default)
    config.data.train_subjects = ("S1", "S5", "S6", "S7", "S8")
    config.data.eval_subjects = ("S9",)
    config.data.stride = 1
    config.data.synthetic_count = 20_000
    config.data.augment = True
    config.data.flip_probability = 0.5
    config.data.max_rotation_degrees = 180.0
    # 'world_vertical': rotate/mirror about each pose's world up as its camera sees it (keeps the camera's
    # elevation); 'camera_y': about the camera's y axis (the old augmentation, removes the elevation).
    config.data.rotation_axis = "world_vertical"
    # > 0: each bone group (skeleton.BONE_GROUPS, left and right together) scaled by exp(sigma * N(0, 1)) per
    # example, other people's proportions than the training subjects' (0 = off).
    config.data.bone_scale_sigma = 0.0
    config.data.poses_file = ""  # source 'npz': a pose file from tools/make_pose_file.py

    config.training = ml_collections.ConfigDict()
    config.training.global_batch_size = 256
    config.training.num_steps = 20_000
    config.training.learning_rate = 1e-3
    config.training.warmup_steps = 500
    config.training.weight_decay = 1e-4
    config.training.grad_clip = 1.0
    config.training.ema_decay = 0.999
    config.training.log_every = 100
    config.training.eval_every = 5_000
    config.training.checkpoint_every = 1_000
    config.training.keep_checkpoints = 3
    # Train steps per compiled call (`lax.scan`); logging, evaluation and checkpoints fall between calls, and a
    # call also ends at each of their periods, so they happen at the same steps whatever this is.
    config.training.steps_per_call = 50
    config.training.async_checkpointing = True
    config.training.progress_bar = True
    # 'bfloat16': the network's products (forward and gradient) with bfloat16 operands and float32 sums, the rest
    # float32 (mixed precision, model/precision.py); 'float32': the backend's own float32 products.
    config.training.matmul_dtype = "float32"

    config.eval = ml_collections.ConfigDict()
    config.eval.num_poses = 4096  # held-out poses for the denoising loss
    config.eval.num_samples = 1024  # unconditional samples for plausibility
    config.eval.sampler_steps = 50
    config.lock()  # config files may change values but not add keys ...
    config.model.unlock()  # ... except the model section, whose keys are the chosen network's fields
    return config


def reference_config(config) -> ml_collections.ConfigDict:
    """`default_config()` with the model section of the network `config.model.name` names (its fields)."""
    from posediff_jax.model.registry import network_fields

    reference = default_config()
    name = config.model.get("name", "residual_mlp") if "model" in config else "residual_mlp"
    try:
        fields = network_fields(name)
    except PoseDiffError as error:
        raise ConfigError(f"config.model.name: {error}") from None
    with reference.unlocked():
        reference.model = ml_collections.ConfigDict({"name": name, **fields})
    return reference


def validate_config(config) -> ml_collections.ConfigDict:
    """Raises `ConfigError` on unknown keys or impossible values; returns the config."""
    check_known_keys(config, reference_config(config))
    from posediff_jax.model.registry import make_network

    try:  # a value the network refuses (e.g. model.normalization) is a config error, before any data is read
        make_network(config.model)
    except PoseDiffError as error:
        raise ConfigError(f"config.model: {error}") from None
    if config.data.source not in ("h36m", "synthetic", "npz"):
        raise ConfigError(f"config.data.source: expected 'h36m', 'synthetic' or 'npz', got {config.data.source!r}")
    if config.training.global_batch_size < 1 or config.training.num_steps < 1:
        raise ConfigError("config.training: global_batch_size and num_steps must be >= 1")
    if config.training.steps_per_call < 1:
        raise ConfigError(f"config.training.steps_per_call: must be >= 1, got {config.training.steps_per_call}")
    from posediff_jax.sampling.config import MATMUL_DTYPES

    if config.training.matmul_dtype not in MATMUL_DTYPES:
        raise ConfigError(f"config.training.matmul_dtype: expected one of {MATMUL_DTYPES}, got "
                          f"{config.training.matmul_dtype!r}")
    if not 0.0 <= config.data.bone_scale_sigma < 1.0:
        raise ConfigError(f"config.data.bone_scale_sigma: must be in [0, 1) (0 = off), got {config.data.bone_scale_sigma}")
    _check_values(config)
    return config


# The smallest value of each network setting that builds a working network (settings of other registered networks
# are checked by the network itself): a width or time embedding of 0 fails deep inside Flax, a negative depth
# silently means 0.
_MODEL_MINIMUMS = {"width": 1, "depth": 0, "time_embedding_dim": 2}
_SEED_LIMIT = 2**32  # jax.random.PRNGKey wraps larger seeds (2**32 is seed 0); NumPy refuses negative ones


def _check(name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config.{name}: must be {expected}, got {value!r}")


def _is_number(value) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_values(config) -> None:
    """Refuses values that would crash training with a traceback or, worse, train silently on something else
    than asked (a clip of 0 zeroes every gradient, an unknown rotation axis fell back to 'world_vertical')."""
    for key, minimum in _MODEL_MINIMUMS.items():
        if key in config.model:
            value = config.model[key]
            _check(f"model.{key}", value, isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
                   f"an integer >= {minimum}")
    if "num_joints" in config.model:
        from posediff_jax.skeleton import NUM_JOINTS

        _check("model.num_joints", config.model.num_joints, config.model.num_joints == NUM_JOINTS,
               f"{NUM_JOINTS} (the skeleton's joints)")
    _check("seed", config.seed, 0 <= config.seed < _SEED_LIMIT, f"in [0, {_SEED_LIMIT})")

    from posediff_jax.diffusion.losses import make_denoising_loss
    from posediff_jax.diffusion.schedules import VPSchedule

    diffusion = config.diffusion
    _check("diffusion.num_train_steps", diffusion.num_train_steps, diffusion.num_train_steps >= 1, ">= 1")
    try:  # the names, before any data is read or anything written
        make_denoising_loss(VPSchedule(diffusion.schedule), diffusion.prediction_type, diffusion.time_sampling,
                            diffusion.num_train_steps)
    except PoseDiffError as error:
        raise ConfigError(f"config.diffusion: {error}") from None

    from posediff_jax.data.augment import ROTATION_AXES

    data = config.data
    _check("data.stride", data.stride,
           isinstance(data.stride, int) and not isinstance(data.stride, bool) and data.stride >= 1,
           "a whole number >= 1 (True was read as stride 1)")
    if data.source == "synthetic":  # 10% are held out: at least one pose each side
        _check("data.synthetic_count", data.synthetic_count, data.synthetic_count >= 10, ">= 10")
    _check("data.flip_probability", data.flip_probability,
           _is_number(data.flip_probability) and 0.0 <= data.flip_probability <= 1.0, "in [0, 1]")
    _check("data.max_rotation_degrees", data.max_rotation_degrees,
           _is_number(data.max_rotation_degrees) and 0.0 <= data.max_rotation_degrees <= 180.0,
           "in [0, 180] (angles are drawn from [-max, max])")
    _check("data.rotation_axis", data.rotation_axis, data.rotation_axis in ROTATION_AXES, f"one of {ROTATION_AXES}")

    training = config.training
    _check("training.learning_rate", training.learning_rate,
           _is_number(training.learning_rate) and training.learning_rate > 0, "> 0")
    _check("training.warmup_steps", training.warmup_steps, training.warmup_steps >= 0, ">= 0 (0 = no warm-up)")
    _check("training.weight_decay", training.weight_decay,
           _is_number(training.weight_decay) and training.weight_decay >= 0, ">= 0")
    # 0 would scale every gradient to zero (nothing is learnt); a large value such as 1e9 turns clipping off.
    _check("training.grad_clip", training.grad_clip, _is_number(training.grad_clip) and training.grad_clip > 0,
           "> 0 (the global gradient norm is clipped to it; a large value such as 1e9 turns clipping off)")
    _check("training.ema_decay", training.ema_decay,
           _is_number(training.ema_decay) and 0.0 <= training.ema_decay < 1.0, "in [0, 1)")
    # Periods are >= 1 everywhere (the loop's `step % every` and `steps_until_next_event` alike); a period longer
    # than num_steps means only at the end (the last step always logs, evaluates and saves).
    for key in ("log_every", "eval_every"):
        _check(f"training.{key}", training[key], training[key] >= 1,
               ">= 1 (a value above num_steps: only at the last step)")
    _check("training.checkpoint_every", training.checkpoint_every, training.checkpoint_every >= 1,
           ">= 1 (the last step is always saved)")
    # 0 would let Orbax delete every checkpoint, the one saved on SIGINT included.
    _check("training.keep_checkpoints", training.keep_checkpoints, training.keep_checkpoints >= 1, ">= 1")

    for key in ("num_poses", "num_samples", "sampler_steps"):  # 0 held-out poses: a NaN eval_loss
        _check(f"eval.{key}", config.eval[key], config.eval[key] >= 1, ">= 1")


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """`path/to/config.py[:arg]` -> validated training ConfigDict with overrides applied."""
    return validate_config(load_config_file(spec, overrides))
