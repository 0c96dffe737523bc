"""A restricted unpickler for dataset files that only exist as pickles (3DPW's sequence files).

`pickle.load` can run arbitrary code named in the file. `load_restricted` refuses every global except what
rebuilding numpy arrays needs (`numpy.ndarray`, `numpy.dtype`, numpy's `_reconstruct` / `scalar` /
`_frombuffer`, and `_codecs.encode`, which Python-2-era pickles use for byte strings); dicts, lists, tuples,
strings and numbers come from pickle opcodes and need no global. Anything else (a class, a function such as
`os.system`) raises `DatasetFileError` naming the file and the refused global, before it is called.

Callers still load pickles only from the user's own `manual_dir` (the dataset they downloaded), never from
anywhere else.
"""

from __future__ import annotations

import io
import pathlib
import pickle

import numpy as np

from posediff_jax.data.videopose3d import DatasetFileError


def _allowed_globals() -> dict:
    from numpy._core import multiarray, numeric

    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): __import__("codecs").encode,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = numeric._frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and builtin containers and refuses any other global."""

    def __init__(self, file, source_name: str = "<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source_name = source_name
        self.allowed = _allowed_globals()

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise DatasetFileError(
                f"{self.source_name}: refuses to unpickle global {module}.{name} (only numpy arrays and builtin "
                "containers are allowed in dataset pickles)") from None


def load_restricted(path, encoding: str = "latin1"):
    """Unpickles `path` (a dataset file from the user's manual_dir) with `RestrictedUnpickler`.

    `encoding='latin1'` reads Python-2 pickles of numpy arrays (as 3DPW's are). Errors -> `DatasetFileError`.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetFileError(f"{path}: cannot read ({error})") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), source_name=str(path), encoding=encoding).load()
    except DatasetFileError:
        raise
    except Exception as error:  # truncated file, not a pickle
        raise DatasetFileError(f"{path}: unreadable pickle ({type(error).__name__}: {error})") from None
