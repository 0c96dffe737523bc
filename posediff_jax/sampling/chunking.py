"""Memory-bounded evaluation over many hypotheses: groups of chunks, `vmap`ped side by side, under `lax.map`.

`chunked_vmap(fn, inputs, chunk_size, group_size)` evaluates `fn(inputs[i])` for every row of `inputs` `[m, ...]`.
The rows are split into chunks of at most `chunk_size`; `group_size` chunks run side by side (`vmap` over the
chunks of a group, `vmap` over the rows of a chunk) and the groups run one after another (`lax.map`). So
`chunk_size * group_size` rows are live at once, whatever `m`: that product bounds peak memory, and it is also
the batch every dense layer of the network sees, which decides how well the matmuls use the machine.

Why groups: one frame's hypotheses used to run as chunks of 256 one after another, each a `lax.scan` over the
steps whose matmuls are `[256, 512] @ [512, 512]` - too small to keep the cores busy, and each chunk paid the
loop's fixed cost per step. Running `group_size` chunks per `lax.map` iteration gives every step a batch of
`chunk_size * group_size` rows (docs/benchmarks.md, 'Chunking').

`plan_chunks(m, chunk_size, group_size)` picks the layout: the number of sequential groups is
`ceil(m / (chunk_size * group_size))`, and the chunk size is then shrunk to the smallest that still covers
`m` with that many groups, so padding is below `group_size` rows per group instead of up to a whole group
(10,000 rows, chunks of 256 in groups of 8: 5 groups of 8 chunks of 250, no padding). Padding rows repeat
the last row and are dropped.

Because every hypothesis owns its key (`hypothesis_keys`) and `fn` sees one row at a time, the result of a
row does not depend on the layout except through floating-point reassociation inside batched kernels (XLA's
CPU matmuls can block a batch of 250 rows differently from one of 256); functions without batched reductions
across rows give bitwise-identical results for every layout.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

# Rows per sequential iteration when the caller gives no group size: `group_size = max(1, default_target_rows() //
# chunk_size)`; `sample_batch` also groups frames so that about this many rows (frames x hypotheses) run at once.
# None = the backend's measured value below; tests and tools/bench_sampler.py (--target-rows) set an int.
TARGET_ROWS = None
# Measured (docs/benchmarks.md, 'Chunking'): on an H100 throughput keeps rising with the batch (1 x 200
# hypotheses: 14.5k hyps/s, 8 x 512: 111k, 16 x 4096: 146k, DPS), so small groups waste it; 2048 rows keeps a
# DPS step's activations near 100 MiB. On a CPU the opposite: the backward pass of a DPS step re-reads every
# layer's activations, which stay in cache at a few hundred rows (a [256, 512] float32 activation is 0.5 MiB, the
# L2 of one core) and spill to memory at thousands: 9 SiLU backward passes over [B, 512] take as long as the
# forward at B = 256 and 1,024 but 4x longer at B = 4,096 (2-core AMD EPYC).
DEFAULT_TARGET_ROWS = {"cpu": 256}
DEFAULT_TARGET_ROWS_OTHER = 2048
# Rows per device on a CPU split into several devices (the `posediff` command's one single-threaded device per
# core, cli.py): each device's share of a call. Flat from 256 to 1,024, 512 the best of 2-core A/Bs (two devices,
# shipped prior, DPS: 8 x 512 x 10 steps 3.34 / 3.16 / 3.23 / 3.43 s at 256 / 512 / 1,024 / 2,048 rows; 1 x 10,000
# x 5 steps 3.81 / 3.70 / 3.81 s at 256 / 512 / 1,024).
CPU_TARGET_ROWS_PER_DEVICE = 512


def default_target_rows() -> int:
    """Rows side by side per sequential iteration (per device): `TARGET_ROWS` when set, else the backend's default
    (`CPU_TARGET_ROWS_PER_DEVICE` on a CPU with several devices)."""
    if TARGET_ROWS:
        return int(TARGET_ROWS)
    backend = jax.default_backend()
    if backend == "cpu" and jax.local_device_count() > 1:
        return CPU_TARGET_ROWS_PER_DEVICE
    return DEFAULT_TARGET_ROWS.get(backend, DEFAULT_TARGET_ROWS_OTHER)


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """Layout of `total` rows: `num_groups` sequential groups of `group_size` chunks of `chunk_size` rows."""

    total: int
    chunk_size: int
    group_size: int
    num_groups: int

    @property
    def rows_per_group(self) -> int:
        return self.chunk_size * self.group_size

    @property
    def padded(self) -> int:
        return self.num_groups * self.rows_per_group


def default_group_size(chunk_size: int, target_rows: int | None = None) -> int:
    """Chunks per group when none is given: enough for about `target_rows` (default `default_target_rows()`, read at call
    time) rows side by side."""
    rows = default_target_rows() if target_rows is None else target_rows
    return max(1, int(rows) // max(1, int(chunk_size)))


def plan_chunks(total: int, chunk_size: int, group_size: int | None = None) -> ChunkPlan:
    """The layout `chunked_vmap` uses for `total` rows (module docstring); `group_size=None` uses
    `default_group_size(chunk_size)`. Chunks never exceed `chunk_size`; groups never exceed `group_size`."""
    total = int(total)
    if total < 1:
        raise ValueError(f"chunked_vmap: expected at least one row, got {total}")
    chunk_size = max(1, min(int(chunk_size), total))
    group_size = default_group_size(chunk_size) if group_size is None else max(1, int(group_size))
    num_chunks = -(-total // chunk_size)
    group_size = min(group_size, num_chunks)
    num_groups = -(-num_chunks // group_size)
    # Fewest rows per chunk that still cover `total` with this many groups (less padding, same memory bound).
    chunk_size = -(-total // (num_groups * group_size))
    return ChunkPlan(total=total, chunk_size=chunk_size, group_size=group_size, num_groups=num_groups)


def hypothesis_keys(key, num_hypotheses: int, first_hypothesis=0):
    """`[num_hypotheses, 2]`-style keys: `fold_in(key, first_hypothesis + i)` for hypothesis i, independent of the
    chunking and of drawing the hypotheses in groups (`first_hypothesis` may be traced)."""
    return jax.vmap(lambda index: jax.random.fold_in(key, index))(first_hypothesis + jnp.arange(num_hypotheses))


def chunked_vmap(fn, inputs, chunk_size: int, group_size: int | None = None):
    """`jax.vmap(fn)(inputs)` computed in groups of chunks (module docstring); any PyTree input and output.

    Args:
      fn: function of one row (a PyTree of the leaves' rows).
      inputs: PyTree whose leaves share the leading axis `[m, ...]`.
      chunk_size: at most this many rows per chunk.
      group_size: chunks vmapped side by side per sequential step; None: `default_group_size(chunk_size)`.
    Returns:
      PyTree of `[m, ...]` leaves, as `jax.vmap(fn)(inputs)`.
    """
    total = jax.tree.leaves(inputs)[0].shape[0]
    plan = plan_chunks(total, chunk_size, group_size)
    padded = plan.padded
    # Every vmap level re-batches the body's jaxprs (the sampler's scan, network and gradient) when traced, so a
    # group of one chunk gets a single vmap level rather than a size-1 one.
    if plan.group_size == 1:
        layout, group_fn = (plan.num_groups, plan.chunk_size), jax.vmap(fn)
    else:  # chunks side by side, rows of a chunk side by side
        layout, group_fn = (plan.num_groups, plan.group_size, plan.chunk_size), jax.vmap(jax.vmap(fn))

    def pad_and_split(leaf):
        if padded > total:
            leaf = jnp.concatenate([leaf, jnp.repeat(leaf[-1:], padded - total, axis=0)], axis=0)
        return leaf.reshape(layout + leaf.shape[1:])

    groups = jax.tree.map(pad_and_split, inputs)
    if plan.num_groups == 1:
        outputs = jax.tree.map(lambda leaf: leaf[None], group_fn(jax.tree.map(lambda leaf: leaf[0], groups)))
    else:
        outputs = jax.lax.map(group_fn, groups)
    return jax.tree.map(lambda leaf: leaf.reshape((padded,) + leaf.shape[len(layout):])[:total], outputs)
