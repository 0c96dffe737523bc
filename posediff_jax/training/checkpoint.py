"""Training checkpoints: an Orbax `CheckpointManager` over the whole `TrainState` in `workdir/checkpoints/`.

The read side lives in `prior/workdir.py`, so inference never imports this module. Restoring takes the newest
step that restores; with `quarantine`, newer unreadable steps are renamed `<step>.corrupt` (never deleted),
but only when an older step does restore: otherwise nothing is moved and a `CheckpointError` names every step.
"""

import pathlib
import warnings

import jax
import orbax.checkpoint as ocp

from posediff_jax.prior.workdir import (  # noqa: F401 (restore_ema_params: re-exported for training code and tests)
    CHECKPOINT_DIR, CheckpointError, CheckpointWarning, _no_good_checkpoint, _quiet_abandoned_reads,
    _restore_newest_good, _short_error, restore_ema_params)
from posediff_jax.validation import PoseDiffError

EXPORT_DIR = "export"
CORRUPT_SUFFIX = ".corrupt"


def make_checkpoint_manager(workdir, save_every: int, keep: int, async_save: bool = True):
    """An Orbax manager of single-item `TrainState` checkpoints; the handler is given, not inferred: a newest step
    cut short would otherwise make every older step fail too."""
    if keep < 1:  # Orbax would delete every checkpoint, the one saved on SIGINT included
        raise PoseDiffError(f"checkpoints to keep: must be >= 1, got {keep}")
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=save_every,
                                           enable_async_checkpointing=async_save, create=True)
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
    """Raises `CheckpointError` unless every process restored the same step."""
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
    """The newest checkpoint that restores onto `abstract_state`'s shardings (None if there is none).

    Newer failing steps are skipped with a `CheckpointWarning` and, with `quarantine`, set aside by process 0.
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
            if quarantine:  # process 0 moves the step; the others name where it goes
                moved = (_set_aside(directory, bad_step) if jax.process_index() == 0
                         else directory / f"{bad_step}{CORRUPT_SUFFIX}")
                where = f"moved to {moved}"
            if jax.process_index() == 0:
                warnings.warn(f"checkpoint step {bad_step} in {directory} cannot be restored "
                              f"({_short_error(error)}); {where}; using step {step}", CheckpointWarning,
                              stacklevel=2)
        if quarantine:
            _sync("posediff_checkpoint_set_aside")
            manager.reload()  # forget the moved steps: `should_save` compares with the latest known step
    return state
