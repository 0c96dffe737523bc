"""The score network: any leading batch shape, vmap/grad, zero-initialised head, time embedding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def test_normalization_keeps_every_dense_layer_and_only_the_layernorms_it_names():
    """'final' keeps only the LayerNorm before the head, 'none' none; both keep every dense layer (same names and
    shapes) and compute another function than the LayerNorm network; an unknown value names the choices."""
    from posediff_jax.model import make_network
    from posediff_jax.model.registry import UnknownNetworkError

    def parameters(normalization):
        prior = make_prior_for_tests(seed=3, depth=2, normalization=normalization)
        return prior, {jax.tree_util.keystr(path): leaf.shape
                       for path, leaf in jax.tree_util.tree_leaves_with_path(prior.params)}

    with_norm, shapes_with = parameters("layer_norm")
    assert sum("LayerNorm" in name for name in shapes_with) == 2 * (2 * 2 + 1)  # scale and bias, 2 per block + head
    x = jax.random.normal(jax.random.PRNGKey(4), (3, 17, 3))
    output_with = with_norm.apply_fn(with_norm.params, x, jnp.full((3,), 0.5))
    for normalization, kept in (("final", {"['params']['LayerNorm_0']['scale']", "['params']['LayerNorm_0']['bias']"}),
                                ("none", set())):
        prior, shapes = parameters(normalization)
        assert {name for name in shapes if "LayerNorm" in name} == kept
        assert shapes == {name: shape for name, shape in shapes_with.items() if "LayerNorm" not in name or name in kept}
        output = prior.apply_fn(prior.params, x, jnp.full((3,), 0.5))
        assert output.shape == (3, 17, 3) and np.all(np.isfinite(output))
        assert float(jnp.abs(output_with - output).max()) > 1e-4
    with pytest.raises(UnknownNetworkError, match="normalization 'batch'.*layer_norm"):
        make_network({"name": "residual_mlp", "normalization": "batch"})


def test_a_layernorm_before_the_head_bounds_the_output_for_any_input():
    """Why the shipped prior keeps its final LayerNorm: with it the network's output stays bounded however far a
    guided step pushes the input (the head reads a normalised vector); without any LayerNorm it grows with the
    input's scale, so a guided pose off the training distribution gets an ever larger noise estimate."""
    x = jax.random.normal(jax.random.PRNGKey(7), (4, 17, 3))
    t = jnp.full((4,), 0.5)

    def output_norms(normalization):
        prior = make_prior_for_tests(seed=8, depth=2, normalization=normalization)
        return [float(jnp.linalg.norm(prior.apply_fn(prior.params, scale * x, t))) for scale in (1.0, 1e2, 1e4)]

    for normalization in ("layer_norm", "final"):
        small, large, huge = output_norms(normalization)
        assert huge < 2.0 * max(small, large)  # bounded
    small, large, huge = output_norms("none")
    assert huge > 1e3 * small  # grows with the input
