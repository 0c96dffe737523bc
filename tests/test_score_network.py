import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.diffusion.losses import make_denoising_loss, sample_times
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.model import ScoreNetwork, make_prior_for_tests, sinusoidal_time_embedding
from posediff_jax.validation import PoseDiffError


def test_network_handles_any_leading_batch_shape_and_grad():
    network = ScoreNetwork(width=16, depth=2, time_embedding_dim=8)
    params = network.init(jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,)))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 17, 3))
    out = network.apply(params, x, jnp.full((2, 5), 0.3))
    assert out.shape == (2, 5, 17, 3)
    np.testing.assert_allclose(out, 0.0)  # zero-initialised output head: starts as the identity denoiser
    single = network.apply(params, x[0, 0], 0.3)
    assert single.shape == (17, 3)
    prior = make_prior_for_tests(seed=0)
    grad = jax.grad(lambda x_t: jnp.sum(prior.denoise(x_t, 0.5)[0] ** 2))(x[0])
    assert grad.shape == (5, 17, 3) and np.all(np.isfinite(grad))
    vmapped = jax.vmap(lambda x_t: prior.denoise(x_t, 0.5)[0])(x[0])
    np.testing.assert_allclose(vmapped, prior.denoise(x[0], 0.5)[0], atol=1e-5)


def test_time_embedding_distinguishes_times():
    features = sinusoidal_time_embedding(jnp.array([0.0, 0.001, 0.5, 1.0]), 32)
    assert features.shape == (4, 32)
    distances = np.linalg.norm(np.asarray(features)[:, None] - np.asarray(features)[None], axis=-1)
    assert np.all(distances[~np.eye(4, dtype=bool)] > 0.01)


@pytest.mark.parametrize("prediction_type", ["epsilon", "x0", "v"])
def test_loss_is_zero_for_an_oracle_and_positive_otherwise(prediction_type):
    schedule = VPSchedule("linear")
    loss_fn = make_denoising_loss(schedule, prediction_type)
    x0 = jax.random.normal(jax.random.PRNGKey(0), (64, 17, 3))
    key = jax.random.PRNGKey(1)
    time_key, noise_key = jax.random.split(key)
    t = sample_times(time_key, 64, schedule, "continuous", 1000)
    eps = jax.random.normal(noise_key, x0.shape)
    alpha, sigma = schedule.alpha(t)[:, None, None], schedule.sigma(t)[:, None, None]
    targets = {"epsilon": eps, "x0": x0, "v": alpha * eps - sigma * x0}[prediction_type]
    oracle = lambda params, x_t, t_: targets  # noqa: E731  (knows the sampled noise)
    assert float(loss_fn(None, oracle, x0, key)) == pytest.approx(0.0, abs=1e-10)
    zero = lambda params, x_t, t_: jnp.zeros_like(x_t)  # noqa: E731
    assert float(loss_fn(None, zero, x0, key)) > 0.1


def test_discrete_times_lie_on_the_ddpm_grid():
    t = sample_times(jax.random.PRNGKey(0), 1000, VPSchedule(), "discrete", 10)
    np.testing.assert_allclose(np.asarray(t) * 10, np.round(np.asarray(t) * 10), atol=1e-5)
    assert float(t.min()) >= 0.1 and float(t.max()) <= 1.0
    with pytest.raises(PoseDiffError, match="time_sampling"):
        make_denoising_loss(VPSchedule(), time_sampling="uniform")
