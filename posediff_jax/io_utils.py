"""File output that never leaves anything half-written: write to a temporary file beside the target, rename."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import tempfile

import numpy as np

from posediff_jax.validation import PoseDiffError


@contextlib.contextmanager
def _finished_temporary(path: pathlib.Path):
    """Yields a new temporary file's path beside `path` and removes that name afterwards (failed, renamed or
    hard-linked into place)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield pathlib.Path(temporary)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _make_final(temporary) -> None:
    with open(temporary, "rb+") as written:  # on disk before it is placed: a crash leaves old or new, never empty
        os.fsync(written.fileno())
    umask = os.umask(0)  # read by setting it: mkstemp makes 0600, a finished file gets the user's mode
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)


# A full disk or an exhausted quota: the CLI says so in one line naming the file (`cli.run_with_one_line_messages`).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def _naming_a_full_disk(path: pathlib.Path):
    """Re-raises a full-disk `OSError` naming `path` where it named no file (a write to an open handle) or
    `path`'s temporary; one naming another file (a nested atomic write's target) is kept."""
    try:
        yield
    except OSError as error:
        other_file = error.filename is not None and not os.path.basename(str(error.filename)).startswith(
            f".{path.name}.")
        if error.errno not in DISK_FULL_ERRNOS or other_file:
            raise
        raise OSError(error.errno, os.strerror(error.errno), str(path)) from None


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in the target's folder; renames it onto `path` only if the block succeeds."""
    path = pathlib.Path(path)
    with _naming_a_full_disk(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with _finished_temporary(path) as temporary:
            yield temporary
            _make_final(temporary)
            os.replace(temporary, path)


def create_text_exclusively(path, text: str) -> bool:
    """Writes `path` only if it does not exist (else False), all at once: a temporary file hard-linked into place,
    so of several processes exactly one writes it (without hard links: a rename after an existence check)."""
    path = pathlib.Path(path)
    if path.exists():
        return False
    with _naming_a_full_disk(path), _finished_temporary(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
        _make_final(temporary)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (some network / FAT file systems)
            if path.exists():
                return False
            os.replace(temporary, path)
    return True


def save_npz_atomic(path, **arrays) -> pathlib.Path:
    """`np.savez` into `path` atomically (no pickles: object arrays are refused)."""
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"{name}: object arrays would need pickle; convert to a numeric or string array")
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
    return pathlib.Path(path)


def write_text_atomic(path, text: str) -> pathlib.Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return pathlib.Path(path)


def make_writable_folder(path, what: str = "--workdir") -> pathlib.Path:
    """Creates the folder `path` if needed; a `PoseDiffError` naming `what` before any work when it is a file, has
    a file in the way, cannot be created or is not writable."""
    path = _not_a_file(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        if isinstance(error, (FileExistsError, NotADirectoryError)):
            reason = "a file is in the way on its path"
        raise PoseDiffError(f"{what} {path}: cannot create it ({reason})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PoseDiffError(f"{what} {path}: not writable")
    return path


def check_folder_can_be_made(path, what: str = "--output") -> pathlib.Path:
    """`make_writable_folder`'s refusals without creating anything (the nearest existing folder is writable)."""
    path = _not_a_file(path, what)
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PoseDiffError(f"{what} {path}: cannot create it (a file is in the way on its path)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PoseDiffError(f"{what} {path}: " + ("not writable" if existing == path else
                                                  f"cannot create it ({existing} is not writable)"))
    return path


def _not_a_file(path, what: str) -> pathlib.Path:
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise PoseDiffError(f"{what} {path}: is a file, not a folder (choose another {what})")
    return path
