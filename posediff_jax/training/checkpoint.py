"""Training checkpoints: an Orbax `CheckpointManager` over the whole `TrainState`.

A training workdir holds
- `checkpoints/<step>/` — Orbax checkpoints of the whole `TrainState` (async saves, keep K >= 1);
- `prior.json` — the prior format's description (`posediff_jax.prior.format`): model, diffusion, normalisation;
- `export/` — after training, the EMA weights alone (`params.npz`) beside a copy of `prior.json`.
The prior format and its loading live in `posediff_jax.prior` (inference never imports this module);
`posediff_jax.prior.load_prior(workdir)` reads a workdir without an export through `prior/workdir.py`, which also
holds the newest-good restore this module uses for training.

Unreadable checkpoints (a corrupt data file, a junk `_METADATA`, a deleted file or `default/` item, an empty step
folder): restoring tries the steps from newest to oldest and takes the newest that restores, with one
`CheckpointWarning` per skipped step (and no tracebacks from the reads a failed restore abandons). Training
(`restore_latest(..., quarantine=True)`) then renames each skipped step folder to `checkpoints/<step>.corrupt`
(kept for inspection, never deleted; Orbax ignores the name, so later saves and `keep K` work as usual); loading a
prior (`restore_ema_params`) only reads and leaves the folder where it is. A step is called corrupt only when an
older step restores onto the same target: if no step restores (e.g. a changed model), nothing is moved and a
`CheckpointError` names every step and why it failed.
"""

from __future__ import annotations

import pathlib
import warnings

import jax
import orbax.checkpoint as ocp

from posediff_jax.prior.workdir import (  # the read side lives with the prior: inference never imports training
    CHECKPOINT_DIR,
    CheckpointError,
    CheckpointWarning,
    _no_good_checkpoint,
    _quiet_abandoned_reads,
    _restore_newest_good,
    _short_error,
    restore_ema_params,  # noqa: F401  (re-exported for training code and tests)
)
from posediff_jax.validation import PoseDiffError

EXPORT_DIR = "export"
CORRUPT_SUFFIX = ".corrupt"


def make_checkpoint_manager(workdir, save_every: int, keep: int, async_save: bool = True):
    """An Orbax manager of single-item (`default`) `TrainState` checkpoints.

    The single-item handler is given here rather than left for Orbax to infer: a manager without one decides
    between single- and multi-item mode on its first restore, from whether that step holds a `default/` folder,
    and keeps the decision. A newest step whose `default/` is missing (a save cut short) then made every older,
    good step fail too ("Must provide `args` of type `Composite`"), so no checkpoint could be restored.
    """
    if keep < 1:  # Orbax would delete every checkpoint, the one saved on SIGINT included
        raise PoseDiffError(f"checkpoints to keep: must be >= 1, got {keep}")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, save_interval_steps=save_every, enable_async_checkpointing=async_save, create=True
    )
    return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / CHECKPOINT_DIR, options=options,
                                 item_handlers=ocp.StandardCheckpointHandler())


def save_state(manager, step: int, state, force: bool = False) -> bool:
    return manager.save(int(step), args=ocp.args.StandardSave(state), force=force)


def _set_aside(directory: pathlib.Path, step: int) -> pathlib.Path:
    """Renames `directory/<step>` to `<step>.corrupt` (`.corrupt-2`, ... if taken); returns the new path."""
    target, index = directory / f"{step}{CORRUPT_SUFFIX}", 1
    while target.exists():
        index += 1
        target = directory / f"{step}{CORRUPT_SUFFIX}-{index}"
    (directory / str(step)).rename(target)
    return target


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _check_processes_agree(directory, step) -> None:
    """Every process must have restored the same step (all read the same shared folder); else a clear error
    instead of processes training from different states."""
    if jax.process_count() == 1:
        return
    import numpy as np
    from jax.experimental import multihost_utils

    steps = np.asarray(multihost_utils.process_allgather(np.int64(-1 if step is None else step))).ravel()
    if len(set(steps.tolist())) > 1:
        found = ", ".join(f"process {index}: {'none' if value < 0 else f'step {value}'}"
                          for index, value in enumerate(steps.tolist()))
        raise CheckpointError(f"{directory}: processes restored different checkpoints ({found}); is the workdir "
                              f"the same shared folder on every host?")


def restore_latest(manager, abstract_state, quarantine: bool = True):
    """The newest checkpoint that restores onto the shardings of `abstract_state` (any device count); None if
    the manager holds no checkpoint.

    Newer steps that fail to restore are skipped with a `CheckpointWarning` and, with `quarantine`, renamed to
    `<step>.corrupt` (by process 0; all processes then reload the step list). Raises `CheckpointError` when
    checkpoints exist but none restores.
    """
    with _quiet_abandoned_reads() as collect_abandoned_reads:
        step, state, failures = _restore_newest_good(manager, ocp.args.StandardRestore(abstract_state))
        if failures:
            collect_abandoned_reads()
    directory = pathlib.Path(manager.directory)
    _check_processes_agree(directory, step)
    if step is None:
        if failures:
            raise _no_good_checkpoint(directory, failures,
                                      f"; move {directory} aside to start over, or use another --workdir")
        return None
    if failures:
        _sync("posediff_checkpoint_restore_failed")  # every process is done reading the bad steps
        for bad_step, error in failures:
            where = "kept in place"
            if quarantine:
                if jax.process_index() == 0:
                    where = f"moved to {_set_aside(directory, bad_step)}"
                else:
                    where = f"moved to {directory / f'{bad_step}{CORRUPT_SUFFIX}'}"
            if jax.process_index() == 0:
                warnings.warn(f"checkpoint step {bad_step} in {directory} cannot be restored "
                              f"({_short_error(error)}); {where}; using step {step}", CheckpointWarning,
                              stacklevel=2)
        if quarantine:
            _sync("posediff_checkpoint_set_aside")
            manager.reload()  # forget the moved steps: `should_save` compares with the latest known step
    return state


