"""The score network: any leading batch shape, vmap/grad, zero-initialised head, time embedding."""

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.model import ScoreNetwork, sinusoidal_time_embedding
from posediff_jax.prior.tiny import make_tiny_prior as make_prior_for_tests


def test_network_handles_any_leading_batch_shape_and_grad():
    network = ScoreNetwork(width=16, depth=2, time_embedding_dim=8)
    params = jax.jit(network.init)(jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,)))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 17, 3))
    out = jax.jit(network.apply)(params, x, jnp.full((2, 5), 0.3))
    assert out.shape == (2, 5, 17, 3)
    np.testing.assert_allclose(out, 0.0)  # zero-initialised output head: starts as the identity denoiser
    single = jax.jit(network.apply)(params, x[0, 0], 0.3)
    assert single.shape == (17, 3)
    prior = make_prior_for_tests(seed=0)
    grad = jax.jit(jax.grad(lambda x_t: jnp.sum(prior.denoise(x_t, 0.5)[0] ** 2)))(x[0])
    assert grad.shape == (5, 17, 3) and np.all(np.isfinite(grad)) and float(jnp.abs(grad).max()) > 0
    vmapped = jax.jit(jax.vmap(lambda x_t: prior.denoise(x_t, 0.5)[0]))(x[0])
    np.testing.assert_allclose(vmapped, jax.jit(prior.denoise)(x[0], 0.5)[0], atol=1e-5)


def test_time_embedding_distinguishes_times():
    features = sinusoidal_time_embedding(jnp.array([0.0, 0.001, 0.5, 1.0]), 32)
    assert features.shape == (4, 32)
    distances = np.linalg.norm(np.asarray(features)[:, None] - np.asarray(features)[None], axis=-1)
    assert np.all(distances[~np.eye(4, dtype=bool)] > 0.01)


def test_output_depends_on_the_pose_and_the_time():
    prior = make_prior_for_tests(seed=1)
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 17, 3))
    apply_fn = jax.jit(prior.apply_fn)
    out = apply_fn(prior.params, x, jnp.full((3,), 0.5))
    assert float(jnp.abs(out[0] - out[1]).max()) > 1e-4  # different poses, different outputs
    later = apply_fn(prior.params, x, jnp.full((3,), 0.9))
    assert float(jnp.abs(out - later).max()) > 1e-4  # the time embedding reaches the output


def test_default_size_is_a_few_million_parameters():
    network = ScoreNetwork()  # width 512, 4 blocks
    shapes = jax.eval_shape(lambda: network.init(jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,))))
    count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes))
    assert 2_000_000 < count < 5_000_000
