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
    return config


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """`path/to/config.py[:arg]` -> validated training ConfigDict with overrides applied."""
    return validate_config(load_config_file(spec, overrides))
