"""The denoising loss: oracle targets give zero, a zero predictor gives the target's variance, time sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.diffusion.losses import make_denoising_loss, sample_times
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.validation import PoseDiffError


def _sampled_noise(key, x0, schedule, time_sampling="continuous", num_train_steps=1000):
    """Reproduces the loss's own draws (time then noise from `split(key)`)."""
    time_key, noise_key = jax.random.split(key)
    t = sample_times(time_key, x0.shape[0], schedule, time_sampling, num_train_steps)
    return t, jax.random.normal(noise_key, x0.shape)


@pytest.mark.parametrize("prediction_type", ["epsilon", "x0", "v"])
@pytest.mark.parametrize("time_sampling", ["continuous", "discrete"])
def test_loss_is_zero_for_an_oracle_and_positive_otherwise(prediction_type, time_sampling):
    schedule = VPSchedule("linear")
    loss_fn = make_denoising_loss(schedule, prediction_type, time_sampling, num_train_steps=100)
    x0 = jax.random.normal(jax.random.PRNGKey(0), (64, 17, 3))
    key = jax.random.PRNGKey(1)
    t, eps = _sampled_noise(key, x0, schedule, time_sampling, 100)
    alpha, sigma = schedule.alpha(t)[:, None, None], schedule.sigma(t)[:, None, None]
    targets = {"epsilon": eps, "x0": x0, "v": alpha * eps - sigma * x0}[prediction_type]

    def oracle(params, x_t, t_):  # knows the sampled noise; also checks what the network is fed
        np.testing.assert_allclose(x_t, alpha * x0 + sigma * eps, atol=1e-6)
        np.testing.assert_allclose(t_, t)
        return targets

    assert float(loss_fn(None, oracle, x0, key)) == pytest.approx(0.0, abs=1e-10)
    zero = lambda params, x_t, t_: jnp.zeros_like(x_t)  # noqa: E731
    assert float(loss_fn(None, zero, x0, key)) > 0.1


def test_zero_predictor_epsilon_loss_is_the_noise_variance():
    loss_fn = make_denoising_loss(VPSchedule("cosine"), "epsilon")
    x0 = jnp.zeros((4096, 17, 3))
    loss = float(loss_fn(None, lambda params, x_t, t: jnp.zeros_like(x_t), x0, jax.random.PRNGKey(3)))
    assert loss == pytest.approx(1.0, abs=0.01)


def test_loss_gradient_reaches_the_parameters():
    loss_fn = make_denoising_loss(VPSchedule("cosine"), "epsilon")
    x0 = jax.random.normal(jax.random.PRNGKey(0), (32, 17, 3))
    apply_fn = lambda params, x_t, t: params["scale"] * x_t  # noqa: E731
    grad = jax.grad(loss_fn)({"scale": jnp.float32(0.0)}, apply_fn, x0, jax.random.PRNGKey(2))
    assert float(grad["scale"]) < 0.0  # increasing the scale lowers the loss (x_t correlates with eps)


def test_discrete_times_lie_on_the_ddpm_grid_and_continuous_in_range():
    t = sample_times(jax.random.PRNGKey(0), 1000, VPSchedule(), "discrete", 10)
    np.testing.assert_allclose(np.asarray(t) * 10, np.round(np.asarray(t) * 10), atol=1e-5)
    assert float(t.min()) == pytest.approx(0.1) and float(t.max()) == pytest.approx(1.0)
    assert len(np.unique(np.round(np.asarray(t) * 10))) == 10
    schedule = VPSchedule()
    t = sample_times(jax.random.PRNGKey(0), 1000, schedule, "continuous", 10)
    assert float(t.min()) >= schedule.t_min and float(t.max()) <= 1.0
    assert len(np.unique(np.asarray(t))) > 900


def test_bad_settings_are_clear_errors():
    with pytest.raises(PoseDiffError, match="time_sampling"):
        make_denoising_loss(VPSchedule(), time_sampling="uniform")
    with pytest.raises(PoseDiffError, match="prediction"):
        make_denoising_loss(VPSchedule(), prediction_type="score")
