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


def on_one_cpu_device(array):
    """`array`, gathered onto one device when it is a jax.Array spread over several CPU devices; else unchanged.

    For computations that call LAPACK (the SVD of Procrustes alignment): XLA:CPU runs a batched LAPACK call on its
    intra-op thread pool and waits inside a pool thread for the parts it handed out. With one CPU device per core
    (the sampling commands' layout, `cli.cpu_device_flags`) a program spread over every device runs one such call
    per device at once, every pool thread then waits, and nothing runs the parts: the process hangs (seen with
    PA-MPJPE best-of-1000 over 8 frames). On one device the other pool threads are free.
    """
    if not isinstance(array, jax.Array) or not array.is_fully_addressable:
        return array
    devices = array.sharding.device_set
    if len(devices) < 2 or any(device.platform != "cpu" for device in devices):
        return array
    # through the host: the copy also drops a mesh-typed (explicit) sharding that a direct device_put keeps
    return jax.device_put(np.asarray(array), min(devices, key=lambda device: device.id))
