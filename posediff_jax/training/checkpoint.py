"""Checkpoints: Orbax `CheckpointManager` for training, a small portable export for the trained prior.

A training workdir holds
- `checkpoints/<step>/` — Orbax checkpoints of the whole `TrainState` (async saves, keep K);
- `prior.json` — what sampling needs besides weights: model and diffusion settings, normalisation statistics;
- `export/` — after training, the EMA weights alone (`params.npz`) beside a copy of `prior.json`.
`load_prior(path)` reads either an export folder or a training workdir (latest Orbax checkpoint). Nothing is
pickled: weights are npz arrays or Orbax's tensorstore files, settings are JSON.
"""

from __future__ import annotations

import json
import pathlib
import zipfile

import importlib_resources
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util

from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.io_utils import atomic_path, write_text_atomic
from posediff_jax.model import ScoreNetwork, make_apply_fn
from posediff_jax.normalization import NormalizationStats
from posediff_jax.prior import Prior
from posediff_jax.validation import PoseDiffError

PRIOR_JSON = "prior.json"
PARAMS_NPZ = "params.npz"
CHECKPOINT_DIR = "checkpoints"
EXPORT_DIR = "export"


class CheckpointError(PoseDiffError):
    """A checkpoint folder is missing or does not hold what is expected."""


def make_checkpoint_manager(workdir, save_every: int, keep: int, async_save: bool = True):
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, save_interval_steps=save_every, enable_async_checkpointing=async_save, create=True
    )
    return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / CHECKPOINT_DIR, options=options)


def save_state(manager, step: int, state, force: bool = False) -> bool:
    return manager.save(int(step), args=ocp.args.StandardSave(state), force=force)


def restore_latest(manager, abstract_state):
    """Restores the latest checkpoint onto the shardings of `abstract_state` (any device count); None if none."""
    step = manager.latest_step()
    if step is None:
        return None
    return manager.restore(step, args=ocp.args.StandardRestore(abstract_state))


def prior_description(config, normalization: NormalizationStats) -> dict:
    """The JSON-serialisable description of a prior (model, diffusion, normalisation)."""
    return {
        "format": "posediff_jax.prior/1",
        "model": {"width": int(config.model.width), "depth": int(config.model.depth),
                  "time_embedding_dim": int(config.model.time_embedding_dim)},
        "diffusion": {"schedule": str(config.diffusion.schedule),
                      "prediction_type": str(config.diffusion.prediction_type)},
        "normalization": {name: value.tolist() for name, value in normalization.to_dict().items()},
    }


def write_prior_description(directory, description: dict) -> None:
    write_text_atomic(pathlib.Path(directory) / PRIOR_JSON, json.dumps(description, indent=1))


def export_prior(directory, ema_params, description: dict, dtype=np.float32) -> pathlib.Path:
    """Writes `params.npz` (EMA weights as `dtype`; float16 halves a shipped file) and `prior.json`.

    `load_prior` always computes in float32 whatever the stored dtype.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    flat = {"/".join(key): np.asarray(value, dtype)
            for key, value in traverse_util.flatten_dict(jax.device_get(ema_params)).items()}
    with atomic_path(directory / PARAMS_NPZ) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **flat)
    write_prior_description(directory, description)
    return directory


def _read_description(directory: pathlib.Path) -> dict:
    path = directory / PRIOR_JSON
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {PRIOR_JSON} here; expected a prior export or a training workdir")
    try:
        description = json.loads(path.read_text())
        return {"model": description["model"], "diffusion": description["diffusion"],
                "normalization": description["normalization"]}
    except (ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: not a valid prior description ({error})") from None


def check_params_match(network: ScoreNetwork, params, source) -> None:
    """Raises `CheckpointError` unless `params` has exactly the structure and shapes `network` expects."""
    expected = jax.eval_shape(lambda: network.init(jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,))))
    expected_flat = {key: value.shape for key, value in traverse_util.flatten_dict(expected).items()}
    found_flat = {key: np.shape(value) for key, value in traverse_util.flatten_dict(params).items()}
    if expected_flat != found_flat:
        differing = sorted("/".join(key) for key in set(expected_flat) ^ set(found_flat)) or sorted(
            "/".join(key) for key in expected_flat if expected_flat[key] != found_flat[key])
        raise CheckpointError(
            f"{source}: weights do not match the model in {PRIOR_JSON} (width {network.width}, depth {network.depth}); "
            f"differing: {differing[:4]}"
        )


def prior_from_description(description: dict, params, source=None) -> Prior:
    model = description["model"]
    network = ScoreNetwork(width=model["width"], depth=model["depth"],
                           time_embedding_dim=model["time_embedding_dim"])
    if source is not None:
        check_params_match(network, params, source)
    normalization = NormalizationStats.from_dict(
        {name: np.asarray(value, np.float32) for name, value in description["normalization"].items()}
    )
    return Prior(params=params, normalization=normalization, apply_fn=make_apply_fn(network),
                 schedule=VPSchedule(description["diffusion"]["schedule"]),
                 prediction_type=description["diffusion"]["prediction_type"])


def load_prior(path) -> Prior:
    """A `Prior` from an export folder (`params.npz` + `prior.json`) or a training workdir (latest checkpoint)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path}: no such folder")
    description = _read_description(path)
    if (path / PARAMS_NPZ).is_file():
        try:
            with np.load(path / PARAMS_NPZ, allow_pickle=False) as data:
                flat = {tuple(name.split("/")): jnp.asarray(data[name], jnp.float32) for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # truncated, corrupt or pickled
            raise CheckpointError(f"{path / PARAMS_NPZ}: unreadable ({error})") from None
        return prior_from_description(description, traverse_util.unflatten_dict(flat), path / PARAMS_NPZ)
    checkpoints = path / CHECKPOINT_DIR
    if not checkpoints.is_dir():
        raise CheckpointError(f"checkpoint {path}: neither {PARAMS_NPZ} nor {CHECKPOINT_DIR}/ found")
    manager = ocp.CheckpointManager(checkpoints.absolute())
    step = manager.latest_step()
    if step is None:
        raise CheckpointError(f"checkpoint {checkpoints}: holds no finished checkpoint")
    restored = manager.restore(step, args=ocp.args.StandardRestore())
    manager.close()
    ema = restored["ema_params"] if isinstance(restored, dict) else restored.ema_params
    return prior_from_description(description, jax.tree.map(jnp.asarray, ema), checkpoints / str(step))


def default_prior_path() -> pathlib.Path:
    return pathlib.Path(str(importlib_resources.files("posediff_jax") / "assets" / "prior"))


def load_default_prior() -> Prior:
    """The small prior shipped in `posediff_jax/assets/prior` (see README: how it was trained)."""
    path = default_prior_path()
    if not (path / PARAMS_NPZ).is_file():
        raise CheckpointError(f"the shipped prior is missing from {path}; reinstall posediff_jax or pass --checkpoint")
    return load_prior(path)
