"""Checks that a config may continue the run in an existing workdir, before anything there is written.

A config whose model, diffusion or training-data normalisation differs from the workdir's `prior.json` is
refused with a `WorkdirMismatchError` naming every differing key; `training.*` and `eval.*` may change. An
evaluation's results folder is refused as a workdir.
"""

import json
import pathlib

import numpy as np

from posediff_jax.evaluation.results_store import BATCH_FOLDER, RUN_FILE, WorkdirMismatchError
from posediff_jax.prior import format as prior_format

COMPARED_SECTIONS = ("model", "diffusion")
NORMALIZATION_RTOL = 1e-4  # float32 statistics stored as JSON: equal data gives equal numbers
NORMALIZATION_ATOL_MM = 1e-3
EVALUATION_FILES = ("results.json", "results.md", RUN_FILE, BATCH_FOLDER)  # what `posediff evaluate` writes


def check_not_evaluation_results(workdir) -> None:
    """Raises `WorkdirMismatchError` when `workdir` holds an evaluation's results: checkpoints would mix with them."""
    found = [name for name in EVALUATION_FILES if (pathlib.Path(workdir) / name).exists()]
    if found:
        raise WorkdirMismatchError(f"--workdir {workdir}: holds an evaluation's results ({', '.join(found)}), not a "
                                   "training run; use another --workdir")


def existing_description(workdir):
    """The workdir's `prior.json` description, or None for a new workdir (a corrupt file is a `PriorFormatError`)."""
    if not (pathlib.Path(workdir) / prior_format.PRIOR_JSON).is_file():
        return None
    return prior_format.read_prior_description(workdir)


def changed_prior_keys(stored: dict, proposed: dict, sections=COMPARED_SECTIONS) -> list[tuple[str, object, object]]:
    """`[(section.key, stored, proposed), ...]` for the keys of `sections` that differ, compared as JSON."""
    proposed = json.loads(json.dumps({section: proposed[section] for section in sections}))
    differences = []
    for section in sections:
        old, new = stored.get(section, {}), proposed.get(section, {})
        for key in sorted(set(old) | set(new), key=lambda k: (k != "name", k)):
            if old.get(key) != new.get(key):
                differences.append((f"{section}.{key}", old.get(key), new.get(key)))
    return differences


def check_same_prior(workdir, stored: dict, config) -> None:
    """Raises `WorkdirMismatchError` unless `config`'s model and diffusion match the stored description."""
    proposed = {"model": prior_format.model_description(config.model),
                "diffusion": {"schedule": str(config.diffusion.schedule),
                              "prediction_type": str(config.diffusion.prediction_type)}}
    differences = changed_prior_keys(stored, proposed)
    if differences:
        old = ", ".join(f"{key}={value!r}" for key, value, _ in differences)
        new = ", ".join(f"{key}={value!r}" for key, _, value in differences)
        raise WorkdirMismatchError(
            f"workdir {workdir} was trained with {old}; this config says {new} "
            f"(use a new --workdir, or the old values)")


def check_same_normalization(workdir, stored: dict, normalization) -> None:
    """Raises `WorkdirMismatchError` unless `normalization` (of the current training data) equals the stored one."""
    current = {name: np.asarray(value, np.float64) for name, value in normalization.to_dict().items()}
    for name, value in current.items():
        old = np.asarray(stored["normalization"].get(name), np.float64)
        if old.shape != value.shape or not np.allclose(old, value, rtol=NORMALIZATION_RTOL,
                                                       atol=NORMALIZATION_ATOL_MM):
            gap = float(np.max(np.abs(old - value))) if old.shape == value.shape else float("nan")
            raise WorkdirMismatchError(
                f"workdir {workdir} was trained on other data: the training poses' normalisation {name} differs "
                f"by up to {gap:.3g} mm from the one in {prior_format.PRIOR_JSON} (config.data changed?); "
                f"use a new --workdir, or the old config.data")
