import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.guidance import heatmap_energy, heatmap_evidence_from_keypoints, stack_evidence
from posediff_jax.sampling import make_sampler
from posediff_jax.sampling import updates
from posediff_jax.sampling.config import SamplerConfig, sampler_config_for
from posediff_jax.prior.gaussian import STANDING_POSE_MM, make_gaussian_prior
from posediff_jax.validation import PoseDiffError

# Compile time dominates these small programs: XLA optimisations off (conftest.fast_compile).
pytestmark = pytest.mark.usefixtures("fast_compile")

jax.config.update("jax_disable_most_optimizations", True)

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
STD_MM = 60.0


@pytest.fixture(scope="module")
def prior():
    return make_gaussian_prior(std_mm=STD_MM)


def evidence_for(pose, root=(0.0, 0.0, 5000.0)):
    from posediff_jax import geometry

    pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(pose) + jnp.asarray(root), K))
    return heatmap_evidence_from_keypoints(pixels, K)


def test_steps_land_on_x0_at_time_zero():
    x0, eps, noise = (jnp.full((17, 3), value) for value in (2.0, 3.0, 4.0))
    np.testing.assert_allclose(updates.ddim_step(x0, eps, 0.3, 1.0, noise, eta=1.0), x0, atol=1e-6)
    np.testing.assert_allclose(updates.ddpm_step(x0, eps, 0.3, 1.0, noise), x0, atol=1e-6)


def test_ddpm_posterior_matches_ddim_with_eta_one_for_consistent_inputs():
    rng = np.random.default_rng(0)
    x0, eps, noise = (jnp.asarray(rng.normal(size=(17, 3)), jnp.float32) for _ in range(3))
    alpha_bar_t, alpha_bar_s = 0.3, 0.6
    np.testing.assert_allclose(
        updates.ddpm_step(x0, eps, alpha_bar_t, alpha_bar_s, noise),
        updates.ddim_step(x0, eps, alpha_bar_t, alpha_bar_s, noise, eta=1.0),
        atol=1e-5,
    )


@pytest.mark.parametrize("method", ["ddim", "ddpm"])
def test_unguided_samples_follow_the_prior(prior, method):
    sampler = make_sampler(prior, None, num_steps=50, method=method)
    poses = np.asarray(sampler.sample(jax.random.PRNGKey(0), None, 400))
    assert poses.shape == (400, 17, 3)
    assert np.all(poses[:, 0] == 0.0)
    np.testing.assert_allclose(poses[:, 1:].mean(0), STANDING_POSE_MM[1:], atol=12.0)
    std = poses[:, 1:].std(0).mean()
    assert 0.9 * STD_MM < std < 1.1 * STD_MM  # few-step samplers slightly under-disperse


def test_deterministic_and_independent_of_chunk_size(prior):
    key = jax.random.PRNGKey(3)
    evidence = evidence_for(STANDING_POSE_MM)
    big = make_sampler(prior, heatmap_energy, num_steps=4, guidance="x0", chunk_size=64, guidance_repeats=1)
    small = make_sampler(prior, heatmap_energy, num_steps=4, guidance="x0", chunk_size=3, guidance_repeats=1)
    first = np.asarray(big.sample(key, evidence, 10))
    np.testing.assert_array_equal(first, np.asarray(big.sample(key, evidence, 10)))
    np.testing.assert_allclose(first, np.asarray(small.sample(key, evidence, 10)), atol=1e-4)
    assert not np.allclose(first, np.asarray(big.sample(jax.random.PRNGKey(4), evidence, 10)))


def test_batch_of_frames_matches_single_frames(prior):
    rng = np.random.default_rng(1)
    poses = [STANDING_POSE_MM + rng.normal(0, 40, (17, 3)).astype(np.float32) * (np.arange(17) > 0)[:, None]
             for _ in range(3)]
    batch = stack_evidence([evidence_for(pose) for pose in poses])
    sampler = make_sampler(prior, heatmap_energy, num_steps=2, guidance="x0", chunk_size=4, guidance_repeats=1)
    key = jax.random.PRNGKey(7)
    hypotheses, energies = sampler.sample_batch(key, batch, 6, with_energies=True)
    assert hypotheses.shape == (3, 6, 17, 3) and energies.shape == (3, 6)
    single = sampler.sample(jax.random.fold_in(key, 2), evidence_for(poses[2]), 6)
    np.testing.assert_allclose(hypotheses[2], single, atol=1e-3)
    np.testing.assert_allclose(energies[1], sampler.energies(hypotheses[1], evidence_for(poses[1])), rtol=1e-4)


def test_bad_configuration_is_rejected(prior):
    with pytest.raises(PoseDiffError, match="method"):
        make_sampler(prior, None, method="euler")
    with pytest.raises(PoseDiffError, match="guidance"):
        make_sampler(prior, None, guidance="cfg")
    with pytest.raises(PoseDiffError, match="num_hypotheses"):
        make_sampler(prior, None, num_steps=2).sample(jax.random.PRNGKey(0), None, 0)


def test_network_prior_dps_guidance_lowers_the_energy():
    from posediff_jax.prior.tiny import make_tiny_prior

    network_prior = make_tiny_prior(0).replace(normalization=make_gaussian_prior(std_mm=STD_MM).normalization)
    evidence = evidence_for(STANDING_POSE_MM)
    key = jax.random.PRNGKey(0)
    _, unguided_energies = make_sampler(network_prior, heatmap_energy, num_steps=4,
                                        guidance_scale=0.0).sample(key, evidence, 16, with_energies=True)
    for guidance in ("x0", "dps"):
        poses, energies = make_sampler(network_prior, heatmap_energy, num_steps=4, guidance=guidance,
                                       guidance_scale=0.3).sample(key, evidence, 16, with_energies=True)
        assert poses.shape == (16, 17, 3) and np.all(np.isfinite(poses))
        # Through a real (random) network the guided hypotheses fit the evidence better than unguided ones.
        assert float(np.mean(energies)) < float(np.mean(unguided_energies)) - 1.0, guidance


def test_hypotheses_drawn_in_groups_equal_one_call(prior):
    evidence = evidence_for(STANDING_POSE_MM)
    sampler = make_sampler(prior, heatmap_energy, num_steps=3, guidance="x0", chunk_size=4, guidance_repeats=1)
    key = jax.random.PRNGKey(5)
    whole = np.asarray(sampler.sample(key, evidence, 10))
    parts = np.concatenate([np.asarray(sampler.sample(key, evidence, 6)),
                            np.asarray(sampler.sample(key, evidence, 4, first_hypothesis=6))])
    np.testing.assert_allclose(parts, whole, atol=1e-5)


def test_repeated_guidance_and_refinement_fit_the_evidence_better(prior):
    rng = np.random.default_rng(2)
    target = STANDING_POSE_MM + rng.normal(0, 50, (17, 3)).astype(np.float32) * (np.arange(17) > 0)[:, None]
    evidence = evidence_for(target)
    key = jax.random.PRNGKey(11)
    base = make_sampler(prior, heatmap_energy, num_steps=6, guidance="x0", guidance_repeats=1)
    repeated = make_sampler(prior, heatmap_energy, num_steps=6, guidance="x0", guidance_repeats=3,
                            final_refinement_steps=3)
    _, base_energy = base.sample(key, evidence, 16, with_energies=True)
    _, repeated_energy = repeated.sample(key, evidence, 16, with_energies=True)
    assert float(np.median(repeated_energy)) < float(np.median(base_energy))
    assert repeated.config.network_evaluations_per_hypothesis() == 6 * 3 + 3
    # One repeat and no refinement is exactly the plain sampler.
    same = make_sampler(prior, heatmap_energy, num_steps=6, guidance="x0", guidance_repeats=1,
                        final_refinement_steps=0)
    np.testing.assert_array_equal(np.asarray(same.sample(key, evidence, 4)), np.asarray(base.sample(key, evidence, 4)))


def test_a_registered_update_rule_is_usable_by_name(prior):
    calls = []

    @updates.register_sampler("test_x0_jump")
    def jump_to_x0(x_t, t, s, denoise, key, config, schedule):
        calls.append(True)
        x0, _ = denoise(x_t, t)
        return jnp.where(s <= 0, x0, x0 * jnp.sqrt(schedule.alpha_bar(s)))

    sampler = make_sampler(prior, None, config=SamplerConfig(method="test_x0_jump", num_steps=3))
    poses = np.asarray(sampler.sample(jax.random.PRNGKey(0), None, 8))
    assert calls and np.all(np.isfinite(poses)) and poses.shape == (8, 17, 3)
    heun = make_sampler(prior, None, method="heun", num_steps=10, guidance_repeats=1)
    assert heun.config.network_evaluations_per_hypothesis() == 20
    samples = np.asarray(heun.sample(jax.random.PRNGKey(1), None, 200))
    np.testing.assert_allclose(samples[:, 1:].mean(0), STANDING_POSE_MM[1:], atol=15.0)


def test_energy_settings_then_user_settings_take_precedence():
    assert sampler_config_for("heatmap") == SamplerConfig(scale_schedule="auto")
    completion = sampler_config_for("completion")
    assert completion.precondition and completion.guidance_scale == 0.006 and completion.max_grad_norm == 500.0
    assert sampler_config_for("completion", guidance_scale=0.01).guidance_scale == 0.01
    assert sampler_config_for(None).method == "ddpm"
    with pytest.raises(PoseDiffError, match="num_steps"):
        sampler_config_for("heatmap", num_steps=1)
    with pytest.raises(PoseDiffError, match="unknown settings"):
        sampler_config_for("heatmap", steps=10)


SPREAD_SCRIPT = """
import sys, jax, numpy as np
from posediff_jax.guidance import heatmap_energy, heatmap_evidence_from_keypoints
from posediff_jax.sampling import make_sampler
from posediff_jax.prior.gaussian import make_gaussian_prior
K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
rng = np.random.default_rng(0)
keypoints = (rng.normal(size=(4, 17, 2)) * 40 + 512).astype(np.float32)
evidence = heatmap_evidence_from_keypoints(keypoints, np.tile(K, (4, 1, 1)), heatmap_size=16)
sampler = make_sampler(make_gaussian_prior(), heatmap_energy, num_steps=3, guidance_scale=0.1, chunk_size=4,
                       guidance_repeats=1)
key = jax.random.PRNGKey(1)
four = sampler.sample_batch(key, evidence, 8)  # 4 frames: a frame per device
three = sampler.sample_batch(key, jax.tree.map(lambda leaf: leaf[:3], evidence), 6, first_hypothesis=2)
frame = jax.tree.map(lambda leaf: leaf[0], evidence)
one = sampler.sample(key, frame, 5)  # one frame: 2 hypotheses per device (5 padded to 8)
on_one_device = make_sampler(make_gaussian_prior(), heatmap_energy, sampler.config, devices=jax.devices()[:1])
kept = on_one_device.sample(key, frame, 5)
np.savez(sys.argv[1], four=four, three=three, one=one, kept=kept)
text = sampler._jitted.lower(sampler.prior, key, frame, np.int32(0), np.int32(0), 5, True).as_text()
print(jax.device_count(), len(four.sharding.device_set), len(kept.sharding.device_set),
      "sdy.manual_computation" in text or "shard_map" in text)
"""


def test_frames_or_hypotheses_spread_over_four_devices_as_on_one(tmp_path, monkeypatch, capsys):
    """Four simulated devices: 4 frames split one per device, 3 frames (and one frame's `sample`) split by
    hypotheses, `devices=[one]` kept on one; every result equals the one-device result (this process's, when it
    has one device, else a one-device process's)."""
    import os
    import subprocess
    import sys

    outputs, printed = {}, {}
    for devices in (1, 4):
        path = tmp_path / f"poses_{devices}.npz"
        if devices == jax.device_count():  # the same script in this process (saves a process start and compile)
            monkeypatch.setattr(sys, "argv", ["spread", str(path)])
            exec(compile(SPREAD_SCRIPT, "spread", "exec"), {"__name__": "spread"})
            printed[devices] = capsys.readouterr().out.split()
        else:
            env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
                       XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
            result = subprocess.run([sys.executable, "-c", SPREAD_SCRIPT, str(path)], capture_output=True,
                                    text=True, env=env, timeout=300)
            assert result.returncode == 0, result.stderr[-2000:]
            printed[devices] = result.stdout.split()
        outputs[devices] = dict(np.load(path))
    assert printed[1][:3] == ["1", "1", "1"] and printed[1][-1] == "False"  # one device: no shard_map at all
    assert printed[4][:3] == ["4", "4", "1"] and printed[4][-1] == "True"  # the frames really are spread
    assert outputs[4]["four"].shape == (4, 8, 17, 3) and outputs[4]["three"].shape == (3, 6, 17, 3)
    assert outputs[4]["one"].shape == (5, 17, 3)
    for name in ("four", "three", "one", "kept"):
        np.testing.assert_allclose(outputs[4][name], outputs[1][name], rtol=1e-4, atol=1e-2, err_msg=name)
    # hypotheses 2..7 of 3 frames are hypotheses 2..7 of the first 3 frames' 8 (every hypothesis owns its key)
    np.testing.assert_allclose(outputs[4]["three"], outputs[1]["four"][:3, 2:8], rtol=1e-4, atol=1e-2)


def test_evidence_dropout_frees_some_hypotheses_from_a_garbled_detection():
    """With evidence dropout each hypothesis ignores some joints' 2D evidence for its whole trajectory: those that
    ignore a garbled wrist detection keep the wrist where the prior (and the true pose) has it, so the best
    hypothesis's wrist is far nearer the truth; the returned energies are against the whole evidence."""
    from posediff_jax import geometry
    from posediff_jax.guidance import keypoint_energy, make_keypoint_evidence

    tight_prior = make_gaussian_prior(std_mm=25.0)
    wrist = 16
    root = jnp.asarray([0.0, 0.0, 5000.0])
    pixels = np.array(geometry.project_to_pixels(jnp.asarray(STANDING_POSE_MM) + root, K))
    pixels[wrist] += [0.0, 40.0]  # the detector put the right wrist 40 px (~170 mm at 5 m) too low
    evidence = make_keypoint_evidence(pixels, K)
    key = jax.random.PRNGKey(0)
    errors = {}
    for rate in (0.0, 0.3):
        sampler = make_sampler(tight_prior, keypoint_energy, num_steps=10, guidance="x0", guidance_scale=1.0,
                               guidance_repeats=1, evidence_dropout=rate)
        poses, energies = sampler.sample(key, evidence, 24, with_energies=True)
        errors[rate] = np.linalg.norm(np.asarray(poses)[:, wrist] - STANDING_POSE_MM[wrist], axis=-1)
        np.testing.assert_allclose(energies, sampler.energies(poses, evidence), rtol=1e-4, atol=1e-3)
    assert errors[0.0].min() > 60.0  # every hypothesis follows the garbled detection
    assert errors[0.3].min() < 0.25 * errors[0.0].min()
    assert np.sum(errors[0.3] < 0.5 * errors[0.0].min()) >= 3  # several hypotheses dropped it, not one


def test_evidence_dropout_needs_per_joint_evidence(prior):
    from posediff_jax.guidance.completion import completion_energy
    from posediff_jax.guidance.evidence import make_completion_evidence

    evidence = make_completion_evidence(STANDING_POSE_MM, np.arange(17) < 8)
    sampler = make_sampler(prior, completion_energy, num_steps=2, guidance="x0", evidence_dropout=0.1)
    with pytest.raises(PoseDiffError, match="evidence_dropout 0.1: .*CompletionEvidence.* no per-joint weights"):
        sampler.sample(jax.random.PRNGKey(0), evidence, 2)
    for bad in (1.0, -0.1, "often", True):
        with pytest.raises(PoseDiffError, match="evidence_dropout"):
            make_sampler(prior, heatmap_energy, evidence_dropout=bad)


def test_eta_beyond_ddpm_and_a_zero_gradient_clip_are_refused():
    """eta > 1 adds more noise than the next noise level holds; max_grad_norm 0 clips every guidance gradient to
    zero (guidance off in silence: guidance_scale 0 or guidance 'none' say so)."""
    assert sampler_config_for("heatmap", eta=1.0, max_grad_norm=1e-3).eta == 1.0
    with pytest.raises(PoseDiffError, match=r"eta: expected a value in \[0, 1\] .*got 100"):
        sampler_config_for("heatmap", eta=100.0)
    with pytest.raises(PoseDiffError, match=r"max_grad_norm: expected > 0, got 0 \(it would switch guidance off"):
        sampler_config_for("completion", max_grad_norm=0.0)
