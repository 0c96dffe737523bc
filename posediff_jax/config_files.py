"""ml_collections config files: `path/to/config.py[:arg]` plus `key.path=value` overrides, keys checked.

A config file defines `get_config(arg=None)` returning an `ml_collections.ConfigDict`, normally built from a
locked default (`training.config_schema.default_config`, `evaluation.config_schema.default_eval_config`), so
setting a key the default lacks is an error that names the key. Overrides come from the command line as
`--config.training.num_steps=1000` (or `--set training.num_steps=1000`), values read as Python literals.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
from typing import Callable, Optional, Sequence

import ml_collections

from posediff_jax.validation import PoseDiffError


class ConfigError(PoseDiffError):
    """A config file or override is invalid."""


def check_known_keys(config, reference, prefix: str = "") -> None:
    """Raises `ConfigError` for any key of `config` that `reference` lacks (recursively)."""
    for key in config.keys():
        name = f"{prefix}{key}"
        if key not in reference:
            raise ConfigError(f"config: unknown key '{name}' (known here: {sorted(reference.keys())})")
        if isinstance(config[key], ml_collections.ConfigDict):
            if not isinstance(reference[key], ml_collections.ConfigDict):
                raise ConfigError(f"config: '{name}' must be a value, not a group")
            check_known_keys(config[key], reference[key], name + ".")


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string


def apply_overrides(config, overrides: Sequence[str]):
    """Applies `key.path=value` overrides; unknown keys and wrongly typed values are `ConfigError`s."""
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r}: expected key=value")
        key, text = override.split("=", 1)
        key = key.strip().removeprefix("--config.").removeprefix("config.")
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
        if isinstance(current, tuple) and isinstance(value, (list, str, int, float)):
            value = tuple(value) if isinstance(value, list) else (value,)
        if isinstance(current, float) and isinstance(value, int):
            value = float(value)
        try:
            node[parts[-1]] = value
        except (TypeError, ValueError) as error:
            raise ConfigError(f"override {override!r}: {error}") from None
    return config


def load_config_file(spec: str, overrides: Sequence[str] = (),
                     reference: Optional[Callable[[], ml_collections.ConfigDict]] = None):
    """Imports `path.py[:arg]`, calls `get_config([arg])`, applies overrides, checks keys against `reference()`."""
    path_text, _, argument = str(spec).partition(":")
    path = pathlib.Path(path_text)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    module_spec = importlib.util.spec_from_file_location(f"posediff_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
        if not hasattr(module, "get_config"):
            raise ConfigError(f"config file {path}: defines no get_config()")
        config = module.get_config(argument) if argument else module.get_config()
    except (AttributeError, KeyError, TypeError) as error:  # e.g. an unknown key set on the locked default
        raise ConfigError(f"config file {path}: {error}") from None
    config = apply_overrides(config, overrides)
    if reference is not None:
        check_known_keys(config, reference())
    return config
