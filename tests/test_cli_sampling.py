import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import cli, geometry
from posediff_jax.guidance import bone_lengths, heatmap_evidence_from_keypoints
from posediff_jax.prior.gaussian import STANDING_POSE_MM

jax.config.update("jax_disable_most_optimizations", True)

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
FAST = ["--prior", "gaussian", "--steps", "4", "--num-hypotheses", "3", "--quiet"]


def keypoints():
    return np.asarray(geometry.project_to_pixels(jnp.asarray(STANDING_POSE_MM + np.array([0, 0, 5000.0])), K))


def outputs(folder):
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("out"))


def test_estimate_from_batched_keypoints_writes_npz_and_png(tmp_path):
    source = tmp_path / "in.npz"
    np.savez(source, keypoints_2d=np.stack([keypoints(), keypoints() + 3.0]), intrinsics=K)
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), *FAST]) == 0
    with np.load(tmp_path / "out.npz") as result:
        assert result["hypotheses"].shape == (2, 3, 17, 3)
        assert result["energies"].shape == (2, 3)
        assert result["reprojection_weighted"].shape == (2, 17, 3)
        assert result["root_translation"].shape == (2, 3)
        assert abs(float(result["root_translation"][0, 2]) - 5000.0) < 1500.0
    assert outputs(tmp_path) == ["out.npz", "out.png"]


def test_estimate_from_heatmaps_and_keypoint_energy(tmp_path):
    evidence = heatmap_evidence_from_keypoints(keypoints(), K)
    source = tmp_path / "in.npz"
    np.savez(source, heatmaps=np.asarray(evidence.heatmaps), image_to_heatmap=np.asarray(evidence.image_to_heatmap),
             intrinsics=K)
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), "--no-plot",
                     "--guidance", "x0", *FAST]) == 0
    with np.load(tmp_path / "out.npz") as result:
        assert result["hypotheses"].shape == (1, 3, 17, 3) and str(result["energy"]) == "heatmap"
    keypoint_source = tmp_path / "kp.npz"
    np.savez(keypoint_source, keypoints_2d=keypoints(), intrinsics=K)
    assert cli.main(["estimate", "--input", str(keypoint_source), "--energy", "keypoints", "--output",
                     str(tmp_path / "out2.npz"), "--no-plot", "--guidance", "x0", "--steps", "2", *FAST[:2],
                     "--num-hypotheses", "2", "--quiet"]) == 0
    with np.load(tmp_path / "out2.npz") as result:
        assert str(result["energy"]) == "keypoints" and result["hypotheses"].shape == (1, 2, 17, 3)
        assert np.all(np.isfinite(result["hypotheses"])) and np.all(result["hypotheses"][..., 0, :] == 0)


@pytest.mark.parametrize(
    "arrays, message",
    [
        (lambda h: dict(heatmaps=np.where(h > 0.5, np.nan, h), image_to_heatmap=np.eye(2, 3), intrinsics=K), "NaN"),
        (lambda h: dict(heatmaps=h - 0.5, image_to_heatmap=np.eye(2, 3), intrinsics=K), "negative"),
        (lambda h: dict(heatmaps=h[:16], image_to_heatmap=np.eye(2, 3), intrinsics=K), "17 joint maps"),
        (lambda h: dict(heatmaps=h, image_to_heatmap=np.eye(2, 3)), "intrinsics"),
        (lambda h: dict(heatmaps=h[:, :0], image_to_heatmap=np.eye(2, 3), intrinsics=K), "zero-size"),
        (lambda h: dict(heatmaps=h, intrinsics=K), "image_to_heatmap"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, arrays, message):
    heatmaps = np.asarray(heatmap_evidence_from_keypoints(keypoints(), K).heatmaps)
    source = tmp_path / "in.npz"
    np.savez(source, **arrays(heatmaps))
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), *FAST]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert outputs(tmp_path) == []
    assert [path.name for path in tmp_path.iterdir()] == ["in.npz"]


def test_image_without_detector_gives_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "posediff_jax.detector", None)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8 not really a photo")
    assert cli.main(["estimate", "--image", str(tmp_path / "photo.jpg"), "--output", str(tmp_path / "out.npz"),
                     *FAST]) == 2
    assert "detector" in capsys.readouterr().err


def test_complete_keeps_known_joints(tmp_path):
    known = STANDING_POSE_MM + np.random.default_rng(0).normal(0, 50, (17, 3)).astype(np.float32)
    known[0] = 0
    mask = np.zeros(17)
    mask[[1, 2, 3, 4, 5, 6]] = 1
    known[mask == 0] = np.nan
    source = tmp_path / "in.npz"
    np.savez(source, known_joints=known, mask=mask)
    assert cli.main(["complete", "--input", str(source), "--output", str(tmp_path / "out.npz"), "--prior",
                     "gaussian", "--steps", "50", "--num-hypotheses", "4", "--quiet"]) == 0
    with np.load(tmp_path / "out.npz") as result:
        assert result["hypotheses"].shape == (1, 4, 17, 3)
        assert float(result["known_joint_error_mm"].max()) < 5.0
        assert json.loads(str(result["sampler"]))["guidance_repeats"] == 1  # completion's registered setting
    assert outputs(tmp_path) == ["out.npz", "out.png"]
    # Evidence dropout needs per-joint 2D weights: a named error before sampling, and no output.
    assert cli.main(["complete", "--input", str(source), "--output", str(tmp_path / "dropped.npz"), "--prior",
                     "gaussian", "--steps", "4", "--num-hypotheses", "4", "--quiet", "--evidence-dropout", "0.1"]) == 2
    assert outputs(tmp_path) == ["out.npz", "out.png"]


def test_generate_and_bone_length_guidance(tmp_path):
    assert cli.main(["generate", "--output", str(tmp_path / "out.npz"), *FAST]) == 0
    with np.load(tmp_path / "out.npz") as result:
        assert result["hypotheses"].shape == (3, 17, 3) and np.all(result["hypotheses"][:, 0] == 0)
    targets = tmp_path / "bones.npz"
    wanted = np.asarray(bone_lengths(jnp.asarray(STANDING_POSE_MM))) * 1.15
    np.savez(targets, bone_lengths=wanted)
    common = ["--prior", "gaussian", "--steps", "20", "--num-hypotheses", "4", "--quiet", "--no-plot"]
    assert cli.main(["generate", "--bone-lengths", str(targets), "--output", str(tmp_path / "out_bones.npz"),
                     *common]) == 0
    assert cli.main(["generate", "--output", str(tmp_path / "out_free.npz"), *common]) == 0
    with np.load(tmp_path / "out_bones.npz") as guided, np.load(tmp_path / "out_free.npz") as free:
        guided_error = np.abs(guided["bone_lengths"] - wanted).mean()
        free_error = np.abs(free["bone_lengths"] - wanted).mean()
    assert guided_error < 0.5 * free_error


def test_output_defaults_from_the_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "photo_like.npz", keypoints_2d=keypoints(), intrinsics=K)
    assert cli.main(["estimate", "--input", "photo_like.npz", *FAST]) == 0
    assert (tmp_path / "photo_like_hypotheses.npz").is_file() and (tmp_path / "photo_like_hypotheses.png").is_file()
    assert cli.main(["generate", "--no-plot", *FAST]) == 0
    with np.load(tmp_path / "generated_poses.npz") as result:
        assert result["hypotheses"].shape == (3, 17, 3)
    # Finished files get the user's umask, not mkstemp's 0600.
    assert (tmp_path / "generated_poses.npz").stat().st_mode & 0o044 == 0o044


@pytest.mark.parametrize("output", ["/proc/posediff_x.npz", "missing_folder/x.npz", "a_folder.npz"])
def test_unwritable_output_fails_before_any_sampling(tmp_path, monkeypatch, capsys, output):
    from posediff_jax.sampling.sampler import Sampler

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_folder.npz").mkdir()
    monkeypatch.setattr(Sampler, "__post_init__", lambda self: pytest.fail("sampled before checking"))
    assert cli.main(["generate", "--output", output, *FAST]) == 2
    error = capsys.readouterr().err.strip()
    assert "--output" in error and len(error.splitlines()) == 1


@pytest.mark.parametrize("flags, message", [
    (["--seed", "9223372036854775808"], "--seed"),
    (["--seed", "-1"], "--seed"),
    (["--steps", "1"], "num_steps"),
    (["--guidance-scale", "nan"], "guidance_scale"),
])
def test_bad_sampling_flags_are_one_line_errors(tmp_path, capsys, flags, message):
    assert cli.main(["generate", "--output", str(tmp_path / "out.npz"), "--prior", "gaussian", "--quiet",
                     "--num-hypotheses", "2", *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()


def test_random_bytes_input_is_not_a_valid_npz(tmp_path, capsys):
    (tmp_path / "junk.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    assert cli.main(["estimate", "--input", str(tmp_path / "junk.npz"), "--output", str(tmp_path / "out.npz"),
                     *FAST]) == 2
    error = capsys.readouterr().err.strip()
    assert "not a valid .npz" in error and "allow_pickle" not in error


def test_progress_counts_hypotheses_in_groups_and_results_do_not_depend_on_them(tmp_path, capsys):
    import argparse

    from posediff_jax.commands import common
    from posediff_jax.prior.gaussian import make_gaussian_prior
    from posediff_jax.sampling import make_sampler

    evidence = heatmap_evidence_from_keypoints(keypoints()[None], K[None])
    sampler = make_sampler(make_gaussian_prior(), None, num_steps=2, chunk_size=8)
    args = argparse.Namespace(seed=3, num_hypotheses=1500, quiet=False)
    grouped, _ = common.sample_in_batches(sampler, evidence, args, "estimate")
    bar = capsys.readouterr().err
    assert "1500/1500" in bar and "32/1500" in bar  # updated per group of 4 x chunk_size hypotheses
    whole = np.asarray(sampler.sample(jax.random.fold_in(jax.random.PRNGKey(3), 0), None, 1500))
    np.testing.assert_allclose(grouped[0], whole, atol=1e-4)


def test_estimate_widens_keypoint_heatmaps_by_the_detector_sigma(tmp_path, capsys):
    from posediff_jax.commands import estimate
    from posediff_jax.guidance.render import DETECTOR_SIGMA

    source = tmp_path / "in.npz"
    np.savez(source, keypoints_2d=keypoints(), intrinsics=K)
    parser = cli.build_parser()
    assert parser.parse_args(["estimate", "--input", str(source)]).detector_sigma == DETECTOR_SIGMA
    exact, _, exact_flag = estimate.evidence_from_npz(source, "heatmap", 2.0, 0.0)
    detected, _, detected_flag = estimate.evidence_from_npz(source, "heatmap", 2.0, DETECTOR_SIGMA)
    # which 2D is exact decides the 'auto' guidance schedule: keypoints without detector error only
    assert exact_flag is True
    assert detected_flag is False
    heatmap_file = tmp_path / "heatmaps.npz"
    np.savez(heatmap_file, heatmaps=np.asarray(exact.heatmaps), image_to_heatmap=np.asarray(exact.image_to_heatmap),
             intrinsics=K)
    assert estimate.evidence_from_npz(heatmap_file, "heatmap", 2.0, 0.0)[2] is False  # a detector's heatmaps
    mass_ratio = np.asarray(detected.heatmaps).sum() / np.asarray(exact.heatmaps).sum()
    np.testing.assert_allclose(mass_ratio, 1.0 + (DETECTOR_SIGMA / 2.0) ** 2, rtol=0.05)  # area ~ sigma^2
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"),
                     "--detector-sigma", "-1", *FAST]) == 2
    error = capsys.readouterr().err.strip()
    assert "detector_sigma" in error and len(error.splitlines()) == 1
    assert outputs(tmp_path) == []


def test_auto_prior_follows_the_evidence(tmp_path, monkeypatch):
    """`--prior auto` (the default) loads the bone-proportion prior for exact keypoints (`--detector-sigma 0`) and the
    default prior for a detector's keypoints or heatmaps; a named prior is loaded as named."""
    from posediff_jax import prior as prior_lib
    from posediff_jax.prior.gaussian import make_gaussian_prior

    requests = []

    def fake_resolve(spec=None, build_network=True, exact_evidence=False):
        requests.append((spec, exact_evidence))
        return make_gaussian_prior()

    monkeypatch.setattr(prior_lib, "resolve_prior", fake_resolve)
    source = tmp_path / "in.npz"
    np.savez(source, keypoints_2d=keypoints(), intrinsics=K)
    fast = [flag for flag in FAST if flag not in ("--prior", "gaussian")]
    for extra in (["--detector-sigma", "0"], [], ["--detector-sigma", "0", "--prior", "default"]):
        assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), "--no-plot",
                         *fast, *extra]) == 0
        with np.load(tmp_path / "out.npz") as result:
            assert str(result["prior"]) == {0: "wide_proportions (auto)", 1: "default (auto)", 2: "default"}[
                len(requests) - 1]
            # The settings it ran with, 'auto' resolved: the constant step for exact 2D, front-loaded otherwise.
            settings = json.loads(str(result["sampler"]))
            assert settings["scale_schedule"] == ("decreasing" if extra == [] else "constant")
            assert settings["num_steps"] == 4 and settings["evidence_dropout"] == 0.0
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), "--no-plot", *fast,
                     "--evidence-dropout", "0.05"]) == 0
    with np.load(tmp_path / "out.npz") as result:
        assert json.loads(str(result["sampler"]))["evidence_dropout"] == 0.05
    requests.pop()
    assert requests == [("auto", True), ("auto", False), ("default", True)]
    assert prior_lib.loading.AUTO_PRIORS == {True: "wide_proportions", False: "default"}


@pytest.mark.parametrize("flags, message", [
    (["--eta", "100"], "eta: expected a value in [0, 1]"),
    (["--max-grad-norm", "0"], "max_grad_norm: expected > 0, got 0"),
    (["--detector-sigma", "1e6"], "--detector-sigma: 1e+06 heatmap pixels is wider than the 64-px heatmap"),
    (["--sigma", "1e6"], "--sigma: 1e+06 heatmap pixels is wider than the 64-px heatmap"),
])
def test_nonsense_sampler_and_heatmap_settings_are_one_line_errors(tmp_path, capsys, flags, message):
    source = tmp_path / "in.npz"
    np.savez(source, keypoints_2d=keypoints(), intrinsics=K)
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), *FAST, *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert outputs(tmp_path) == []


def test_a_pose_behind_the_camera_is_refused_not_written(tmp_path, capsys):
    """Keypoints of an upside-down person (turned 180 degrees about the principal point) are an upright pose seen
    from behind the lens: the solved root lies behind the camera, which no imaged person does."""
    source = tmp_path / "in.npz"
    np.savez(source, keypoints_2d=2 * K[:2, 2] - keypoints(), intrinsics=K)
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), *FAST]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 2 and "--num-steps 4" in error[0], error  # the few-steps warning, then the refusal
    assert "implausible result: 1 of 1 frame(s) put the person at or behind the camera" in error[1], error
    assert outputs(tmp_path) == []


def test_estimate_from_a_camera_rig_writes_reference_and_world_poses(tmp_path, capsys):
    """Three cameras around a standing person (a lost view in frame 1): hypotheses in camera 0's frame, their
    world coordinates at the root all cameras agree on, one line for a rig in metres."""
    angles = np.deg2rad([0.0, 90.0, 200.0])
    rotations = np.stack([[[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]] for a in angles])
    translations = np.tile([0.0, 0.0, 5000.0], (3, 1))
    world = STANDING_POSE_MM + np.array([300.0, -200.0, 900.0])
    cameras = np.einsum("vij,kj->vki", rotations, world) + translations[:, None]
    pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(cameras, jnp.float32), K))
    lost = pixels.copy()
    lost[1] = np.nan
    source = tmp_path / "rig.npz"
    np.savez(source, keypoints_2d=np.stack([pixels, lost]), intrinsics=K, rotation=rotations,
             translation=translations)
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "out.npz"), *FAST]) == 0
    result = np.load(tmp_path / "out.npz")
    assert result["hypotheses"].shape == (2, 3, 17, 3) and result["hypotheses_world"].shape == (2, 3, 17, 3)
    assert result["keypoints_2d"].shape == (2, 3, 17, 2) and result["joint_weights"][1, 1].sum() == 0
    np.testing.assert_allclose(result["mode_pose_world"][:, 0], np.tile(world[0], (2, 1)), atol=150.0)  # the pelvis, in world mm
    assert outputs(tmp_path) == ["out.npz", "out.png"]
    np.savez(source, keypoints_2d=pixels, intrinsics=K, rotation=rotations, translation=translations / 1000.0)
    assert cli.main(["estimate", "--input", str(source), "--output", str(tmp_path / "metres.npz"), *FAST]) == 2
    assert "not metres" in capsys.readouterr().err and not (tmp_path / "metres.npz").exists()
