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


def test_35mm_equivalent_focal_length_gives_the_full_frame_field_of_view_at_any_aspect_and_orientation():
    # A 36 x 24 mm frame at f = 18 mm (3:2): its long side spans 2 atan(18 / 18) = 90 degrees.
    focal = camera.focal_length_from_35mm_equivalent(3000, 2000, 18.0)
    np.testing.assert_allclose(math.degrees(2 * math.atan(1500 / focal)), 90.0, rtol=1e-9)
    # The diagonal angle is the same for a 4:3 phone photo, upright or turned (Exif orientation applied).
    for width, height in ((4000, 3000), (3000, 4000)):
        focal = camera.focal_length_from_35mm_equivalent(width, height, 26.0)
        diagonal = math.degrees(2 * math.atan(math.hypot(width, height) / 2 / focal))
        np.testing.assert_allclose(diagonal, math.degrees(2 * math.atan(camera.FULL_FRAME_DIAGONAL_MM / 52.0)))
    with pytest.raises(PoseDiffError, match="focal_35mm"):
        camera.focal_length_from_35mm_equivalent(640, 480, 0.0)


def test_resolve_intrinsics_order_given_then_users_field_of_view_then_exif_then_default():
    given = np.array([[1000.0, 0.0, 320.0], [0.0, 1000.0, 240.0], [0.0, 0.0, 1.0]])
    assert camera.resolve_intrinsics(640, 480, given, 60.0, 26.0)[1] == "given"
    users, source = camera.resolve_intrinsics(640, 480, None, 60.0, 26.0)
    assert source == "assumed field of view 60 degrees"
    np.testing.assert_allclose(users, camera.default_intrinsics(640, 480, 60.0))
    from_exif, source = camera.resolve_intrinsics(640, 480, None, None, 26.0)
    assert source.startswith("Exif 35 mm equivalent focal length 26 mm (field of view ")
    np.testing.assert_allclose(from_exif[0, 0], 26.0 * 800 / camera.FULL_FRAME_DIAGONAL_MM, rtol=1e-6)
    np.testing.assert_allclose(from_exif[:2, 2], [319.5, 239.5])
    default, source = camera.resolve_intrinsics(640, 480, None, None, None)
    assert source == "assumed field of view 50 degrees"
    np.testing.assert_allclose(default, camera.default_intrinsics(640, 480))
