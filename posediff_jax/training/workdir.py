"""Checks that a config may continue the run in an existing workdir, before anything there is written.

A workdir's `prior.json` records the model, the diffusion parameterisation and the normalisation its checkpoints
were trained with. Resuming with a config whose prior description differs would overwrite `prior.json` and then
fail to restore (or silently pair weights with the wrong statistics), so such a config is refused with a
`WorkdirMismatchError` that names every differing key. Keys outside the prior description (`training.*` such as
`num_steps` or the learning rate, `eval.*`) may change between invocations.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from posediff_jax.prior import format as prior_format
from posediff_jax.validation import PoseDiffError

COMPARED_SECTIONS = ("model", "diffusion")
NORMALIZATION_RTOL = 1e-4  # float32 statistics stored as JSON: equal data gives equal numbers
NORMALIZATION_ATOL_MM = 1e-3


class WorkdirMismatchError(PoseDiffError):
    """The config differs from the one the workdir's checkpoints were trained with."""


def existing_description(workdir):
    """The workdir's `prior.json` description, or None for a new workdir (a corrupt file is a `PriorFormatError`)."""
    if not (pathlib.Path(workdir) / prior_format.PRIOR_JSON).is_file():
        return None
    return prior_format.read_prior_description(workdir)


def differing_keys(stored: dict, proposed: dict, sections=COMPARED_SECTIONS) -> list[tuple[str, object, object]]:
    """`[(section.key, stored value, proposed value), ...]` for the keys of `sections` that differ.

    Values compare as JSON (a config tuple equals a stored list); a key absent on one side shows as None.
    """
    proposed = json.loads(json.dumps({section: proposed[section] for section in sections}))
    differences = []
    for section in sections:
        old, new = stored.get(section, {}), proposed.get(section, {})
        for key in sorted(set(old) | set(new), key=lambda k: (k != "name", k)):
            if old.get(key) != new.get(key):
                differences.append((f"{section}.{key}", old.get(key), new.get(key)))
    return differences


def check_same_prior(workdir, stored: dict, config) -> None:
    """Raises `WorkdirMismatchError` unless `config`'s model and diffusion sections match the stored description.

    Message: "workdir runs/x was trained with model.width=32; this config says model.width=64 (use a new
    --workdir, or the old values)".
    """
    proposed = {"model": prior_format.model_description(config.model),
                "diffusion": {"schedule": str(config.diffusion.schedule),
                              "prediction_type": str(config.diffusion.prediction_type)}}
    differences = differing_keys(stored, proposed)
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
