"""Evaluators by name (big_vision style): `config.evaluator` picks what `posediff evaluate` runs.

    @register_evaluator("guided_best_of_m")
    def evaluate(config, prior=None, checkpoint=None, workdir=None, progress=True, log=print) -> dict

Every evaluator reads its settings from the config (the sampler from `config.sampler`, the one sampler surface),
writes `results.json` and `results.md` in its workdir and returns `{'summary', 'markdown', 'paths', ...}`.
Built in: 'guided_best_of_m' (heatmap-guided hypotheses on a benchmark: evaluate.py), 'completion' (known 3D
joints pinned: completion.py) and 'plausibility' (unconditional samples vs the data: plausibility.py).
Adding one: a new file with the function and its `@register_evaluator` line, plus its name in `_BUILTIN`.
"""

from __future__ import annotations

import importlib
from typing import Callable

from posediff_jax.validation import PoseDiffError

_EVALUATORS: dict[str, Callable] = {}
_BUILTIN = {"guided_best_of_m": "posediff_jax.evaluation.evaluate",
            "completion": "posediff_jax.evaluation.completion",
            "plausibility": "posediff_jax.evaluation.plausibility"}


def register_evaluator(name: str):
    def decorator(function: Callable) -> Callable:
        _EVALUATORS[name] = function
        return function

    return decorator


def registered_evaluators() -> tuple[str, ...]:
    return tuple(sorted(set(_EVALUATORS) | set(_BUILTIN)))


def get_evaluator(name: str) -> Callable:
    if name not in _EVALUATORS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])  # registers on import
    if name not in _EVALUATORS:
        raise PoseDiffError(f"config.evaluator: expected one of {registered_evaluators()}, got {name!r}")
    return _EVALUATORS[name]


def run_evaluator(config, **options) -> dict:
    """Runs `config.evaluator` on `config` (options: prior, checkpoint, workdir, progress, log); impossible
    values are refused first (`config_schema.validate_eval_config`)."""
    from posediff_jax.evaluation.config_schema import validate_eval_config

    evaluator = get_evaluator(config.get("evaluator", "guided_best_of_m"))
    return evaluator(validate_eval_config(config), **options)
