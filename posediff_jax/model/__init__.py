"""The Flax score network and small constructors for tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from posediff_jax.model.score_network import ScoreNetwork, sinusoidal_time_embedding

__all__ = ["ScoreNetwork", "sinusoidal_time_embedding", "make_prior_for_tests", "make_apply_fn"]


def make_apply_fn(network: ScoreNetwork):
    """`apply_fn(params, x_t [..., 17, 3], t [...]) -> [..., 17, 3]` for `posediff_jax.prior.Prior`."""

    def apply_fn(params, x_t, t):
        return network.apply(params, x_t, t)

    return apply_fn


def make_prior_for_tests(seed: int = 0, width: int = 32, depth: int = 1, prediction_type: str = "epsilon"):
    """A randomly initialised tiny `Prior` (identity normalisation, cosine schedule) for fast tests."""
    from posediff_jax.diffusion.schedules import VPSchedule
    from posediff_jax.normalization import identity_normalization
    from posediff_jax.prior import Prior

    network = ScoreNetwork(width=width, depth=depth, time_embedding_dim=16)

    @jax.jit
    def initialise(key, noise_key):
        params = network.init(key, jnp.zeros((1, 17, 3)), jnp.zeros((1,)))
        # Perturb every kernel so the prior is not exactly zero (zero-initialised heads predict eps = 0).
        return jax.tree_util.tree_map_with_path(
            lambda path, leaf: leaf + 0.01 * jax.random.normal(noise_key, leaf.shape)
            if "kernel" in jax.tree_util.keystr(path) else leaf,
            params,
        )

    params = initialise(jax.random.PRNGKey(seed), jax.random.PRNGKey(seed + 1))
    return Prior(params=params, normalization=identity_normalization(), apply_fn=make_apply_fn(network),
                 schedule=VPSchedule("cosine"), prediction_type=prediction_type)
