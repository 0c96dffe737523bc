"""Training checkpoints: an Orbax `CheckpointManager` over the whole `TrainState` in `workdir/checkpoints/`.

The read side lives in `prior/workdir.py`, so inference never imports this module. Restoring takes the newest
step that restores; with `quarantine`, newer unreadable steps are renamed `<step>.corrupt` (never deleted),
but only when an older step does restore: otherwise nothing is moved and a `CheckpointError` names every step.
A run holds `workdir/train.lock` (`workdir_lock`), and a full disk ends it in one line (`full_disk_as_error`).
"""

import contextlib
import logging
import pathlib
import shutil
import sys
import warnings

import jax
import orbax.checkpoint as ocp

from posediff_jax.prior.workdir import (  # noqa: F401 (restore_ema_params: re-exported for training code and tests)
    CHECKPOINT_DIR, NUM_STEPS_KEY, CheckpointError, CheckpointWarning, _no_good_checkpoint, _quiet_abandoned_reads,
    _restore_newest_good, _short_error, _WithoutClosedLoopNoise, restore_ema_params)
from posediff_jax.io_utils import DISK_FULL_ERRNOS
from posediff_jax.validation import PoseDiffError

EXPORT_DIR = "export"
CORRUPT_SUFFIX = ".corrupt"
LOCK_FILE = "train.lock"
TMP_SUFFIX = ".orbax-checkpoint-tmp"  # Orbax writes a step there, then renames it to `<step>`


@contextlib.contextmanager
def workdir_lock(workdir):
    """Holds an exclusive `flock` on `workdir/train.lock` (process 0) while the block runs: a second trainer on
    the workdir would delete the first's checkpoints and interleave its metrics, so it is refused. The OS drops the
    lock when the process ends, however it ends, so a crashed run's leftover file blocks nothing."""
    if jax.process_index() != 0:
        yield
        return
    import fcntl

    with open(pathlib.Path(workdir) / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PoseDiffError(f"--workdir {workdir}: another `posediff train` is running in it ({LOCK_FILE} is "
                                "locked); wait for it to end, or use another --workdir") from None
        yield


def _says_full_disk(text: str) -> bool:
    return "No space left on device" in text or "Disk quota exceeded" in text


def _full_disk(error) -> bool:
    """Whether `error` or an exception it came from is a full disk or quota (TensorStore says so only in text)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS or _says_full_disk(str(error)):
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def full_disk_as_error(workdir):
    """Turns a full disk (or quota) in the block into one `PoseDiffError`, after removing the unfinished
    `<step>.orbax-checkpoint-tmp` folders: the finished steps are intact, and a rerun resumes from the latest."""
    try:
        yield
    except Exception as error:
        if not _full_disk(error):
            raise
        directory = pathlib.Path(workdir) / CHECKPOINT_DIR
        for leftover in directory.glob(f"*{TMP_SUFFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        steps = [int(path.name) for path in directory.glob("*") if path.name.isdigit()]
        kept = f"checkpoint step {max(steps)} is intact: " if steps else "no checkpoint yet: "
        raise PoseDiffError(f"--workdir {workdir}: no space left on device; {kept}free some space and run the same "
                            "command again" + (" to resume" if steps else "")) from None


def _not_full_disk(record) -> bool:
    return not (_says_full_disk(record.getMessage()) or record.exc_info and _full_disk(record.exc_info[1]))


@contextlib.contextmanager
def quiet_failed_saves():
    """Keeps a failed Orbax save from flooding stderr: the "Event loop is closed" tracebacks of its writes still in
    flight are filtered out, and the writes it abandoned are disposed of quietly (not at interpreter exit). The
    logged reports of a full disk (Orbax's, and asyncio's as its futures are freed) are dropped from here on, for
    the rest of the process: `full_disk_as_error` says it in one line."""
    for name in ("absl", "asyncio"):
        logging.getLogger(name).addFilter(_not_full_disk)  # once: a filter already there is not added again
    filtered = _WithoutClosedLoopNoise(sys.stderr)
    with _quiet_abandoned_reads() as collect_abandoned, contextlib.redirect_stderr(filtered):
        try:
            yield
        except BaseException:
            collect_abandoned()
            raise
        finally:
            filtered.flush()


def make_checkpoint_manager(workdir, save_every: int, keep: int, async_save: bool = True):
    """An Orbax manager of single-item `TrainState` checkpoints; the handler is given, not inferred: a newest step
    cut short would otherwise make every older step fail too."""
    if keep < 1:  # Orbax would delete every checkpoint, the one saved on SIGINT included
        raise PoseDiffError(f"checkpoints to keep: must be >= 1, got {keep}")
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=save_every,
                                           enable_async_checkpointing=async_save, create=True,
                                           cleanup_tmp_directories=True)  # a killed run's unfinished step
    return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / CHECKPOINT_DIR, options=options,
                                 item_handlers=ocp.StandardCheckpointHandler())


def save_state(manager, step: int, state, force: bool = False, num_steps: int | None = None) -> bool:
    """Saves `state` as `step`; `num_steps`, the run's planned length, goes into the step's metadata (so that
    `restore_ema_params` can say a prior comes from an unfinished run)."""
    metadata = {} if num_steps is None else {NUM_STEPS_KEY: int(num_steps)}
    return manager.save(int(step), args=ocp.args.StandardSave(state), force=force, custom_metadata=metadata)


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
