"""Host arrays onto the device without compiling anything.

`jnp.asarray(numpy_array)` runs a small jitted copy program (`jit(stage)` in jax 0.10), traced, lowered and
compiled (or looked up in the persistent cache) once per shape and dtype: ~20-90 ms each on a 2-core CPU, which
added up to ~0.5 s of a warm `posediff estimate` start (docs/benchmarks.md, "CLI time to first result").
`jax.device_put` of a NumPy array is a plain transfer.
"""

from __future__ import annotations

import jax
import numpy as np


def to_device(array, dtype=None) -> jax.Array:
    """`array` (NumPy, a Python scalar or list, or a jax.Array) as a jax.Array of `dtype` on the default device."""
    if isinstance(array, jax.Array) and (dtype is None or array.dtype == dtype):
        return array
    return jax.device_put(np.asarray(array, dtype))
