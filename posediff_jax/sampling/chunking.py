"""Memory-bounded evaluation over many rows: groups of chunks, `vmap`ped side by side, under `lax.map`.

`chunked_vmap(fn, inputs, chunk_size, group_size)` evaluates `fn(inputs[i])` for every row of `inputs` `[m, ...]`.
The rows are split into chunks of at most `chunk_size`; `group_size` chunks run side by side (`vmap` over the
chunks of a group, `vmap` over the rows of a chunk) and the groups run one after another (`lax.map`). So
`chunk_size * group_size` rows are live at once, whatever `m`: that product bounds peak memory, and it is the
batch every dense layer of the network sees, which decides how well the matmuls use the machine.
`plan_chunks` picks the layout with the least padding (padding rows repeat the last row and are dropped).

Every hypothesis owns its key (`hypothesis_keys`) and `fn` sees one row at a time, so a row's result does not
depend on the layout except through floating-point reassociation inside batched kernels.
"""

import dataclasses

import jax
import jax.numpy as jnp

# Rows side by side per sequential iteration (per device), by backend. On a CPU the backward pass of a DPS step
# re-reads every layer's activations, which stay in a core's cache at a few hundred rows ([256, 512] float32 is
# 0.5 MiB) and spill to memory at thousands; accelerators keep gaining with the batch. `TARGET_ROWS` (tests,
# tools/bench_sampler.py --target-rows) overrides it. docs/decisions.md, "Chunk sizes".
TARGET_ROWS = None
DEFAULT_TARGET_ROWS = {"cpu": 256}
DEFAULT_TARGET_ROWS_OTHER = 2048
CPU_TARGET_ROWS_PER_DEVICE = 512  # a CPU split into one single-threaded device per core (the CLI's layout)


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
    # A group of one chunk gets one vmap level, not a size-1 one (each level re-batches the body when traced).
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


def frames_per_iteration(num_hypotheses: int, chunk_size: int) -> int:
    """Frames vmapped side by side per sequential iteration of a batch: enough that frames x rows of one frame's
    hypothesis group reach `default_target_rows()` (at least 1), never more (8 frames x 512 hypotheses side by
    side would be 4,096 rows per step)."""
    rows_per_frame = plan_chunks(num_hypotheses, chunk_size).rows_per_group
    return max(1, default_target_rows() // rows_per_frame)
