"""Training checkpoints: an Orbax `CheckpointManager` over the whole `TrainState`.

A training workdir holds
- `checkpoints/<step>/` — Orbax checkpoints of the whole `TrainState` (async saves, keep K);
- `prior.json` — the prior format's description (`posediff_jax.prior.format`): model, diffusion, normalisation;
- `export/` — after training, the EMA weights alone (`params.npz`) beside a copy of `prior.json`.
The prior format and its loading live in `posediff_jax.prior` (inference never imports this module);
`posediff_jax.prior.load_prior(workdir)` calls `restore_ema_params` here for a workdir without an export.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from posediff_jax.prior.format import PriorFormatError

CHECKPOINT_DIR = "checkpoints"
EXPORT_DIR = "export"

CheckpointError = PriorFormatError


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


def restore_ema_params(workdir):
    """(EMA parameters of the latest checkpoint in `workdir/checkpoints`, that checkpoint's path)."""
    checkpoints = pathlib.Path(workdir) / CHECKPOINT_DIR
    manager = ocp.CheckpointManager(checkpoints.absolute())
    try:
        step = manager.latest_step()
        if step is None:
            raise CheckpointError(f"checkpoint {checkpoints}: holds no finished checkpoint")
        restored = manager.restore(step, args=ocp.args.StandardRestore())
    finally:
        manager.close()
    ema = restored["ema_params"] if isinstance(restored, dict) else restored.ema_params
    return jax.tree.map(jnp.asarray, ema), checkpoints / str(step)
