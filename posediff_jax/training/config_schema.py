"""The training configuration's keys and defaults; every config file starts from `default_config()`.

`load_config("configs/tiny.py:arg", overrides)` runs the file's `get_config(arg)`, applies `key=value` overrides
and refuses a key `default_config()` lacks.
"""

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
    # 'world_vertical': about each pose's world up (keeps the camera's elevation); 'camera_y': the camera's y axis.
    config.data.rotation_axis = "world_vertical"
    # > 0: each bone group (skeleton.BONE_GROUPS) scaled by exp(sigma * N(0, 1)) per example (0 = off).
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
    # Train steps per compiled call (`lax.scan`); calls end at every logging, evaluation and checkpoint step.
    config.training.steps_per_call = 50
    config.training.async_checkpointing = True
    config.training.progress_bar = True
    # 'bfloat16': the network's products with bfloat16 operands and float32 sums (model/precision.py).
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
    from posediff_jax.sampling.config import MATMUL_DTYPES
    if config.training.matmul_dtype not in MATMUL_DTYPES:
        raise ConfigError(f"config.training.matmul_dtype: expected one of {MATMUL_DTYPES}, got "
                          f"{config.training.matmul_dtype!r}")
    _check_values(config)
    return config


# The smallest working value of each residual-MLP setting (a width of 0 fails inside Flax, a negative depth means 0).
_MODEL_MINIMUMS = {"width": 1, "depth": 0, "time_embedding_dim": 2}
_SEED_LIMIT = 2**32  # jax.random.PRNGKey wraps larger seeds (2**32 is seed 0); NumPy refuses negative ones


def _check(name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config.{name}: must be {expected}, got {value!r}")


def _is_number(value) -> bool:
    import math
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# (section.key, test, what it must be) of the data, training and eval sections. Periods are >= 1 (the loop's
# `step % every`); the last step always logs, evaluates and saves. 0 held-out poses would give a NaN eval_loss.
_RULES = (
    ("data.stride", lambda v: _is_whole(v) and v >= 1, "a whole number >= 1 (not a bool)"),
    ("data.flip_probability", lambda v: _is_number(v) and 0.0 <= v <= 1.0, "in [0, 1]"),
    ("data.max_rotation_degrees", lambda v: _is_number(v) and 0.0 <= v <= 180.0,
     "in [0, 180] (angles are drawn from [-max, max])"),
    ("data.bone_scale_sigma", lambda v: 0.0 <= v < 1.0, "in [0, 1) (0 = off)"),
    *((name, lambda v: v >= 1, ">= 1") for name in ("training.steps_per_call", "training.keep_checkpoints",
                                                     "eval.num_poses", "eval.num_samples", "eval.sampler_steps")),
    ("training.learning_rate", lambda v: _is_number(v) and v > 0, "> 0"),
    ("training.warmup_steps", lambda v: v >= 0, ">= 0 (0 = no warm-up)"),
    ("training.weight_decay", lambda v: _is_number(v) and v >= 0, ">= 0"),
    ("training.grad_clip", lambda v: _is_number(v) and v > 0,
     "> 0 (the global gradient norm is clipped to it; a large value such as 1e9 turns clipping off)"),
    ("training.ema_decay", lambda v: _is_number(v) and 0.0 <= v < 1.0, "in [0, 1)"),
    ("training.log_every", lambda v: v >= 1, ">= 1 (a value above num_steps: only at the last step)"),
    ("training.eval_every", lambda v: v >= 1, ">= 1 (a value above num_steps: only at the last step)"),
    ("training.checkpoint_every", lambda v: v >= 1, ">= 1 (the last step is always saved)"),
)


def _check_values(config) -> None:
    """Refuses values that would crash training or silently train something else (a clip of 0)."""
    for key, minimum in _MODEL_MINIMUMS.items():
        if key in config.model:
            value = config.model[key]
            _check(f"model.{key}", value, _is_whole(value) and value >= minimum, f"an integer >= {minimum}")
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
    for name, test, expected in _RULES:
        section, key = name.split(".")
        _check(name, config[section][key], test(config[section][key]), expected)
    if config.data.source == "synthetic":  # 10% are held out: at least one pose each side
        _check("data.synthetic_count", config.data.synthetic_count, config.data.synthetic_count >= 10, ">= 10")
    _check("data.rotation_axis", config.data.rotation_axis, config.data.rotation_axis in ROTATION_AXES,
           f"one of {ROTATION_AXES}")


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """`path/to/config.py[:arg]` -> validated training ConfigDict with overrides applied."""
    return validate_config(load_config_file(spec, overrides))
