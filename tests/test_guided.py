import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import geometry, metrics
from posediff_jax.guidance import (
    completion_energy,
    heatmap_energy,
    heatmap_evidence_from_keypoints,
    make_completion_evidence,
)
from posediff_jax.sampling import guided, make_sampler
from posediff_jax.sampling.config import SCALE_SCHEDULES, SamplerConfig
from posediff_jax.prior.gaussian import STANDING_POSE_MM, make_gaussian_prior
from posediff_jax.validation import PoseDiffError

jax.config.update("jax_disable_most_optimizations", True)

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)


@pytest.fixture(scope="module")
def prior():
    return make_gaussian_prior(std_mm=60.0)


@pytest.fixture(scope="module")
def target():
    rng = np.random.default_rng(0)
    pose = STANDING_POSE_MM + rng.normal(0, 60, (17, 3)).astype(np.float32)
    pose[0] = 0
    pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(pose) + jnp.array([100.0, 200.0, 5000.0]), K))
    return pose, heatmap_evidence_from_keypoints(pixels, K)


@pytest.mark.parametrize("guidance", ["dps", "x0"])
def test_guided_samples_have_lower_energy_and_error_than_unguided(prior, target, guidance):
    pose, evidence = target
    key = jax.random.PRNGKey(0)
    unguided = make_sampler(prior, heatmap_energy, num_steps=15, guidance=guidance, guidance_scale=0.0)
    steered = make_sampler(prior, heatmap_energy, num_steps=15, guidance=guidance, guidance_scale=0.3)
    poses_free, energies_free = unguided.sample(key, evidence, 32, with_energies=True)
    poses_guided, energies_guided = steered.sample(key, evidence, 32, with_energies=True)
    assert float(jnp.median(energies_guided)) < 0.5 * float(jnp.median(energies_free))
    error_free = metrics.mpjpe(poses_free, jnp.asarray(pose)[None])
    error_guided = metrics.mpjpe(poses_guided, jnp.asarray(pose)[None])
    assert float(error_guided.mean()) < float(error_free.mean()) - 10.0
    assert np.all(np.asarray(poses_guided[:, 0]) == 0.0)


def test_completion_keeps_known_joints_within_a_few_millimetres(prior):
    rng = np.random.default_rng(1)
    known = STANDING_POSE_MM + rng.normal(0, 80, (17, 3)).astype(np.float32)
    known[0] = 0
    mask = np.zeros(17)
    mask[[1, 2, 3, 4, 5, 6]] = 1  # legs known, upper body free
    evidence = make_completion_evidence(known, mask)
    # The completion energy's registered settings: a small, preconditioned, loosely clipped step.
    from posediff_jax.sampling import sampler_config_for

    sampler = make_sampler(prior, completion_energy, sampler_config_for("completion"))
    poses = np.asarray(sampler.sample(jax.random.PRNGKey(0), evidence, 16))
    known_error = np.linalg.norm(poses[:, mask > 0] - known[mask > 0], axis=-1)
    assert known_error.mean() < 5.0
    free_spread = poses[:, 11:].std(0).mean()
    assert free_spread > 30.0  # free joints still vary like the prior (std 60 mm)


def test_clip_by_norm_and_scale_schedules(prior):
    gradient = jnp.array([[3.0, 4.0]])
    np.testing.assert_allclose(guided.clip_by_norm(gradient, 1.0), [[0.6, 0.8]], rtol=1e-5)
    np.testing.assert_allclose(guided.clip_by_norm(gradient, 10.0), gradient)
    assert np.all(np.isfinite(guided.clip_by_norm(jnp.array([jnp.nan, 1.0]), 1.0)))
    t = jnp.array([1.0, 0.5, 0.0])
    np.testing.assert_allclose(guided.scale_schedule_fn("constant", prior.schedule)(t), [1, 1, 1])
    np.testing.assert_allclose(guided.scale_schedule_fn("increasing", prior.schedule)(t), [0, 0.5, 1])
    alpha_bar = guided.scale_schedule_fn("alpha_bar", prior.schedule)(t)
    assert alpha_bar[0] < 0.01 and alpha_bar[2] == 1.0
    decreasing = guided.scale_schedule_fn("decreasing", prior.schedule)
    np.testing.assert_allclose(decreasing(t), [1.75, 1.0, 0.25], rtol=1e-6)  # front-loaded
    grid = jnp.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(jnp.mean(decreasing(grid)), 1.0, rtol=1e-3)  # the same mean step as 'constant'
    np.testing.assert_allclose(guided.scale_schedule_fn("auto", prior.schedule)(t), decreasing(t))  # unresolved
    assert set(guided.SCALE_SCHEDULE_FACTORS) | {"auto"} == set(SCALE_SCHEDULES)  # every name has a factor
    with pytest.raises(PoseDiffError, match="scale_schedule"):  # validated once, by SamplerConfig
        SamplerConfig(scale_schedule="cubic").validate()


def test_auto_schedule_follows_the_evidence():
    """'auto' (the heatmap energy's setting) becomes 'constant' for exact 2D and 'decreasing' for a detector's;
    any other schedule is left as the user set it."""
    from posediff_jax.sampling.config import SamplerConfig, resolve_scale_schedule, sampler_config_for

    auto = sampler_config_for("heatmap")
    assert auto.scale_schedule == "auto"
    assert resolve_scale_schedule(auto, exact_evidence=True).scale_schedule == "constant"
    assert resolve_scale_schedule(auto, exact_evidence=False).scale_schedule == "decreasing"
    assert resolve_scale_schedule(auto, True).replace(scale_schedule="auto") == auto  # nothing else changes
    for chosen in ("constant", "increasing", "decreasing"):
        config = SamplerConfig(scale_schedule=chosen)
        assert resolve_scale_schedule(config, True) == config == resolve_scale_schedule(config, False)
    assert sampler_config_for("keypoints").scale_schedule == "constant"


def test_dps_gradient_flows_through_the_network(prior, target):
    _, evidence = target
    x_t = jax.random.normal(jax.random.PRNGKey(0), (17, 3))
    t = jnp.asarray(0.5)
    _, _, energy_dps = guided.guided_denoise(prior, heatmap_energy, x_t, t, evidence, "dps", 0.0, 5.0)
    _, _, energy_x0 = guided.guided_denoise(prior, heatmap_energy, x_t, t, evidence, "x0", 0.0, 5.0)
    np.testing.assert_allclose(energy_dps, energy_x0, rtol=1e-5)
    x0_dps, eps_dps, _ = guided.guided_denoise(prior, heatmap_energy, x_t, t, evidence, "dps", 0.5, 1e6)
    x0_x0, _, _ = guided.guided_denoise(prior, heatmap_energy, x_t, t, evidence, "x0", 0.5, 1e6)
    # Gaussian prior: x0_hat = alpha x_t, so the DPS gradient is alpha times the x0 gradient.
    unguided = guided.denoise_with_root(prior, x_t, t)
    alpha = prior.schedule.alpha(t)
    np.testing.assert_allclose(x0_dps - unguided, alpha * (x0_x0 - unguided), rtol=1e-3, atol=1e-5)
    # the noise estimate is the unguided one: consistent with x_t and x0_hat
    np.testing.assert_allclose(alpha * unguided + prior.schedule.sigma(t) * eps_dps, x_t, atol=1e-4)


def test_evidence_dropout_is_an_option_off_by_default_and_a_flag():
    import argparse

    from posediff_jax.sampling.config import (SamplerConfig, add_sampler_arguments, sampler_config_for,
                                              sampler_config_from_args)

    for energy in ("heatmap", "keypoints", "completion", "bone_lengths", None):
        assert sampler_config_for(energy).evidence_dropout == 0.0
    parser = argparse.ArgumentParser()
    add_sampler_arguments(parser, "heatmap")
    assert sampler_config_from_args(parser.parse_args(["--evidence-dropout", "0.05"]), "heatmap").evidence_dropout == 0.05
    for bad in (1.0, -0.5, "often", True, float("nan")):
        with pytest.raises(PoseDiffError, match="evidence_dropout"):
            SamplerConfig(evidence_dropout=bad).validate()


def test_bool_sampler_flags_refuse_words_that_are_not_true_or_false(capsys):
    import argparse

    from posediff_jax.sampling.config import add_sampler_arguments, sampler_config_from_args

    parser = argparse.ArgumentParser()
    add_sampler_arguments(parser, "heatmap")
    for word, value in (("true", True), ("ON", True), ("1", True), ("no", False), ("False", False), ("0", False)):
        assert sampler_config_from_args(parser.parse_args(["--precondition", word]), "heatmap").precondition is value
    with pytest.raises(SystemExit):  # used to be read as False
        parser.parse_args(["--precondition", "maybe"])
    assert "expected true or false" in capsys.readouterr().err
