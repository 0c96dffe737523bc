"""Reading a training workdir's Orbax checkpoints (the EMA weights), newest restorable step first.

The read side of `posediff_jax.training.checkpoint`, kept beside the prior so that loading a prior from a workdir
never imports the training package (orbax is imported only when a workdir is actually read). Unreadable
checkpoints (a corrupt data file, a junk `_METADATA`, a deleted file) are skipped newest to oldest with one
`CheckpointWarning` each; `restore_ema_params` only reads, so it leaves them in place (training sets them aside).
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import sys
import threading
import warnings

from posediff_jax.prior.format import PriorFormatError

CHECKPOINT_DIR = "checkpoints"

CheckpointError = PriorFormatError


class CheckpointWarning(UserWarning):
    """A checkpoint could not be restored and an older one was used instead."""


def _short_error(error: BaseException, limit: int = 160) -> str:
    """The first line of an error's root cause, at most `limit` characters (Orbax/TensorStore errors run to
    pages and wrap the informative one, e.g. "ValueError: FAILED_PRECONDITION: Error reading ... ZSTD ...")."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# A failed Orbax restore closes its asyncio loop while TensorStore reads are still in flight; their completion
# callbacks then print "RuntimeError: Event loop is closed" tracebacks (hundreds of lines) to sys.stderr.
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


def restore_ema_params(workdir):
    """(EMA parameters of the newest restorable checkpoint in `workdir/checkpoints`, that checkpoint's path).

    Read-only: unrestorable newer steps are skipped with a `CheckpointWarning` and left in place.
    """
    checkpoints = pathlib.Path(workdir) / CHECKPOINT_DIR
    import jax
    import jax.numpy as jnp
    import orbax.checkpoint as ocp

    manager = ocp.CheckpointManager(checkpoints.absolute())
    try:
        step, restored, failures = _restore_newest_good(manager, ocp.args.StandardRestore())
    finally:
        manager.close()
    if step is None:
        if failures:
            raise _no_good_checkpoint(checkpoints, failures)
        raise CheckpointError(f"checkpoint {checkpoints}: holds no finished checkpoint")
    for bad_step, error in failures:
        warnings.warn(f"checkpoint step {bad_step} in {checkpoints} cannot be restored ({_short_error(error)}); "
                      f"using step {step}", CheckpointWarning, stacklevel=2)
    ema = restored["ema_params"] if isinstance(restored, dict) else restored.ema_params
    return jax.tree.map(jnp.asarray, ema), checkpoints / str(step)
