import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.diffusion.parameterization import output_to_x0_and_epsilon, target_for
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import NormalizationStats, compute_normalization_stats, identity_normalization
from posediff_jax.prior import Prior
from posediff_jax.validation import PoseDiffError


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_is_monotone_from_data_to_noise(kind):
    schedule = VPSchedule(kind=kind)
    t = jnp.linspace(0.0, 1.0, 101)
    alpha_bar = schedule.alpha_bar(t)
    assert float(alpha_bar[0]) == pytest.approx(1.0, abs=1e-4)
    assert float(alpha_bar[-1]) < 1e-3
    assert np.all(np.diff(np.asarray(alpha_bar)) <= 1e-7)
    np.testing.assert_allclose(schedule.alpha(t) ** 2 + schedule.sigma(t) ** 2, 1.0, rtol=1e-5)
    assert np.all(np.diff(np.asarray(schedule.log_snr(t[1:-1]))) < 0)
    grid = schedule.time_grid(10)
    assert grid.shape == (11,) and float(grid[0]) == 1.0 and float(grid[-1]) == 0.0
    assert schedule.discrete_times(4).tolist() == [0.25, 0.5, 0.75, 1.0]
    hash(schedule)  # usable as a static jit argument


def test_schedule_rejects_bad_settings():
    with pytest.raises(PoseDiffError, match="schedule kind"):
        VPSchedule(kind="quadratic")
    with pytest.raises(PoseDiffError, match="num_steps"):
        VPSchedule().time_grid(0)


@pytest.mark.parametrize("prediction_type", ["epsilon", "x0", "v"])
def test_parameterizations_recover_x0_and_epsilon_from_their_targets(prediction_type):
    key_x, key_e = jax.random.split(jax.random.PRNGKey(0))
    x0 = jax.random.normal(key_x, (4, 17, 3))
    epsilon = jax.random.normal(key_e, (4, 17, 3))
    schedule = VPSchedule()
    t = jnp.array([0.1, 0.4, 0.7, 0.95])
    alpha, sigma = schedule.alpha(t)[:, None, None], schedule.sigma(t)[:, None, None]
    x_t = alpha * x0 + sigma * epsilon
    target = target_for(prediction_type, x0, epsilon, alpha, sigma)
    got_x0, got_epsilon = output_to_x0_and_epsilon(target, x_t, alpha, sigma, prediction_type)
    np.testing.assert_allclose(got_x0, x0, atol=2e-3)
    np.testing.assert_allclose(got_epsilon, epsilon, atol=2e-3)
    with pytest.raises(PoseDiffError, match="prediction_type"):
        target_for("score", x0, epsilon, alpha, sigma)


def test_normalization_round_trip_and_serialisation():
    poses = np.random.default_rng(0).normal(size=(100, 17, 3)) * 100
    poses[:, 0] = 0.0
    stats = compute_normalization_stats(poses)
    assert float(stats.std[0, 0]) == 1.0  # root spread is floored
    normalized = stats.normalize(poses.astype(np.float32))
    np.testing.assert_allclose(np.asarray(normalized)[:, 1:].std(0), 1.0, rtol=1e-3)
    np.testing.assert_allclose(stats.denormalize(normalized), poses, atol=1e-3)
    again = NormalizationStats.from_dict(stats.to_dict())
    np.testing.assert_array_equal(again.mean, stats.mean)
    with pytest.raises(PoseDiffError, match="normalization.std"):
        NormalizationStats.from_dict({"mean": np.zeros((17, 3)), "std": np.zeros((17, 3))})
    with pytest.raises(PoseDiffError, match="poses"):
        compute_normalization_stats(np.zeros((1, 17, 3)))


def test_prior_denoise_inverts_an_oracle_network_under_jit_and_vmap():
    x0 = jax.random.normal(jax.random.PRNGKey(1), (17, 3))

    def oracle_x0(params, x_t, t):  # predicts the true clean pose
        return jnp.broadcast_to(params["x0"], x_t.shape)

    prior = Prior(params={"x0": x0}, normalization=identity_normalization(), apply_fn=oracle_x0,
                  schedule=VPSchedule(), prediction_type="x0")
    epsilon = jax.random.normal(jax.random.PRNGKey(2), (5, 17, 3))
    t = jnp.linspace(0.1, 0.9, 5)
    x_t = prior.schedule.alpha(t)[:, None, None] * x0 + prior.schedule.sigma(t)[:, None, None] * epsilon
    got_x0, got_epsilon = jax.jit(lambda p, x, s: jax.vmap(p.denoise)(x, s))(prior, x_t, t)
    np.testing.assert_allclose(got_x0, np.broadcast_to(x0, (5, 17, 3)), atol=1e-5)
    np.testing.assert_allclose(got_epsilon, epsilon, atol=1e-4)
