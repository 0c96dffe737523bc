"""A restricted unpickler for dataset files that only exist as pickles (3DPW's sequence files).

Every global except what rebuilding numpy arrays needs is refused with a `DatasetFileError` before it is
called. Callers load pickles only from the user's own `manual_dir`.
"""

import io
import pathlib
import pickle

from posediff_jax.data.videopose3d import DatasetFileError


# The globals a pickle of numpy arrays names (numpy 1.x and 2.x module paths), and Python 2's byte strings.
ALLOWED_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
                            | {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
                               for name in ("_reconstruct", "scalar")}
                            | {(module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and builtin containers and refuses any other global."""

    def __init__(self, file, source_name: str = "<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source_name = source_name

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:  # the pattern of Python's pickle docs, "Restricting Globals"
            raise DatasetFileError(
                f"{self.source_name}: refuses to unpickle global {module}.{name} (only numpy arrays and builtin "
                "containers are allowed in dataset pickles)")
        return super().find_class(module, name)


def load_restricted(path, encoding: str = "latin1"):
    """Unpickles `path` with `RestrictedUnpickler` (latin1 reads Python-2 pickles); errors -> `DatasetFileError`."""
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
