"""ml_collections config files: `path/to/config.py[:arg]` plus `key.path=value` overrides, keys checked.

A config file's `get_config(arg=None)` builds on a locked default, so an unknown key is an error naming it.
Override values are Python literals, except that a string setting takes the text as given (`manual_dir=2024`)
and a tuple setting bare comma-separated words (`data.subjects=S9,S11`).
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
    """Raises `ConfigError` for a key of `config` that `reference` lacks (recursively), and for a group or top-level
    value of `reference` that `config` lacks (values inside a group may be missing: the model section's)."""
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"config{' ' + prefix.rstrip('.') if prefix else ''}: expected an ml_collections "
                          f"ConfigDict, got {type(config).__name__}")
    for key in config.keys():
        name = f"{prefix}{key}"
        if key not in reference:
            raise ConfigError(f"config: unknown key '{name}' (known here: {sorted(reference.keys())})")
        if isinstance(config[key], ml_collections.ConfigDict):
            if not isinstance(reference[key], ml_collections.ConfigDict):
                raise ConfigError(f"config: '{name}' must be a value, not a group")
            check_known_keys(config[key], reference[key], name + ".")
        elif isinstance(reference[key], ml_collections.ConfigDict):
            raise ConfigError(f"config: '{name}' must be a group (a ConfigDict), not {type(config[key]).__name__}")
    missing = [f"{prefix}{key}" for key in reference.keys() if key not in config
               and (not prefix or isinstance(reference[key], ml_collections.ConfigDict))]
    if missing:
        raise ConfigError(f"config: missing {', '.join(repr(name) for name in missing)} (build the config from the "
                          f"default, e.g. default_config() or default_eval_config())")


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text  # a bare string


def _parse_for(current, text: str):
    """`text` read for a setting now `current`: a string setting keeps non-string-literal text (the folder
    `2024`), a tuple setting reads non-literal text (`(S9,)`, `S9,S11`) as comma-separated literals or words."""
    value = _parse_value(text)
    if isinstance(current, str) and not isinstance(value, str):
        return text.strip()
    if isinstance(current, tuple) and value is text:
        inner = text.strip()
        if len(inner) >= 2 and (inner[0], inner[-1]) in (("(", ")"), ("[", "]")):
            inner = inner[1:-1]
        return tuple(_parse_value(item.strip()) for item in inner.split(",") if item.strip())
    return value


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
        current = node[parts[-1]]
        value = _parse_for(current, text)
        if isinstance(current, tuple) and isinstance(value, (list, str, int, float)):
            value = tuple(value) if isinstance(value, list) else (value,)
        if isinstance(current, float) and isinstance(value, int):
            value = float(value)
        try:
            node[parts[-1]] = value
        except (TypeError, ValueError) as error:
            if current is not None and not isinstance(current, ml_collections.ConfigDict):
                raise ConfigError(f"override {override!r}: '{key}' takes {type(current).__name__} values (now "
                                  f"{current!r}), got {text.strip()!r}") from None
            raise ConfigError(f"override {override!r}: {error}") from None
    return config


def load_config_file(spec: str, overrides: Sequence[str] = (),
                     reference: Optional[Callable[[], ml_collections.ConfigDict]] = None):
    """Imports `path.py[:arg]`, calls `get_config([arg])`, applies overrides, checks keys against `reference()`."""
    path_text, _, argument = str(spec).partition(":")
    path = pathlib.Path(path_text)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    if path.suffix != ".py":
        raise ConfigError(f"config file {path}: expected a Python file (.py) defining get_config()")
    module_spec = importlib.util.spec_from_file_location(f"posediff_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
        if not hasattr(module, "get_config"):
            raise ConfigError(f"config file {path}: defines no get_config()")
        config = module.get_config(argument) if argument else module.get_config()
    except PoseDiffError:  # the config's own clear error (e.g. configs/tiny.py's unknown argument)
        raise
    except SyntaxError as error:
        raise ConfigError(f"config file {path}: line {error.lineno}: syntax error ({error.msg})") from None
    except Exception as error:  # noqa: BLE001  user code's error: one line naming the file, not a traceback
        raise ConfigError(f"config file {path}{':' + argument if argument else ''}: "
                          f"{type(error).__name__}: {error}") from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"config file {path}: get_config() returned {type(config).__name__}, expected an "
                          f"ml_collections.ConfigDict (built from the default config)")
    config = apply_overrides(config, overrides)
    if reference is not None:
        try:
            check_known_keys(config, reference())
        except ConfigError as error:
            raise ConfigError(f"config file {path}: {error}") from None
    return config
