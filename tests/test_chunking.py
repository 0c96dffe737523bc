"""Chunking of hypotheses: the layout plan, and results independent of chunk and group size (bitwise for
per-row work without batched kernels; to float32 rounding for the real sampler, whose matmuls XLA blocks
differently for different batch sizes)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.sampling import chunking

# Compile time dominates these small programs: XLA optimisations off (conftest.fast_compile).
pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.mark.parametrize("total", [1, 7, 23, 256, 1000, 10_000])
@pytest.mark.parametrize("chunk_size", [1, 3, 256, 5000])
@pytest.mark.parametrize("group_size", [None, 1, 2, 8])
def test_plan_covers_every_row_within_the_bounds(total, chunk_size, group_size):
    plan = chunking.plan_chunks(total, chunk_size, group_size)
    assert plan.padded >= total
    assert plan.chunk_size <= min(chunk_size, total)
    wanted_group = chunking.default_group_size(min(chunk_size, total)) if group_size is None else group_size
    assert plan.group_size <= wanted_group
    # Padding is less than one row per chunk: never a whole chunk or group of wasted work.
    assert plan.padded - total < plan.num_groups * plan.group_size
    # No more sequential groups than the requested chunk and group sizes need.
    requested_rows = min(chunk_size, total) * min(wanted_group, -(-total // min(chunk_size, total)))
    assert plan.num_groups == -(-total // requested_rows)


def test_plan_balances_ten_thousand_hypotheses():
    plan = chunking.plan_chunks(10_000, 256, 8)
    assert (plan.chunk_size, plan.group_size, plan.num_groups, plan.padded) == (250, 8, 5, 10_000)
    assert chunking.plan_chunks(10_000, 256).rows_per_group <= max(256, chunking.default_target_rows())
    assert chunking.plan_chunks(100, 256).num_groups == 1


def test_plan_rejects_no_rows():
    with pytest.raises(ValueError, match="at least one row"):
        chunking.plan_chunks(0, 256)


def _noisy_row(inputs):
    """Per-row work with randomness, a reduction and a PyTree output (what a sampler hypothesis does)."""
    key, scale = inputs
    noise = jax.random.normal(key, (17, 3))
    return {"pose": jnp.tanh(noise * scale) @ jnp.ones((3, 2)), "energy": jnp.sum(noise**2) * scale}


@pytest.mark.parametrize("total", [1, 23])
@pytest.mark.parametrize("chunk_size,group_size", [(3, 1), (3, 2), (4, 8), (2, None)])
def test_chunked_vmap_equals_vmap_bitwise(total, chunk_size, group_size):
    keys = chunking.hypothesis_keys(jax.random.PRNGKey(0), total)
    inputs = (keys, jnp.linspace(0.5, 2.0, total))
    expected = jax.jit(jax.vmap(_noisy_row))(inputs)
    got = jax.jit(lambda inputs: chunking.chunked_vmap(_noisy_row, inputs, chunk_size, group_size))(inputs)
    for name in ("pose", "energy"):
        assert got[name].shape == expected[name].shape
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(expected[name]))


def test_hypothesis_keys_do_not_depend_on_the_count():
    many = chunking.hypothesis_keys(jax.random.PRNGKey(5), 10)
    few = chunking.hypothesis_keys(jax.random.PRNGKey(5), 4)
    np.testing.assert_array_equal(np.asarray(many[:4]), np.asarray(few))
    assert not np.array_equal(np.asarray(many[0]), np.asarray(many[1]))


def test_sampler_results_do_not_depend_on_chunk_or_group_size(monkeypatch):
    """The real sampler (tiny network, DPS heatmap guidance, 3 frames x 23 hypotheses): the same poses whatever
    the layout - one batch (64, 2048); chunks of 3 in sequence, frames one after another (3, 3); groups of 2
    chunks of 3 with an uneven last group (4, 8); frames side by side in an uneven group of 2 + 1 (64, 50) - up to
    float32 rounding of the batched matmuls (measured: at most 5e-7 mm)."""
    from posediff_jax.guidance import heatmap_evidence_from_keypoints, make_heatmap_energy
    from posediff_jax.prior import resolve_prior
    from posediff_jax.prior.gaussian import STANDING_POSE_MM
    from posediff_jax.sampling import make_sampler

    intrinsics = np.array([[1145.0, 0.0, 512.0], [0.0, 1145.0, 515.0], [0.0, 0.0, 1.0]], np.float32)
    points = np.stack([STANDING_POSE_MM, STANDING_POSE_MM * 1.05, STANDING_POSE_MM * 0.95])
    points = points + np.array([0.0, 0.0, 5000.0])
    pixels = points[..., :2] / points[..., 2:] * 1145.0 + np.array([512.0, 515.0])
    evidence = heatmap_evidence_from_keypoints(pixels, np.broadcast_to(intrinsics, (3, 3, 3)))
    prior = resolve_prior("tiny")
    results = {}
    frames_per_iteration = {}
    for chunk_size, target_rows in [(64, 2048), (3, 3), (4, 8), (64, 50)]:
        monkeypatch.setattr(chunking, "TARGET_ROWS", target_rows)
        sampler = make_sampler(prior, make_heatmap_energy(), num_steps=3, guidance="dps", chunk_size=chunk_size,
                               guidance_repeats=1)
        results[(chunk_size, target_rows)] = np.asarray(sampler.sample_batch(jax.random.PRNGKey(1), evidence, 23))
        frames_per_iteration[(chunk_size, target_rows)] = chunking.frames_per_iteration(23, chunk_size)
    reference = results[(64, 2048)]
    assert np.all(np.isfinite(reference)) and reference.shape == (3, 23, 17, 3)
    assert not np.allclose(reference[:, 0], reference[:, 1])  # hypotheses differ: the test can fail
    for layout, poses in results.items():
        np.testing.assert_allclose(poses, reference, rtol=0, atol=1e-3,
                                   err_msg=f"layout chunk_size, TARGET_ROWS = {layout}")
    # The layouts really differ (the test would catch a grouping that ignores TARGET_ROWS): hypotheses in 8
    # sequential groups; all 3 frames side by side, one frame at a time, or 2 + 1 (padded) frames.
    assert chunking.plan_chunks(23, 3, chunking.default_group_size(3, 3)).num_groups == 8
    assert frames_per_iteration[(64, 2048)] >= 3
    assert frames_per_iteration[(3, 3)] == 1 and frames_per_iteration[(64, 50)] == 2


def test_cpu_default_keeps_a_step_in_cache(monkeypatch):
    """On a CPU the default groups hold a few hundred rows (a DPS step's activations stay in cache) and frames
    run one group after another; on other backends the big groups that accelerators want."""
    monkeypatch.setattr(chunking, "TARGET_ROWS", None)
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert chunking.default_target_rows() == chunking.DEFAULT_TARGET_ROWS["cpu"] <= 512
    assert chunking.frames_per_iteration(512, 256) == 1  # 8 x 512: 256 rows per step, not 4,096
    assert chunking.frames_per_iteration(16, 256) == chunking.DEFAULT_TARGET_ROWS["cpu"] // 16
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert chunking.default_target_rows() == chunking.DEFAULT_TARGET_ROWS_OTHER
    assert chunking.frames_per_iteration(512, 256) == chunking.DEFAULT_TARGET_ROWS_OTHER // 512


def test_default_group_follows_target_rows(monkeypatch):
    monkeypatch.setattr(chunking, "TARGET_ROWS", 8)
    assert chunking.plan_chunks(23, 3).group_size == 2
    monkeypatch.setattr(chunking, "TARGET_ROWS", 3)
    assert chunking.plan_chunks(23, 3).group_size == 1
