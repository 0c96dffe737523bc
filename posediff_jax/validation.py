"""Input validation: one clear error that names the array and the expected shape.

Every public entry point that takes user arrays calls `check_array`, so a wrong joint count, a NaN or a
mismatched shape surfaces as `PoseDiffError("poses: expected shape [..., 17, 3], got [5, 16, 3]")` instead of
a broadcasting error deep inside a jitted function.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

ShapeEntry = Union[int, None, str]

# A 2D keypoint coordinate (or a person's extent) beyond this many pixels is garbled, not a detection: 100x the
# side of a 10,000 px image. Detection files mask such joints like NaN ones (data/videopose3d.py); keypoints a user
# hands the commands are refused with the joint named (guidance/render.py).
GARBLED_PIXELS = 1e6


class PoseDiffError(ValueError):
    """Base class for user-facing errors (bad input, missing files, bad config)."""


class ShapeError(PoseDiffError):
    """An array has the wrong shape or rank."""


class NonFiniteError(PoseDiffError):
    """An array holds NaN or infinite values."""


def format_shape(shape: Sequence[ShapeEntry]) -> str:
    """Formats an expected shape like `[..., 17, 3]` (None prints as `*`)."""
    parts = []
    for entry in shape:
        if entry is None:
            parts.append("*")
        else:
            parts.append(str(entry))
    return "[" + ", ".join(parts) + "]"


def _is_tracer(array: Any) -> bool:
    try:
        import jax

        return isinstance(array, jax.core.Tracer)
    except Exception:  # pragma: no cover - jax always importable in this package
        return False


def check_shape(name: str, array: Any, shape: Sequence[ShapeEntry]) -> None:
    """Raises `ShapeError` unless `array.shape` matches `shape`.

    `shape` entries: an int (that size), None (any size), a string naming a dimension (any size, but
    all entries with the same name must agree), or a leading '...' (any number of leading dimensions).
    """
    actual = tuple(np.shape(array))
    expected = list(shape)
    leading_wildcard = bool(expected) and expected[0] == "..."
    if leading_wildcard:
        expected = expected[1:]
        ok_rank = len(actual) >= len(expected)
        tail = actual[len(actual) - len(expected):] if expected else ()
    else:
        ok_rank = len(actual) == len(expected)
        tail = actual
    message = f"{name}: expected shape {format_shape(shape)}, got {format_shape(actual)}"
    if not ok_rank:
        raise ShapeError(message)
    named: dict[str, int] = {}
    for size, want in zip(tail, expected):
        if want is None:
            continue
        if isinstance(want, str):
            if named.setdefault(want, size) != size:
                raise ShapeError(message + f" (dimension '{want}' differs)")
            continue
        if size != want:
            raise ShapeError(message)


def check_finite(name: str, array: Any) -> None:
    """Raises `NonFiniteError` if `array` holds NaN or inf (skipped inside jit tracing)."""
    if _is_tracer(array):
        return
    values = np.asarray(array)
    if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise NonFiniteError(f"{name}: contains {bad} NaN or infinite value(s)")


def check_array(
    name: str,
    array: Any,
    shape: Sequence[ShapeEntry] | None = None,
    dtype_kind: str | None = "f",
    allow_nan: bool = False,
):
    """Validates an array and returns it unchanged (numpy arrays stay numpy, jax arrays stay jax).

    Args:
      name: how the array is called in the message (e.g. 'keypoints_2d').
      array: the array (numpy, jax or nested lists).
      shape: expected shape, see `check_shape`; None skips the check.
      dtype_kind: numpy dtype kinds allowed ('f' real numbers (integers accepted), 'b' bool, None any).
      allow_nan: when False, NaN/inf raise `NonFiniteError`.
    """
    if array is None:
        raise ShapeError(f"{name}: expected an array of shape {format_shape(shape or [])}, got None")
    if not hasattr(array, "shape"):
        array = np.asarray(array)
    if shape is not None:
        check_shape(name, array, shape)
    if dtype_kind is not None:
        kind = np.dtype(array.dtype).kind
        allowed = set(dtype_kind) | ({"i", "u"} if "f" in dtype_kind else set())
        if kind not in allowed:
            raise ShapeError(f"{name}: expected a numeric array (dtype kind '{dtype_kind}'), got {np.dtype(array.dtype).name}")
    if not allow_nan:
        check_finite(name, array)
    return array


def check_same_shape(name_a: str, array_a: Any, name_b: str, array_b: Any) -> None:
    """Raises `ShapeError` unless the two arrays have the same shape (names both in the message)."""
    shape_a, shape_b = tuple(np.shape(array_a)), tuple(np.shape(array_b))
    if shape_a != shape_b:
        raise ShapeError(
            f"{name_a} and {name_b}: shapes differ ({format_shape(shape_a)} vs {format_shape(shape_b)})"
        )
