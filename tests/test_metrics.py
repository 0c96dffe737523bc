import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from posediff_jax import geometry, metrics
from posediff_jax.validation import PoseDiffError


def poses(seed, shape=(17,)):
    return (np.random.default_rng(seed).normal(size=shape + (3,)) * 200).astype(np.float32)


def test_mpjpe_known_value_and_zero_on_identity():
    target = poses(0)
    assert float(metrics.mpjpe(target, target)) == 0.0
    shifted = target + np.array([3.0, 4.0, 0.0], np.float32)
    assert float(metrics.mpjpe(shifted, target)) == pytest.approx(5.0, rel=1e-5)
    assert float(metrics.n_mpjpe(2.0 * target, target)) == pytest.approx(0.0, abs=1e-3)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.3, 3.0))
def test_pa_mpjpe_is_invariant_to_similarity_transforms_of_prediction(seed, scale):
    pred, target = poses(seed), poses(seed + 1)
    rotation = np.asarray(geometry.random_rotation(jax.random.PRNGKey(seed)))
    moved = scale * pred @ rotation.T + np.array([100.0, -40.0, 7.0], np.float32)
    np.testing.assert_allclose(metrics.pa_mpjpe(moved, target), metrics.pa_mpjpe(pred, target), rtol=2e-3, atol=1e-2)
    assert float(metrics.pa_mpjpe(pred, target)) <= float(metrics.mpjpe(pred, target)) + 1e-3


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_metrics_are_invariant_to_consistent_joint_permutations_and_rigid_motion_of_both(seed):
    pred, target = poses(seed), poses(seed + 7)
    order = np.random.default_rng(seed).permutation(17)
    for metric in (metrics.mpjpe, metrics.pa_mpjpe, metrics.n_mpjpe, metrics.pck, metrics.auc):
        np.testing.assert_allclose(metric(pred[order], target[order]), metric(pred, target), rtol=1e-4, atol=1e-3)
    rotation = np.asarray(geometry.random_rotation(jax.random.PRNGKey(seed)))
    np.testing.assert_allclose(metrics.mpjpe(pred @ rotation.T, target @ rotation.T), metrics.mpjpe(pred, target),
                               rtol=1e-4)


def test_pck_and_auc_known_values():
    target = np.zeros((17, 3), np.float32)
    pred = np.zeros((17, 3), np.float32)
    pred[:, 0] = np.linspace(0, 320, 17)  # errors 0, 20, ..., 320 mm
    assert float(metrics.pck(pred, target)) == pytest.approx(8 / 17)  # 0..140 < 150
    assert float(metrics.auc(np.zeros((17, 3)), target)) == pytest.approx(30 / 31)  # error 0 fails threshold 0
    assert 0 < float(metrics.auc(pred, target)) < float(metrics.pck(pred, target))


def reference_best_of_m(hypotheses, target, metric, mode):
    errors = []
    for b in range(hypotheses.shape[0]):
        per = []
        for h in hypotheses[b]:
            aligned = geometry.procrustes_align(h, target[b]) if metric == "pa_mpjpe" else h
            per.append(np.linalg.norm(np.asarray(aligned) - target[b], axis=-1))
        per = np.stack(per)  # [m, J]
        errors.append(per.mean(1).min() if mode == "pose" else per.min(0).mean())
    return np.array(errors)


@pytest.mark.parametrize("metric", ["mpjpe", "pa_mpjpe"])
@pytest.mark.parametrize("mode", ["pose", "joint"])
def test_best_of_m_matches_loop_reference_with_uneven_chunks(metric, mode):
    hypotheses, target = poses(1, (3, 11, 17)), poses(2, (3, 17))
    got = metrics.best_of_m(hypotheses, target, metric=metric, mode=mode, chunk_size=4)
    np.testing.assert_allclose(got, reference_best_of_m(hypotheses, target, metric, mode), rtol=1e-4)


def test_best_of_m_monotone_in_m_and_joint_best_below_pose_best():
    hypotheses, target = poses(3, (2, 300, 17)), poses(4, (2, 17))
    curve = metrics.best_of_m(hypotheses, target, num_hypotheses=[1, 10, 50, 300], chunk_size=64)
    values = np.stack([curve[k] for k in (1, 10, 50, 300)])
    assert np.all(np.diff(values, axis=0) <= 1e-4)
    np.testing.assert_allclose(curve[1], metrics.mpjpe(hypotheses[:, 0], target), rtol=1e-5)
    joint = metrics.best_of_m(hypotheses, target, mode="joint")
    assert np.all(np.asarray(joint) <= np.asarray(curve[300]) + 1e-4)


def test_best_of_m_handles_thousands_of_hypotheses():
    hypotheses, target = poses(5, (1, 4000, 17)), poses(6, (1, 17))
    got = metrics.best_of_m(hypotheses, target, metric="pa_mpjpe", chunk_size=512)
    assert got.shape == (1,) and np.isfinite(got).all()
    # Chunked and unchunked evaluation agree, and both equal the float64 reference on a slice.
    unchunked = metrics.best_of_m(hypotheses, target, metric="pa_mpjpe", chunk_size=4000)
    np.testing.assert_allclose(got, unchunked, rtol=1e-5)
    np.testing.assert_allclose(metrics.best_of_m(hypotheses[:, :300], target, metric="pa_mpjpe", chunk_size=64),
                               reference_best_of_m(hypotheses[:, :300], target, "pa_mpjpe", "pose"), rtol=1e-4)


def test_best_of_m_errors_are_clear():
    with pytest.raises(PoseDiffError, match="hypotheses"):
        metrics.best_of_m(poses(1, (2, 17)), poses(2, (2, 17)))
    with pytest.raises(PoseDiffError, match="disagree"):
        metrics.best_of_m(poses(1, (2, 5, 17)), poses(2, (3, 17)))
    with pytest.raises(PoseDiffError, match="metric"):
        metrics.best_of_m(poses(1, (2, 5, 17)), poses(2, (2, 17)), metric="nope")
    bad = poses(1, (2, 5, 17))
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(PoseDiffError, match="NaN"):
        metrics.best_of_m(bad, poses(2, (2, 17)))


def test_per_action_mean_averages_actions_not_frames():
    result = metrics.per_action_mean([1.0, 3.0, 10.0], ["Walking 1", "Walking", "Eating 2"])
    assert result["Walking"] == 2.0 and result["Eating"] == 10.0 and result["average"] == 6.0
    assert metrics.canonical_action("SittingDown 2") == "SittingDown"


PA_ON_TWO_DEVICES = """
import sys, numpy as np, jax
from jax.sharding import NamedSharding, PartitionSpec
from posediff_jax import metrics
from posediff_jax.sampling.devices import sampling_mesh
assert jax.device_count() == 2
rng = np.random.default_rng(0)
hypotheses = (rng.normal(size=(8, 1000, 17, 3)) * 100).astype(np.float32)
target = (rng.normal(size=(8, 17, 3)) * 100).astype(np.float32)
spread = jax.device_put(hypotheses, NamedSharding(sampling_mesh(), PartitionSpec("data")))  # as the sampler returns
best = metrics.best_of_m(spread, target, metric="pa_mpjpe", num_hypotheses=[10, 1000])
aggregate = metrics.pa_mpjpe(spread[:, 0], target)
np.savez(sys.argv[1], best_10=np.asarray(best[10]), best_1000=np.asarray(best[1000]), aggregate=np.asarray(aggregate),
         hypotheses=hypotheses, target=target)
"""


def test_pa_mpjpe_of_hypotheses_spread_over_two_cpu_devices_does_not_hang(tmp_path):
    """PA-MPJPE's batched SVD (LAPACK) on hypotheses spread over the sampling commands' one-device-per-core layout:
    run on both devices at once it hung for good (each device's SVD waits in a thread of the shared pool for parts
    no free thread runs); it is computed on one device and equals the one-device result."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false")
    path = tmp_path / "pa.npz"
    result = subprocess.run([sys.executable, "-c", PA_ON_TWO_DEVICES, str(path)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    got = np.load(path)
    for k in (10, 1000):
        expected = metrics.best_of_m(got["hypotheses"], got["target"], metric="pa_mpjpe", num_hypotheses=k)
        np.testing.assert_allclose(got[f"best_{k}"], np.asarray(expected), rtol=1e-4, atol=1e-3)
    expected = metrics.pa_mpjpe(got["hypotheses"][:, 0], got["target"])
    np.testing.assert_allclose(got["aggregate"], np.asarray(expected), rtol=1e-4, atol=1e-3)
