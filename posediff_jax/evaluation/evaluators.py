"""Evaluators by name: `config.evaluator` picks what `posediff evaluate` runs.

An evaluator `(config, checkpoint=None, workdir=None, prior=None, progress=True, log=print) -> dict` writes
`results.json` and `results.md` in its workdir and returns `{'summary', 'markdown', 'paths', ...}`. Adding one:
a file with the function under `@register_evaluator(name)`, and its module in `_BUILTIN`.
"""

import importlib
import pathlib
from typing import Callable

from posediff_jax.validation import PoseDiffError

_EVALUATORS: dict[str, Callable] = {}
_BUILTIN = {"guided_best_of_m": "posediff_jax.evaluation.evaluate",
            "completion": "posediff_jax.evaluation.completion_benchmark",
            "plausibility": "posediff_jax.evaluation.plausibility_benchmark"}


def register_evaluator(name: str):
    def decorator(function: Callable) -> Callable:
        _EVALUATORS[name] = function
        return function

    return decorator


def get_evaluator(name: str) -> Callable:
    if name not in _EVALUATORS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])  # registers on import
    if name not in _EVALUATORS:
        known = tuple(sorted(set(_EVALUATORS) | set(_BUILTIN)))
        raise PoseDiffError(f"config.evaluator: expected one of {known}, got {name!r}")
    return _EVALUATORS[name]


def evaluator_workdir(config, workdir, default: str, create: bool = True) -> pathlib.Path:
    """The output folder (`workdir`, else `config.workdir`, else `default`), checked writable; created unless
    `create` is False (checked only: an evaluator checks first and creates it once its data is read, so a run
    that fails before any work leaves nothing)."""
    from posediff_jax.io_utils import check_folder_can_be_made, make_writable_folder
    workdir = pathlib.Path(workdir or config.get("workdir") or default)
    (make_writable_folder if create else check_folder_can_be_made)(workdir, "--workdir")
    return workdir


def evaluation_prior(checkpoint, prior=None, exact_evidence: bool = False, load=None) -> tuple:
    """(label, prior): a given `Prior` is 'given'; else `checkpoint` (None: 'auto') resolved and loaded with `load`."""
    if prior is not None:
        return "given", prior
    from posediff_jax.prior import prior_name, resolve_prior
    label = prior_name("auto" if checkpoint is None else checkpoint, exact_evidence)
    return label, (load or resolve_prior)(label)


def run_evaluator(config, **options) -> dict:
    """Runs `config.evaluator` on the validated `config` (options: prior, checkpoint, workdir, progress, log)."""
    from posediff_jax.evaluation.config_schema import validate_eval_config
    evaluator = get_evaluator(config.get("evaluator", "guided_best_of_m"))
    return evaluator(validate_eval_config(config), **options)
