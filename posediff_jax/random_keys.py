"""The random key a seed names, built on the host (`jax.random.PRNGKey` runs two compiled programs).

The raw threefry key `[high 32, low 32]` uint32, as jax documents for a 64-bit seed: `jax.random.PRNGKey(seed)`
for seeds below 2^32; above, all 64 bits are kept (jax without x64 keeps the low 32).
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
