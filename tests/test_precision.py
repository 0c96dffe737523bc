"""bfloat16 matrix products (`model/precision.py`, the sampler's `matmul_dtype`): what is rounded, what is not."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.model.precision import bfloat16_matmuls
from posediff_jax.prior.tiny import make_tiny_prior
from posediff_jax.validation import PoseDiffError


def to_bfloat16_and_back(array):
    return np.asarray(jnp.asarray(array).astype(jnp.bfloat16).astype(jnp.float32))


def test_a_dense_layer_rounds_both_operands_to_bfloat16_and_sums_in_float32():
    layer = nn.Dense(64)
    inputs = jax.random.normal(jax.random.PRNGKey(0), (8, 96))
    params = layer.init(jax.random.PRNGKey(1), inputs)
    params = jax.tree.map(lambda leaf: leaf + 0.1, params)  # a bias that is not zero
    kernel, bias = np.asarray(params["params"]["kernel"]), np.asarray(params["params"]["bias"])
    with bfloat16_matmuls():
        rounded = np.asarray(layer.apply(params, inputs))
    exact = np.asarray(layer.apply(params, inputs))
    # bfloat16 x bfloat16 products are exact in float32, so only the summation order can differ.
    expected = to_bfloat16_and_back(inputs) @ to_bfloat16_and_back(kernel) + bias
    np.testing.assert_allclose(rounded, expected, rtol=1e-5, atol=1e-5)
    assert rounded.dtype == np.float32
    assert np.abs(rounded - exact).max() > 1e-3  # the rounding happened (float32's own product is not this)
    np.testing.assert_allclose(exact, np.asarray(inputs) @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_the_gradient_products_round_their_operands_too():
    from posediff_jax.model.precision import bfloat16_product

    inputs = jax.random.normal(jax.random.PRNGKey(4), (2, 5, 48))
    kernel = jax.random.normal(jax.random.PRNGKey(5), (48, 24)) / 7.0
    cotangent = jax.random.normal(jax.random.PRNGKey(6), (2, 5, 24))
    outputs, pullback = jax.vjp(bfloat16_product, inputs, kernel)
    inputs_gradient, kernel_gradient = pullback(cotangent)
    g, x, k = (to_bfloat16_and_back(a) for a in (cotangent, inputs, kernel))
    np.testing.assert_allclose(outputs, x @ k, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(inputs_gradient, g @ k.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(kernel_gradient, np.einsum("abk,abn->kn", x, g), rtol=1e-5, atol=1e-4)
    exact = np.asarray(cotangent) @ np.asarray(kernel).T
    assert inputs_gradient.dtype == jnp.float32 and np.abs(inputs_gradient - exact).max() > 1e-4
    np.testing.assert_allclose(inputs_gradient, exact, rtol=0.05, atol=0.05)


def test_the_network_stays_close_its_weights_stay_float32_and_init_is_unchanged():
    prior = make_tiny_prior(seed=2, width=64, depth=2, normalization="final")
    x_t = jax.random.normal(jax.random.PRNGKey(3), (32, 17, 3))
    t = jnp.full((32,), 0.4)
    exact = np.asarray(prior.apply_fn(prior.params, x_t, t))
    with bfloat16_matmuls():
        rounded = np.asarray(prior.apply_fn(prior.params, x_t, t))
    relative = np.linalg.norm(rounded - exact) / np.linalg.norm(exact)
    assert 1e-5 < relative < 2e-2, relative
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(prior.params))
    from posediff_jax.model import ScoreNetwork

    network = ScoreNetwork(width=16, depth=1, time_embedding_dim=8)
    shapes = jax.eval_shape(network.init, jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,)))
    with bfloat16_matmuls():  # parameters are created as usual inside the context
        initialised = network.init(jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,)))
    assert jax.tree.map(lambda leaf: (leaf.shape, leaf.dtype), initialised) == \
        jax.tree.map(lambda leaf: (leaf.shape, leaf.dtype), shapes)


def sampler_program(matmul_dtype):
    from posediff_jax.guidance import heatmap_energy, heatmap_evidence_from_keypoints
    from posediff_jax.sampling import make_sampler

    prior = make_tiny_prior(seed=0, width=32, depth=1)
    intrinsics = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]], np.float32)
    pixels = np.random.default_rng(0).uniform(400, 600, (17, 2)).astype(np.float32)
    evidence = heatmap_evidence_from_keypoints(pixels, intrinsics)
    sampler = make_sampler(prior, heatmap_energy, num_steps=3, guidance="dps", guidance_repeats=1,
                           matmul_dtype=matmul_dtype)
    key = jax.random.PRNGKey(0)
    text = jax.jit(lambda key: sampler.sample(key, evidence, 4)).lower(key).as_text()
    return text, np.asarray(sampler.sample(key, evidence, 4))


def test_the_sampler_setting_reaches_the_network_products_forward_and_backward():
    text_bfloat16, poses_bfloat16 = sampler_program("bfloat16")
    text_float32, poses_float32 = sampler_program("float32")
    dots = [line for line in text_bfloat16.splitlines() if "dot_general" in line]
    # The network's products (its width is 32: forward and input gradient) take bfloat16 operands; the energy's
    # own small products (projection, root solve) stay float32, and the float32 program has no bfloat16 at all.
    network_dots = [line for line in dots if "x32x" in line or "32xf32" in line or "32xbf16" in line]
    assert len(network_dots) >= 8 and all("bf16>" in line.split(":")[-1] for line in network_dots), network_dots
    assert any("bf16" not in line for line in dots)
    assert "bf16" not in text_float32
    assert np.all(np.isfinite(poses_bfloat16))
    assert np.abs(poses_bfloat16 - poses_float32).max() > 0  # the setting changes the computation...
    assert np.abs(poses_bfloat16 - poses_float32).mean() < 50.0  # ...not what it computes (mm)


def test_an_unknown_format_is_refused_naming_the_choices():
    from posediff_jax.sampling.config import SamplerConfig, matmul_words, sampler_config_for

    with pytest.raises(PoseDiffError, match=r"matmul_dtype: expected one of \('float32', 'bfloat16'\)"):
        SamplerConfig(matmul_dtype="float16").validate()
    assert sampler_config_for("heatmap").matmul_dtype == "float32"  # the default: the backend's float32 product
    # Report titles name a format other than float32 (evaluate, completion, demo).
    assert matmul_words(SamplerConfig()) == ""
    assert matmul_words(SamplerConfig(matmul_dtype="bfloat16")) == ", bfloat16 matmuls"
