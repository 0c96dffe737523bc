"""Memory-bounded evaluation over many hypotheses: fixed-size chunks under `lax.map`.

`chunked_vmap(fn, keys, chunk_size)` evaluates `fn(keys[i])` for every row of `keys` `[m, ...]` as `vmap` over
chunks of `chunk_size` rows inside a `lax.map` over chunks; peak memory is that of one chunk whatever `m`.
`m` is padded up to a multiple of the chunk size and the padding dropped. Because every hypothesis owns its key,
results do not depend on the chunk size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def hypothesis_keys(key, num_hypotheses: int):
    """`[num_hypotheses, 2]`-style keys: `fold_in(key, i)` for hypothesis i (independent of chunking)."""
    return jax.vmap(lambda index: jax.random.fold_in(key, index))(jnp.arange(num_hypotheses))


def chunked_vmap(fn, inputs, chunk_size: int):
    """`jax.vmap(fn)(inputs)` in chunks of `chunk_size` along axis 0 (any PyTree output)."""
    total = jax.tree.leaves(inputs)[0].shape[0]
    chunk_size = max(1, min(int(chunk_size), total))
    num_chunks = -(-total // chunk_size)
    padded = num_chunks * chunk_size

    def pad_and_split(leaf):
        pad = jnp.concatenate([leaf, jnp.repeat(leaf[-1:], padded - total, axis=0)], axis=0) if padded > total else leaf
        return pad.reshape((num_chunks, chunk_size) + leaf.shape[1:])

    chunks = jax.tree.map(pad_and_split, inputs)
    if num_chunks == 1:
        outputs = jax.vmap(fn)(jax.tree.map(lambda leaf: leaf[0], chunks))
        outputs = jax.tree.map(lambda leaf: leaf[None], outputs)
    else:
        outputs = jax.lax.map(jax.vmap(fn), chunks)
    return jax.tree.map(lambda leaf: leaf.reshape((padded,) + leaf.shape[2:])[:total], outputs)
