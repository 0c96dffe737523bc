"""Resumable per-batch results: one `.npz` per finished batch, written atomically.

An evaluation run writes `workdir/batches/batch_000123.npz` for every finished batch (temporary file in the
same folder, then `os.replace`, so a killed run never leaves a half-written batch). On restart the driver
asks `is_done(index)` and skips finished batches. `workdir/run.json` records the fingerprint of the run
(dataset, evidence, sampler, checkpoint, ...); reusing a workdir with a different fingerprint is refused,
so results of two different settings are never mixed. Several processes may share one workdir (the shards of
`config.num_shards`, each computing its own batches): `run.json` is created exclusively (of two runs starting
together exactly one writes it, the other compares against it) and every batch file is written by one rename.
"""

from __future__ import annotations

import json
import pathlib
import warnings
import zipfile
from typing import Any, Iterable, Mapping

import numpy as np

from posediff_jax.io_utils import create_text_exclusively, save_npz_atomic
from posediff_jax.validation import PoseDiffError

RUN_FILE = "run.json"
BATCH_FOLDER = "batches"


class WorkdirMismatchError(PoseDiffError):
    """The workdir holds results of a run with different settings."""


class DamagedBatchWarning(UserWarning):
    """A stored batch file is unreadable (truncated, empty, junk); it is set aside and computed again."""


def differing_keys(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two fingerprints differ (`config.data.max_frames`), descending into dicts, so that the
    refusal to mix runs names the setting that changed instead of just 'config'."""
    if isinstance(stored, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(stored) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored or key not in current:
                found.append(name)
            else:
                found.extend(differing_keys(stored[key], current[key], name))
        return found
    return [] if stored == current else [prefix or "(the whole fingerprint)"]


def _lookup(tree: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return "(absent)"
        tree = tree[key]
    return tree


def _short(value: Any, limit: int = 40) -> str:
    text = value if value == "(absent)" else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> Any:
    """Config values -> JSON-comparable plain values (tuples become lists, numpy scalars become numbers)."""
    return json.loads(json.dumps(value, default=lambda item: item.tolist() if hasattr(item, "tolist") else str(item)))


def save_npz(path: pathlib.Path, arrays: Mapping[str, Any]) -> None:
    """Writes `arrays` (name -> array; strings become unicode arrays) to `path` atomically
    (`io_utils.save_npz_atomic`), refusing object arrays as a `PoseDiffError` naming the result."""
    plain = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in plain.items():
        if value.dtype == object:
            raise PoseDiffError(f"results '{name}': object arrays cannot be stored (got {value.dtype})")
    save_npz_atomic(path, **plain)


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
        if not create_text_exclusively(run_file, json.dumps(self.fingerprint, indent=2, sort_keys=True)):
            try:
                stored = json.loads(run_file.read_text())
            except (OSError, UnicodeDecodeError, ValueError) as error:
                raise WorkdirMismatchError(
                    f"workdir {self.workdir}: {RUN_FILE} is unreadable ({type(error).__name__}: {error}), so its "
                    f"batches cannot be matched to these settings; pass another --workdir, or delete {run_file} and "
                    f"{self.batch_dir} to start over") from None
            if stored != self.fingerprint:
                changed = differing_keys(stored, self.fingerprint)
                shown = ", ".join(f"{name} {_short(_lookup(stored, name))} -> {_short(_lookup(self.fingerprint, name))}"
                                  for name in changed[:6])
                more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
                raise WorkdirMismatchError(
                    f"workdir {self.workdir} holds results of a different run (settings differ: {shown}{more}); "
                    "pass another --workdir or delete it"
                )

    def batch_path(self, index: int) -> pathlib.Path:
        return self.batch_dir / f"batch_{int(index):06d}.npz"

    def is_done(self, index: int) -> bool:
        """Whether batch `index` is stored and readable. A damaged file (a disk filled up, a copy cut short) is
        renamed to `<name>.damaged` with a `DamagedBatchWarning` and counts as not done, so the run computes it
        again instead of failing at the end with an EOFError."""
        path = self.batch_path(index)
        if not path.exists():
            return False
        try:
            with np.load(path, allow_pickle=False) as data:
                for name in data.files:
                    data[name]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
            aside = path.with_name(path.name + ".damaged")
            path.replace(aside)
            # Not numpy's text: for a junk file it is a hint about allow_pickle, which misleads here.
            reason = error.strerror if isinstance(error, OSError) and error.strerror else "not a complete .npz archive"
            warnings.warn(f"{path}: unreadable ({reason}, {type(error).__name__}); set aside as {aside.name} and "
                          "computed again", DamagedBatchWarning, stacklevel=2)
            return False
        return True

    def done_indices(self) -> list[int]:
        return sorted(int(path.stem.split("_")[1]) for path in self.batch_dir.glob("batch_*.npz"))

    def save(self, index: int, arrays: Mapping[str, Any]) -> None:
        """Stores one finished batch (every array has the batch's frames on axis 0)."""
        save_npz(self.batch_path(index), arrays)

    def load(self, index: int) -> dict[str, np.ndarray]:
        path = self.batch_path(index)
        if not path.exists():
            raise PoseDiffError(f"results of batch {index} not found at {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
            raise PoseDiffError(f"results of batch {index} at {path}: unreadable ({type(error).__name__}: {error}); "
                                "run the evaluation again to recompute it") from None

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
