"""Reading a training workdir's Orbax checkpoints (the EMA weights), newest restorable step first.

The read side of `training.checkpoint`, without importing training (orbax only when a workdir is read).
Unreadable checkpoints are skipped newest to oldest with one `CheckpointWarning` each and left in place; a
checkpoint of a run stopped before its last step gives an `UnfinishedRunWarning`.
"""

from __future__ import annotations

import contextlib
import gc
import io
import pathlib
import re
import sys
import threading
import time
import types
import warnings
import weakref

import jax
import numpy as np

from posediff_jax.device_arrays import to_device
from posediff_jax.prior.format import PriorFormatError, check_finite_weights

CHECKPOINT_DIR = "checkpoints"
NUM_STEPS_KEY = "num_steps"  # a step's custom metadata: the length of the run that saved it

CheckpointError = PriorFormatError


class CheckpointWarning(UserWarning):
    """A checkpoint could not be restored and an older one was used instead."""


class UnfinishedRunWarning(UserWarning):
    """The prior's checkpoint comes from a training run stopped before its last step (its samples may be poor)."""


def _short_error(error: BaseException, limit: int = 160) -> str:
    """The first line of an error's root cause, at most `limit` characters (Orbax's errors run to pages)."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# A failed Orbax restore closes its event loop with TensorStore reads in flight, whose callbacks then print
# "Event loop is closed" tracebacks (hundreds of lines) to stderr.
_CLOSED_LOOP_NOISE = re.compile(
    r"Traceback \(most recent call last\):|File \"[^\"]*asyncio[/\\]base_events\.py\", line \d+, in \w+|"
    r"self\._check_closed\(\)|raise RuntimeError\('Event loop is closed'\)|RuntimeError: Event loop is closed|"
    r"RuntimeError:|Event loop is closed")


class _WithoutClosedLoopNoise(io.TextIOBase):
    """A stderr stand-in that forwards every line except the fragments of those tracebacks."""

    def __init__(self, target):
        self.target, self.pending, self.lock = target, "", threading.Lock()

    def write(self, text):
        with self.lock:
            lines = (self.pending + text).split("\n")
            self.pending = lines.pop()
            for line in lines:
                if _CLOSED_LOOP_NOISE.sub("", line).strip(" \t^"):
                    self.target.write(line + "\n")
        return len(text)

    def flush(self):
        with self.lock:
            if _CLOSED_LOOP_NOISE.sub("", self.pending).strip(" \t^"):
                self.target.write(self.pending)
            self.pending = ""
        self.target.flush()


def _restore_newest_good(manager, restore_args):
    """(step, restored item, [(bad step, error), ...] newer than it) or (None, None, failures) if none restores."""
    failures = []
    filtered = _WithoutClosedLoopNoise(sys.stderr)
    try:
        with contextlib.redirect_stderr(filtered):
            for step in sorted(manager.all_steps(), reverse=True):
                try:
                    return step, manager.restore(step, args=restore_args), failures
                except Exception as error:  # noqa: BLE001  Orbax/TensorStore: ValueError, OSError, JSON errors...
                    failures.append((step, error))
            return None, None, failures
    finally:
        filtered.flush()


def _no_good_checkpoint(directory, failures, hint: str = "") -> CheckpointError:
    reasons = "; ".join(f"step {step}: {_short_error(error, 120)}" for step, error in failures)
    return CheckpointError(f"{directory}: no checkpoint can be restored ({reasons}){hint}")


def _is_orbax_coroutine(candidate) -> bool:
    # `type(...) is`: isinstance reads `__class__`, which some module proxies answer with a deprecation warning.
    return type(candidate) is types.CoroutineType and "orbax" in candidate.cr_code.co_filename


def _is_suspended_orbax_coroutine(candidate) -> bool:
    """An Orbax coroutine not finished yet (a finished one has no frame: closing it reports nothing)."""
    return _is_orbax_coroutine(candidate) and candidate.cr_frame is not None


@contextlib.contextmanager
def _quiet_abandoned_reads(wait_seconds: float = 0.5):
    """Yields `collect()`, which disposes quietly of the reads a failed restore left behind.

    Orbax abandons the other reads of a failed restore as suspended coroutines, which the garbage collector
    later closes with thousands of lines of "Exception ignored in: <coroutine ...>". `collect()` gives them
    `wait_seconds` to finish, then closes those started inside the context, stderr filtered; while the context
    is open, reports of Orbax coroutines are dropped (any other unraisable exception is still reported).
    """
    previous = sys.unraisablehook
    earlier = weakref.WeakSet(filter(_is_suspended_orbax_coroutine, gc.get_objects()))

    def hook(unraisable):
        if not _is_orbax_coroutine(unraisable.object):
            previous(unraisable)

    def abandoned():
        return [candidate for candidate in gc.get_objects()
                if _is_suspended_orbax_coroutine(candidate) and candidate not in earlier]

    def collect():
        filtered = _WithoutClosedLoopNoise(sys.stderr)
        deadline = time.monotonic() + wait_seconds
        try:
            # A read that never started warns "coroutine ... was never awaited": the same noise.
            with contextlib.redirect_stderr(filtered), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
                gc.collect()
                while abandoned() and time.monotonic() < deadline:
                    time.sleep(0.02)
                    gc.collect()
                for coroutine in abandoned():
                    try:
                        coroutine.close()
                    except BaseException:  # noqa: BLE001  Orbax re-raises the GeneratorExit as an Exception
                        pass
                gc.collect()
        finally:
            filtered.flush()

    sys.unraisablehook = hook
    try:
        yield collect
    finally:
        sys.unraisablehook = previous


def restore_ema_params(workdir):
    """(EMA parameters of the newest restorable checkpoint in `workdir/checkpoints`, that checkpoint's path).

    Read-only: unrestorable newer steps are skipped with a `CheckpointWarning` and left in place.
    """
    checkpoints = pathlib.Path(workdir) / CHECKPOINT_DIR
    import orbax.checkpoint as ocp

    # One item per step, said up front: else a newest step without its `default/` item fails every older one too.
    manager = ocp.CheckpointManager(checkpoints.absolute(), item_handlers=ocp.StandardCheckpointHandler())
    try:
        with _quiet_abandoned_reads() as collect_abandoned_reads:
            step, restored, failures = _restore_newest_good(manager, ocp.args.StandardRestore())
            if failures:
                collect_abandoned_reads()
        num_steps = None
        with contextlib.suppress(Exception):  # no step, or one saved without its run's length
            num_steps = int(manager.metadata(step).custom_metadata[NUM_STEPS_KEY])
    finally:
        manager.close()
    if step is None:
        if failures:
            raise _no_good_checkpoint(checkpoints, failures)
        raise CheckpointError(f"checkpoint {checkpoints}: holds no finished checkpoint")
    for bad_step, error in failures:
        warnings.warn(f"checkpoint step {bad_step} in {checkpoints} cannot be restored ({_short_error(error)}); "
                      f"using step {step}", CheckpointWarning, stacklevel=2)
    if num_steps is not None and step < num_steps:
        warnings.warn(f"prior {workdir}: from an unfinished training run (checkpoint step {step} of {num_steps}); "
                      "train it to the end for a better prior", UnfinishedRunWarning, stacklevel=2)
    ema = restored["ema_params"] if isinstance(restored, dict) else restored.ema_params
    source = checkpoints / str(step)

    # Checked finite and put back uncommitted on the default device: Orbax commits the weights to device 0, which a
    # sampler sharded over one CPU device per core refuses ("incompatible devices").
    def to_host(path, leaf):
        value = np.asarray(leaf)
        check_finite_weights(source, jax.tree_util.keystr(path, simple=True, separator="/"), value)
        return to_device(value)

    return jax.tree_util.tree_map_with_path(to_host, ema), source
