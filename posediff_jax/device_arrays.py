"""Host arrays onto the device without compiling anything (`jnp.asarray` compiles a copy per shape and dtype)."""

from __future__ import annotations

import jax
import numpy as np


def to_device(array, dtype=None) -> jax.Array:
    """`array` (NumPy, a Python scalar or list, or a jax.Array) as a jax.Array of `dtype` on the default device."""
    if isinstance(array, jax.Array) and (dtype is None or array.dtype == dtype):
        return array
    return jax.device_put(np.asarray(array, dtype))


def on_one_cpu_device(array):
    """`array` gathered onto one device when it is a jax.Array spread over several CPU devices, else unchanged.

    For LAPACK calls (Procrustes' SVD): spread over one CPU device per core, each device's call waits in a shared
    pool thread for parts no free thread runs, and the process hangs.
    """
    if not isinstance(array, jax.Array) or not array.is_fully_addressable:
        return array
    devices = array.sharding.device_set
    if len(devices) < 2 or any(device.platform != "cpu" for device in devices):
        return array
    # through the host: the copy also drops a mesh-typed (explicit) sharding that a direct device_put keeps
    return jax.device_put(np.asarray(array), min(devices, key=lambda device: device.id))
