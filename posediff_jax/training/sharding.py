"""Data parallelism over every device of every host: a 1-D 'data' mesh, replicated state, sharded batches."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

DATA_AXIS = "data"


def maybe_initialize_distributed(enabled: bool) -> None:
    """`jax.distributed.initialize()` for multi-host runs (coordinator etc. from the environment: TPU pods and
    SLURM are detected automatically; elsewhere set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID)."""
    if enabled or os.environ.get("JAX_COORDINATOR_ADDRESS"):
        jax.distributed.initialize()


def make_data_mesh() -> jax.sharding.Mesh:
    """A mesh with one 'data' axis over all devices of all processes."""
    return jax.make_mesh((jax.device_count(),), (DATA_AXIS,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_global_batch_size(global_batch_size: int) -> int:
    """The global batch must split evenly over devices and processes; returns the per-process batch."""
    from posediff_jax.validation import PoseDiffError

    if global_batch_size % jax.device_count():
        raise PoseDiffError(
            f"training.global_batch_size: {global_batch_size} does not divide over {jax.device_count()} devices"
        )
    return global_batch_size // jax.process_count()


def make_global_batch(local_batch: dict, mesh) -> dict:
    """Per-process numpy batch `{name: [local, ...]}` -> globally sharded jax arrays `[global, ...]`."""
    sharding = batch_sharded(mesh)
    return {
        name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for name, value in local_batch.items()
    }
