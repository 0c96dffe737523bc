"""Data parallelism over every device of every host: a 1-D 'data' mesh, replicated state, sharded batches."""

import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

DATA_AXIS = "data"
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
PROCESS_ID_ENV = "JAX_PROCESS_ID"


def distributed_arguments(environ=None) -> dict:
    """`jax.distributed.initialize` keyword arguments from JAX_NUM_PROCESSES / JAX_PROCESS_ID where set
    (for clusters JAX does not detect itself)."""
    from posediff_jax.validation import PoseDiffError
    environ = os.environ if environ is None else environ
    arguments = {}
    for name, key in ((NUM_PROCESSES_ENV, "num_processes"), (PROCESS_ID_ENV, "process_id")):
        if environ.get(name, "").strip():
            try:
                arguments[key] = int(environ[name])
            except ValueError:
                raise PoseDiffError(f"{name}: expected an integer, got {environ[name]!r}") from None
    return arguments


def maybe_initialize_distributed(enabled: bool) -> None:
    """`jax.distributed.initialize()` once per process when `enabled` or JAX_COORDINATOR_ADDRESS is set
    (docs/multihost.md); must run before anything touches a JAX device."""
    if not (enabled or os.environ.get("JAX_COORDINATOR_ADDRESS")) or jax.distributed.is_initialized():
        return
    jax.distributed.initialize(**distributed_arguments())


def make_data_mesh() -> jax.sharding.Mesh:
    return jax.make_mesh((jax.device_count(),), (DATA_AXIS,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def step_batch_sharded(mesh) -> NamedSharding:
    """`[steps, batch, ...]` arrays: the batch axis over 'data'."""
    return NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))


def check_global_batch_size(global_batch_size: int) -> int:
    """The per-process batch; the global batch must split evenly over the devices."""
    from posediff_jax.validation import PoseDiffError
    if global_batch_size % jax.device_count():
        raise PoseDiffError(f"training.global_batch_size: {global_batch_size} does not divide over "
                            f"{jax.device_count()} devices")
    return global_batch_size // jax.process_count()


def make_global_batch(local_batch: dict, mesh) -> dict:
    """Per-process numpy batch `{name: [local, ...]}` -> globally sharded jax arrays `[global, ...]`."""
    sharding = batch_sharded(mesh)
    return {name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
            for name, value in local_batch.items()}
