"""Resumable per-batch results: `workdir/batches/batch_<index>.npz`, each written atomically.

`workdir/run.json` holds the run's fingerprint (created exclusively, so shards sharing a workdir agree on it);
a workdir holding another fingerprint is refused, so results of two settings are never mixed.
"""

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
    """The workdir holds a run (evaluation results, or training checkpoints) with different settings."""


class DamagedBatchWarning(UserWarning):
    """A stored batch file is unreadable (truncated, empty, junk); it is set aside and computed again."""


def differing_keys(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted paths (`config.data.max_frames`) where two fingerprints differ."""
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


def _shown(tree: Any, dotted: str, limit: int = 40) -> str:
    """The value at `dotted` in a fingerprint as short JSON, or '(absent)'."""
    for key in dotted.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return "(absent)"
        tree = tree[key]
    text = json.dumps(tree)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def save_npz(path: pathlib.Path, arrays: Mapping[str, Any]) -> None:
    """Writes `arrays` to `path` atomically; an object array is a `PoseDiffError` naming it."""
    plain = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in plain.items():
        if value.dtype == object:
            raise PoseDiffError(f"results '{name}': object arrays cannot be stored (got {value.dtype})")
    save_npz_atomic(path, **plain)


class ResultsStore:
    """Per-batch `.npz` results under `workdir`; `fingerprint` (JSON-able) must equal a stored one."""

    def __init__(self, workdir, fingerprint: Mapping[str, Any]):
        self.workdir = pathlib.Path(workdir)
        self.batch_dir = self.workdir / BATCH_FOLDER
        self.batch_dir.mkdir(parents=True, exist_ok=True)
        plain = json.dumps(dict(fingerprint), default=lambda x: x.tolist() if hasattr(x, "tolist") else str(x))
        self.fingerprint = json.loads(plain)  # JSON-comparable: tuples become lists, numpy scalars numbers
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
                shown = ", ".join(f"{name} {_shown(stored, name)} -> {_shown(self.fingerprint, name)}"
                                  for name in changed[:6])
                more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
                raise WorkdirMismatchError(
                    f"workdir {self.workdir} holds results of a different run (settings differ: {shown}{more}); "
                    "pass another --workdir or delete it"
                )

    def batch_path(self, index: int) -> pathlib.Path:
        return self.batch_dir / f"batch_{int(index):06d}.npz"

    def is_done(self, index: int) -> bool:
        """Whether batch `index` is stored and readable; a damaged file is set aside as `<name>.damaged` (warned)."""
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
                raise PoseDiffError(f"results of batch {index} have different fields: {sorted(batch)} vs "
                                    f"{sorted(names)}")
        return {name: np.concatenate([batch[name] for batch in batches], axis=0) for name in names}
