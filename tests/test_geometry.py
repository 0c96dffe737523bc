import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from posediff_jax import geometry
from posediff_jax.validation import ShapeError

INTRINSICS = np.array([[1145.0, 0.0, 512.5], [0.0, 1143.8, 515.4], [0.0, 0.0, 1.0]], np.float32)


def random_pose(seed, joints=17, spread=300.0):
    return np.random.default_rng(seed).normal(size=(joints, 3)).astype(np.float32) * spread


def numpy_umeyama(predicted, target):
    """float64 reference: similarity Procrustes with SVD, no reflection."""
    predicted, target = predicted.astype(np.float64), target.astype(np.float64)
    mp, mt = predicted.mean(0), target.mean(0)
    p, q = predicted - mp, target - mt
    u, s, vt = np.linalg.svd(q.T @ p)
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.array([1.0, 1.0, d])
    rotation = u @ np.diag(correction) @ vt
    scale = (s * correction).sum() / (p**2).sum()
    return scale * p @ rotation.T + mt


def test_world_camera_round_trip():
    rotation = np.asarray(geometry.random_rotation(jax.random.PRNGKey(0)))
    translation = np.array([100.0, -50.0, 5000.0], np.float32)
    points = random_pose(1)
    camera = geometry.world_to_camera(points, rotation, translation)
    np.testing.assert_allclose(geometry.camera_to_world(camera, rotation, translation), points, atol=1e-2)
    np.testing.assert_allclose(camera[0], rotation @ points[0] + translation, rtol=1e-5)


def test_projection_round_trip_through_normalized_coordinates():
    points = random_pose(2) + np.array([0, 0, 4000.0], np.float32)
    pixels = geometry.project_to_pixels(points, INTRINSICS)
    normalized = geometry.pixels_to_normalized(pixels, INTRINSICS)
    np.testing.assert_allclose(normalized, points[:, :2] / points[:, 2:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(geometry.normalized_to_pixels(normalized, INTRINSICS), pixels, rtol=1e-5)
    # A point on the optical axis lands on the principal point.
    centre = geometry.project_to_pixels(np.array([[0.0, 0.0, 3000.0]]), INTRINSICS)
    np.testing.assert_allclose(centre[0], [512.5, 515.4], rtol=1e-6)


def test_distortion_matches_human36m_reference_and_vanishes_at_centre():
    distortion = np.array([-0.2071, 0.2478, -0.00142, -0.00098, -0.0031], np.float32)
    points = random_pose(3) + np.array([0, 0, 4000.0], np.float32)
    got = geometry.project_to_pixels(points, INTRINSICS, distortion)
    # Reference: Human3.6M release code (project_point_radial) in float64.
    xy = (points[:, :2] / points[:, 2:]).astype(np.float64)
    k, p = distortion[[0, 1, 4]].astype(np.float64), distortion[2:4].astype(np.float64)
    r2 = (xy**2).sum(1)
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = p[0] * xy[:, 1] + p[1] * xy[:, 0]
    distorted = xy * (radial + tan)[:, None] + np.outer(r2, [p[1], p[0]])
    expected = distorted * [INTRINSICS[0, 0], INTRINSICS[1, 1]] + INTRINSICS[:2, 2]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    centre = geometry.project_to_pixels(np.array([[0.0, 0.0, 3000.0]]), INTRINSICS, distortion)
    np.testing.assert_allclose(centre[0], [512.5, 515.4], atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.floats(2000, 9000))
def test_root_translation_is_recovered_exactly(seed, depth):
    pose = random_pose(seed, spread=250.0)
    pose = pose - pose[0]
    root = np.array([np.sin(seed) * 400, np.cos(seed) * 200, depth], np.float32)
    keypoints = geometry.project_to_pixels(pose + root, INTRINSICS)
    solved = geometry.solve_root_translation(pose, keypoints, INTRINSICS)
    np.testing.assert_allclose(solved, root, rtol=2e-3, atol=2.0)


def test_root_translation_weights_ignore_corrupted_joints_and_are_differentiable():
    pose = random_pose(5, spread=250.0)
    root = np.array([50.0, 100.0, 5000.0], np.float32)
    keypoints = np.array(geometry.project_to_pixels(pose + root, INTRINSICS))
    keypoints[3] += 400.0
    weights = np.ones(17, np.float32)
    weights[3] = 0.0
    np.testing.assert_allclose(geometry.solve_root_translation(pose, keypoints, INTRINSICS, weights), root, rtol=1e-3)
    grad = jax.grad(lambda p: geometry.solve_root_translation(p, keypoints, INTRINSICS, weights)[2])(pose)
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 100_000), joints=st.sampled_from([3, 14, 17]))
def test_procrustes_matches_float64_numpy_reference(seed, joints):
    rng = np.random.default_rng(seed)
    predicted = (rng.normal(size=(joints, 3)) * 200).astype(np.float32)
    target = (rng.normal(size=(joints, 3)) * 200).astype(np.float32)
    got = np.asarray(geometry.procrustes_align(predicted, target))
    expected = numpy_umeyama(predicted, target)
    np.testing.assert_allclose(got, expected, atol=2e-2 * (1 + np.abs(expected).max() / 100))


def test_procrustes_recovers_similarity_and_never_reflects():
    target = random_pose(7)
    rotation = np.asarray(geometry.random_rotation(jax.random.PRNGKey(3)))
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-5)
    predicted = 0.7 * target @ rotation.T + np.array([10.0, -20.0, 30.0])
    scale, got_rotation, _ = geometry.procrustes_transform(predicted, target)
    np.testing.assert_allclose(geometry.procrustes_align(predicted, target), target, atol=1e-2)
    assert float(scale) == pytest.approx(1 / 0.7, rel=1e-4)
    mirrored = target * np.array([-1.0, 1.0, 1.0])  # a reflection cannot be undone by a rotation
    _, reflect_rotation, _ = geometry.procrustes_transform(mirrored, target)
    assert np.linalg.det(np.asarray(reflect_rotation)) == pytest.approx(1.0, abs=1e-4)


def test_procrustes_degenerate_inputs_stay_finite():
    target = random_pose(8)
    for predicted in (np.zeros((17, 3), np.float32), np.ones((17, 3), np.float32),
                      np.outer(np.linspace(-1, 1, 17), [1.0, 2.0, 3.0]).astype(np.float32)):
        aligned = np.asarray(geometry.procrustes_align(predicted, target))
        assert np.all(np.isfinite(aligned))
    batched = geometry.procrustes_align(np.stack([random_pose(i) for i in range(4)]), np.stack([target] * 4))
    assert batched.shape == (4, 17, 3)


def test_shape_errors_name_the_array():
    with pytest.raises(ShapeError, match="intrinsics"):
        geometry.project_to_pixels(np.ones((17, 3)), np.eye(2))
    with pytest.raises(ShapeError, match="predicted and target: shapes differ"):
        geometry.procrustes_align(np.ones((17, 3)), np.ones((16, 3)))


def test_numpy_projection_is_the_same_lens_model():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(2, 5, 17, 3)) * 400 + np.array([0.0, 0.0, 4500.0])
    intrinsics = np.array([[1145.0, 0.3, 512.5], [0.0, 1144.0, 515.4], [0.0, 0.0, 1.0]])
    distortion = np.array([-0.207, 0.248, -0.0031, -0.0010, -0.0028])
    for lens in (None, distortion):
        expected = geometry.project_to_pixels(jnp.asarray(points, jnp.float32), jnp.asarray(intrinsics, jnp.float32),
                                              None if lens is None else jnp.asarray(lens, jnp.float32))
        pixels = geometry.project_to_pixels_numpy(points, intrinsics, lens)
        assert isinstance(pixels, np.ndarray) and pixels.dtype == np.float32 and pixels.shape == (2, 5, 17, 2)
        np.testing.assert_allclose(pixels, np.asarray(expected), atol=1e-3)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), conditioning=st.sampled_from([1e-2, 1.0, 1e2]))
def test_solve_3x3_matches_float64_solve(seed, conditioning):
    """The closed-form 3x3 solve of the root translation against numpy's float64 LU solve, on symmetric positive
    definite systems like the normal equations (batched)."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(8, 3, 3))
    matrices = factors @ np.swapaxes(factors, -1, -2) + conditioning * np.eye(3)
    rhs = rng.normal(size=(8, 3))
    expected = np.linalg.solve(matrices, rhs[..., None])[..., 0]
    got = np.asarray(geometry.solve_3x3(jnp.asarray(matrices, jnp.float32), jnp.asarray(rhs, jnp.float32)))
    scale = np.linalg.cond(matrices)[:, None] * (np.abs(expected) + 1.0)
    assert np.all(np.abs(got - expected) <= 1e-5 * scale)


def test_undistort_pixels_inverts_the_lens_model():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(-1500, 1500, (40, 2)), rng.uniform(2000, 7000, (40, 1))], axis=-1)
    intrinsics = np.array([[1145.0, 0.0, 512.5], [0.0, 1144.0, 515.5], [0.0, 0.0, 1.0]])
    distortion = np.array([-0.207, 0.248, -0.0014, -0.0003, -0.0031])  # a Human3.6M camera's
    distorted = geometry.project_to_pixels_numpy(points, intrinsics, distortion)
    pinhole = geometry.project_to_pixels_numpy(points, intrinsics)
    assert np.abs(distorted - pinhole).max() > 5.0
    np.testing.assert_allclose(geometry.undistort_pixels(distorted, intrinsics, distortion), pinhole, atol=1e-2)
    frames = geometry.undistort_pixels(np.stack([distorted, distorted]), np.stack([intrinsics] * 2),
                                       np.stack([distortion] * 2))  # one camera per frame
    assert frames.shape == (2, 40, 2)
    np.testing.assert_allclose(frames[1], pinhole, atol=1e-2)
