import math

import numpy as np
import pytest

from posediff_jax import geometry
from posediff_jax.detector import camera
from posediff_jax.validation import PoseDiffError, ShapeError


def test_default_intrinsics_centre_and_field_of_view():
    matrix = camera.default_intrinsics(600, 471, field_of_view_degrees=60.0)
    assert matrix.shape == (3, 3) and matrix.dtype == np.float32
    # Principal point at the image centre with pixel centres at integers.
    np.testing.assert_allclose(matrix[:2, 2], [299.5, 235.0])
    assert matrix[0, 0] == matrix[1, 1]
    # The longer side spans the field of view: its edges project at +-30 degrees.
    half_angle = math.degrees(math.atan((600 / 2) / matrix[0, 0]))
    np.testing.assert_allclose(half_angle, 30.0, rtol=1e-5)
    np.testing.assert_allclose(matrix[2], [0, 0, 1])


def test_portrait_uses_longer_side():
    landscape = camera.default_intrinsics(800, 600)
    portrait = camera.default_intrinsics(600, 800)
    np.testing.assert_allclose(landscape[0, 0], portrait[0, 0])
    np.testing.assert_allclose(portrait[:2, 2], [299.5, 399.5])


def test_narrower_field_of_view_means_longer_focal_length():
    assert camera.default_intrinsics(640, 480, 30.0)[0, 0] > camera.default_intrinsics(640, 480, 70.0)[0, 0]


def test_principal_point_ray_projects_to_image_centre():
    matrix = camera.default_intrinsics(641, 481)
    pixel = np.asarray(geometry.project_to_pixels(np.array([[0.0, 0.0, 3000.0]]), matrix))
    np.testing.assert_allclose(pixel[0], [320.0, 240.0], atol=1e-3)


def test_resolve_intrinsics_reports_source():
    assumed, source = camera.resolve_intrinsics(640, 480)
    assert source == f"assumed field of view {camera.DEFAULT_FIELD_OF_VIEW_DEGREES:g} degrees"
    np.testing.assert_allclose(assumed, camera.default_intrinsics(640, 480))
    given = np.array([[1000.0, 0.0, 320.0], [0.0, 1001.0, 240.0], [0.0, 0.0, 1.0]])
    used, source = camera.resolve_intrinsics(640, 480, intrinsics=given)
    assert source == "given"
    np.testing.assert_allclose(used, given)


@pytest.mark.parametrize(
    "bad, error",
    [
        (np.eye(2), ShapeError),
        (np.array([[-5.0, 0, 1], [0, 5.0, 1], [0, 0, 1]]), PoseDiffError),
        (np.array([[5.0, 0, 1], [0, 5.0, 1], [1, 0, 1]]), PoseDiffError),
    ],
)
def test_bad_intrinsics_are_rejected(bad, error):
    with pytest.raises(error, match="intrinsics"):
        camera.resolve_intrinsics(640, 480, intrinsics=bad)


@pytest.mark.parametrize("degrees", [0.0, 180.0, -10.0])
def test_bad_field_of_view_is_rejected(degrees):
    with pytest.raises(PoseDiffError, match="field_of_view_degrees"):
        camera.default_intrinsics(640, 480, degrees)
