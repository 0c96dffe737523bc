"""Moved to `posediff_jax.data.synthetic` (data generation belongs to data/); this re-export keeps old imports
working until their callers are updated."""

from posediff_jax.data.synthetic import TEMPLATE, synthetic_poses  # noqa: F401
