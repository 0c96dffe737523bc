"""The random key a seed names, built on the host.

`jax.random.PRNGKey(seed)` runs two small compiled programs (a `stage` and `_threefry_seed`); in a warm
`posediff estimate` those cost two executable loads from the persistent cache and their lowering, ~0.1 s of a
~2 s start for a 2-element array. `seed_key` builds the same raw threefry key with NumPy: the seed's 64 bits as
`[high 32, low 32]` uint32 words, what jax documents for a 64-bit seed ("bit-casting to a pair of uint32 values").
For seeds below 2^32 that is exactly `jax.random.PRNGKey(seed)`. Above, jax without x64 keeps only the low 32
bits (seeds 0 and 2^32 give one key); `seed_key` keeps all 64, so every seed the commands accept
(0..2^63 - 1) names its own key.
"""

from __future__ import annotations

import numpy as np

MAX_SEED = 2**63 - 1


def seed_key(seed: int) -> np.ndarray:
    """`[2]` uint32 raw threefry key of an integer seed in 0..`MAX_SEED` (module docstring)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an integer, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed: expected 0..{MAX_SEED}, got {seed}")
    return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], np.uint32)
