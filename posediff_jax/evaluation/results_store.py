"""Resumable per-batch results: one `.npz` per finished batch, written atomically.

An evaluation run writes `workdir/batches/batch_000123.npz` for every finished batch (temporary file in the
same folder, then `os.replace`, so a killed run never leaves a half-written batch). On restart the driver
asks `is_done(index)` and skips finished batches. `workdir/run.json` records the fingerprint of the run
(dataset, evidence, sampler, checkpoint, ...); reusing a workdir with a different fingerprint is refused,
so results of two different settings are never mixed.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Iterable, Mapping

import numpy as np

from posediff_jax.io_utils import atomic_path
from posediff_jax.validation import PoseDiffError

RUN_FILE = "run.json"
BATCH_FOLDER = "batches"


class WorkdirMismatchError(PoseDiffError):
    """The workdir holds results of a run with different settings."""


def _jsonable(value: Any) -> Any:
    """Config values -> JSON-comparable plain values (tuples become lists, numpy scalars become numbers)."""
    return json.loads(json.dumps(value, default=lambda item: item.tolist() if hasattr(item, "tolist") else str(item)))


def atomic_write_bytes(path: pathlib.Path, write) -> None:
    """Calls `write(file_object)` on a temporary file beside `path`, then renames it onto `path`
    (`io_utils.atomic_path`: fsync'd, the user's umask)."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            write(file)


def atomic_write_text(path: pathlib.Path, text: str) -> None:
    atomic_write_bytes(path, lambda file: file.write(text.encode("utf-8")))


def save_npz(path: pathlib.Path, arrays: Mapping[str, Any]) -> None:
    """Writes `arrays` (name -> array; strings become unicode arrays) to `path` atomically."""
    plain = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in plain.items():
        if value.dtype == object:
            raise PoseDiffError(f"results '{name}': object arrays cannot be stored (got {value.dtype})")
    atomic_write_bytes(path, lambda file: np.savez(file, **plain))


class ResultsStore:
    """Per-batch `.npz` results under `workdir`, with a fingerprint guard.

    Args:
      workdir: folder (created if needed).
      fingerprint: JSON-serialisable description of the run; must equal the stored one when resuming.
    """

    def __init__(self, workdir, fingerprint: Mapping[str, Any]):
        self.workdir = pathlib.Path(workdir)
        self.batch_dir = self.workdir / BATCH_FOLDER
        self.batch_dir.mkdir(parents=True, exist_ok=True)
        self.fingerprint = _jsonable(dict(fingerprint))
        run_file = self.workdir / RUN_FILE
        if run_file.exists():
            stored = json.loads(run_file.read_text())
            if stored != self.fingerprint:
                changed = sorted(
                    key for key in set(stored) | set(self.fingerprint) if stored.get(key) != self.fingerprint.get(key)
                )
                raise WorkdirMismatchError(
                    f"workdir {self.workdir} holds results of a different run (settings differ: "
                    f"{', '.join(changed)}); pass another --workdir or delete it"
                )
        else:
            atomic_write_text(run_file, json.dumps(self.fingerprint, indent=2, sort_keys=True))

    def batch_path(self, index: int) -> pathlib.Path:
        return self.batch_dir / f"batch_{int(index):06d}.npz"

    def is_done(self, index: int) -> bool:
        return self.batch_path(index).exists()

    def done_indices(self) -> list[int]:
        return sorted(int(path.stem.split("_")[1]) for path in self.batch_dir.glob("batch_*.npz"))

    def save(self, index: int, arrays: Mapping[str, Any]) -> None:
        """Stores one finished batch (every array has the batch's frames on axis 0)."""
        save_npz(self.batch_path(index), arrays)

    def load(self, index: int) -> dict[str, np.ndarray]:
        path = self.batch_path(index)
        if not path.exists():
            raise PoseDiffError(f"results of batch {index} not found at {path}")
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}

    def load_all(self, indices: Iterable[int] | None = None) -> dict[str, np.ndarray]:
        """Concatenates the batches `indices` (default: all finished ones, in order) along axis 0."""
        indices = self.done_indices() if indices is None else list(indices)
        batches = [self.load(index) for index in indices]
        if not batches:
            return {}
        names = batches[0].keys()
        for index, batch in zip(indices, batches):
            if batch.keys() != names:
                raise PoseDiffError(f"results of batch {index} have different fields: {sorted(batch)} vs {sorted(names)}")
        return {name: np.concatenate([batch[name] for batch in batches], axis=0) for name in names}
