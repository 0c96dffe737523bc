"""Spreading one sampler call over several devices: one `shard_map` whose per-device code is the one-device sampler.

The frames are split when their count divides evenly over the devices, otherwise the hypotheses (device d draws
hypotheses `d * ceil(m / D) + i` of every frame: one frame's 200 hypotheses run 100 per device on two). A
hypothesis keeps its key whatever the layout, so results equal the one-device ones up to float rounding inside
batched matmuls. On a CPU the `posediff` command makes one single-threaded device per core (cli.py).
"""

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec


def sampling_mesh(devices=None):
    """A 1-D 'data' mesh of `devices` (default: this process's devices: in a multi-process job each process samples
    its own frames), or None for one device."""
    devices = list(jax.local_devices() if devices is None else devices)
    if len(devices) < 2:
        return None
    return jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def split_over_frames(num_frames: int, num_devices: int) -> bool:
    """Whether a call's frames (True) or its hypotheses (False) are split over the devices."""
    return num_frames % num_devices == 0


def on_devices(batch, devices, prior, keys, evidence_batch, first_hypothesis, num_hypotheses: int):
    """`batch(prior, keys [F, ...], evidence [F, ...], first_hypothesis, m) -> ([F, m, 17, 3], [F, m])` on every
    device of `devices` (None: this process's) for its share of the frames or, when F does not divide, of the
    hypotheses; on one device, `batch` itself."""
    mesh = sampling_mesh(devices)
    if mesh is None:
        return batch(prior, keys, evidence_batch, first_hypothesis, num_hypotheses)
    num_devices = mesh.devices.size
    replicated, split = PartitionSpec(), PartitionSpec("data")
    if split_over_frames(keys.shape[0], num_devices):
        def per_device(prior, keys, evidence_batch, first):
            return batch(prior, keys, evidence_batch, first, num_hypotheses)

        in_specs, out_specs = (replicated, split, split, replicated), (split, split)
    else:
        per_device_hypotheses = -(-int(num_hypotheses) // num_devices)

        def per_device(prior, keys, evidence_batch, first):
            offset = first + jax.lax.axis_index("data").astype(jnp.int32) * per_device_hypotheses
            return batch(prior, keys, evidence_batch, offset, per_device_hypotheses)

        in_specs = (replicated,) * 4
        out_specs = (PartitionSpec(None, "data"), PartitionSpec(None, "data"))
    sharded = jax.shard_map(per_device, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    poses, energies = sharded(prior, keys, evidence_batch, jnp.asarray(first_hypothesis, jnp.int32))
    return poses[:, :num_hypotheses], energies[:, :num_hypotheses]
