"""Input validation: `PoseDiffError("poses: expected shape [..., 17, 3], got [5, 16, 3]")`, not a broadcasting
error deep inside a jitted function."""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

ShapeEntry = Union[int, None, str]

# A 2D coordinate (or a person's extent) beyond this many pixels is garbled (100x a 10,000 px image's side).
GARBLED_PIXELS = 1e6


class PoseDiffError(ValueError):
    """Base class for user-facing errors (bad input, missing files, bad config)."""


class ShapeError(PoseDiffError):
    """An array has the wrong shape or rank."""


class NonFiniteError(PoseDiffError):
    """An array holds NaN or infinite values."""


def format_shape(shape: Sequence[ShapeEntry]) -> str:
    """Formats an expected shape like `[..., 17, 3]` (None prints as `*`)."""
    return "[" + ", ".join("*" if entry is None else str(entry) for entry in shape) + "]"


def check_shape(name: str, array: Any, shape: Sequence[ShapeEntry]) -> None:
    """Raises `ShapeError` unless `array.shape` matches `shape`: ints, None (any size), names (equal sizes) and a
    leading '...' (any leading dimensions)."""
    actual = tuple(np.shape(array))
    expected = list(shape)
    leading_wildcard = expected[:1] == ["..."]
    expected = expected[1:] if leading_wildcard else expected
    message = f"{name}: expected shape {format_shape(shape)}, got {format_shape(actual)}"
    if len(actual) < len(expected) or (len(actual) != len(expected) and not leading_wildcard):
        raise ShapeError(message)
    named: dict[str, int] = {}
    for size, want in zip(actual[len(actual) - len(expected):], expected):
        if isinstance(want, str) and named.setdefault(want, size) != size:
            raise ShapeError(message + f" (dimension '{want}' differs)")
        if want is not None and not isinstance(want, str) and size != want:
            raise ShapeError(message)


def check_finite(name: str, array: Any) -> None:
    """Raises `NonFiniteError` if `array` holds NaN or inf (skipped inside jit tracing)."""
    import jax

    if isinstance(array, jax.core.Tracer):
        return
    values = np.asarray(array)
    if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise NonFiniteError(f"{name}: contains {bad} NaN or infinite value(s)")


def check_array(name: str, array: Any, shape: Sequence[ShapeEntry] | None = None, dtype_kind: str | None = "f",
                allow_nan: bool = False):
    """`array` (numpy, jax or lists) unchanged, checked: `shape` (`check_shape`; None: any), `dtype_kind` ('f' real
    numbers, integers included; 'b' bool; None any), finite unless `allow_nan`; errors name `name`."""
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
            raise ShapeError(f"{name}: expected a numeric array (dtype kind '{dtype_kind}'), "
                             f"got {np.dtype(array.dtype).name}")
    if not allow_nan:
        check_finite(name, array)
    return array


def check_same_shape(name_a: str, array_a: Any, name_b: str, array_b: Any) -> None:
    """Raises `ShapeError` unless the two arrays have the same shape (names both in the message)."""
    shape_a, shape_b = tuple(np.shape(array_a)), tuple(np.shape(array_b))
    if shape_a != shape_b:
        raise ShapeError(f"{name_a} and {name_b}: shapes differ ({format_shape(shape_a)} vs {format_shape(shape_b)})")
