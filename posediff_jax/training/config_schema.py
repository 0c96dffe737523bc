"""The training configuration's keys and defaults; every config file starts from `default_config()`.

A config file (`configs/*.py`) defines `get_config(arg=None)` returning an `ml_collections.ConfigDict`.
`load_config("configs/tiny.py:arg", overrides)` imports it, applies `key=value` overrides and checks that every
key exists in `default_config()`: an unknown key (a typo) is an error naming the key.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
from typing import Sequence

import ml_collections

from posediff_jax.validation import PoseDiffError


class ConfigError(PoseDiffError):
    """A config file or override is invalid."""


def default_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.multihost = False  # call jax.distributed.initialize() (also when JAX_COORDINATOR_ADDRESS is set)

    config.model = ml_collections.ConfigDict()
    config.model.width = 512
    config.model.depth = 4
    config.model.time_embedding_dim = 128

    config.diffusion = ml_collections.ConfigDict()
    config.diffusion.schedule = "cosine"  # 'linear' | 'cosine'
    config.diffusion.prediction_type = "epsilon"  # 'epsilon' | 'x0' | 'v'
    config.diffusion.time_sampling = "continuous"  # 'continuous' | 'discrete' (DDPM grid)
    config.diffusion.num_train_steps = 1000  # grid size for 'discrete'

    config.data = ml_collections.ConfigDict()
    config.data.source = "h36m"  # 'h36m' | 'synthetic'
    config.data.manual_dir = ""  # folder with VideoPose3D's data_3d_h36m.npz
    config.data.data_dir = ""  # where tfds keeps prepared datasets ('' = tfds default)
    config.data.train_subjects = ("S1", "S5", "S6", "S7", "S8")
    config.data.eval_subjects = ("S9",)
    config.data.stride = 1
    config.data.synthetic_count = 20_000
    config.data.augment = True
    config.data.flip_probability = 0.5
    config.data.max_rotation_degrees = 180.0

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
    config.training.async_checkpointing = True
    config.training.progress_bar = True

    config.eval = ml_collections.ConfigDict()
    config.eval.num_poses = 4096  # held-out poses for the denoising loss
    config.eval.num_samples = 1024  # unconditional samples for plausibility
    config.eval.sampler_steps = 50
    config.lock()  # config files may change values but not add keys
    return config


def _check_keys(config, reference, prefix: str = "") -> None:
    for key in config.keys():
        name = f"{prefix}{key}"
        if key not in reference:
            raise ConfigError(f"config: unknown key '{name}' (known here: {sorted(reference.keys())})")
        if isinstance(config[key], ml_collections.ConfigDict):
            if not isinstance(reference[key], ml_collections.ConfigDict):
                raise ConfigError(f"config: '{name}' must be a value, not a group")
            _check_keys(config[key], reference[key], name + ".")


def validate_config(config) -> ml_collections.ConfigDict:
    """Raises `ConfigError` on unknown keys or impossible values; returns the config."""
    _check_keys(config, default_config())
    if config.data.source not in ("h36m", "synthetic"):
        raise ConfigError(f"config.data.source: expected 'h36m' or 'synthetic', got {config.data.source!r}")
    if config.training.global_batch_size < 1 or config.training.num_steps < 1:
        raise ConfigError("config.training: global_batch_size and num_steps must be >= 1")
    return config


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string


def apply_overrides(config, overrides: Sequence[str]):
    """Applies `key.path=value` overrides (values as Python literals); unknown keys are errors."""
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r}: expected key=value")
        key, text = override.split("=", 1)
        key = key.removeprefix("--config.").removeprefix("config.")
        parts = key.split(".")
        node = config
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
                raise ConfigError(f"override {override!r}: unknown group '{part}'")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"override {override!r}: unknown key '{key}'")
        value = _parse_value(text)
        current = node[parts[-1]]
        if isinstance(current, tuple) and isinstance(value, (list, str)):
            value = tuple(value) if isinstance(value, list) else (value,)
        if isinstance(current, float) and isinstance(value, int):
            value = float(value)
        try:
            node[parts[-1]] = value
        except (TypeError, ValueError) as error:
            raise ConfigError(f"override {override!r}: {error}") from None
    return config


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """`path/to/config.py[:arg]` -> validated ConfigDict with overrides applied."""
    path_text, _, argument = str(spec).partition(":")
    path = pathlib.Path(path_text)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    module_spec = importlib.util.spec_from_file_location(f"posediff_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except (AttributeError, KeyError) as error:  # a config file that sets an unknown key on the locked default
        raise ConfigError(f"config file {path}: {error}") from None
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config file {path}: defines no get_config()")
    try:
        config = module.get_config(argument) if argument else module.get_config()
    except (AttributeError, KeyError, TypeError) as error:
        raise ConfigError(f"config file {path}: {error}") from None
    return validate_config(apply_overrides(config, overrides))
