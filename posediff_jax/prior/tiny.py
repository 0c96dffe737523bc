"""A randomly initialised tiny network prior: for tests, benchmarks of plumbing, and `--prior tiny`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.model.registry import make_apply_fn, make_network
from posediff_jax.normalization import identity_normalization
from posediff_jax.prior.prior import Prior


def make_tiny_prior(seed: int = 0, width: int = 32, depth: int = 1, prediction_type: str = "epsilon",
                    normalization: str = "layer_norm") -> Prior:
    """A `Prior` over a random residual MLP (identity normalisation, cosine schedule): not a usable pose model."""
    network = make_network({"name": "residual_mlp", "width": width, "depth": depth, "time_embedding_dim": 16,
                            "normalization": normalization})

    @jax.jit
    def initialise(key, noise_key):
        params = network.init(key, jnp.zeros((1, 17, 3)), jnp.zeros((1,)))
        # Perturb every kernel so the prior is not exactly zero (zero-initialised heads predict eps = 0).
        return jax.tree_util.tree_map_with_path(
            lambda path, leaf: leaf + 0.01 * jax.random.normal(noise_key, leaf.shape)
            if "kernel" in jax.tree_util.keystr(path) else leaf, params)

    params = initialise(jax.random.PRNGKey(seed), jax.random.PRNGKey(seed + 1))
    return Prior(params=params, normalization=identity_normalization(), apply_fn=make_apply_fn(network),
                 schedule=VPSchedule("cosine"), prediction_type=prediction_type,
                 identity=f"tiny(seed={seed}, width={width}, depth={depth}, prediction_type={prediction_type}"
                          + ("" if normalization == "layer_norm" else f", normalization={normalization}") + ")")
