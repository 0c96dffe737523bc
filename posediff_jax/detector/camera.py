"""Camera intrinsics for photos: a photo has no calibration, so assume a field of view (or take real ones).

Convention (docs/architecture.md): pixel centres at integer coordinates, so the principal point of an
ideal camera is the image centre `((W - 1) / 2, (H - 1) / 2)`. The assumed field of view spans the image's
longer side; pixels are square (fx == fy).
"""

from __future__ import annotations

import math

import numpy as np

from posediff_jax.validation import PoseDiffError

# Horizontal field of view assumed for a photo of unknown calibration, over the longer image side. 50 degrees
# is between a phone's main camera (~65) and a portrait lens (~30), and close to Human3.6M's cameras (~47).
DEFAULT_FIELD_OF_VIEW_DEGREES = 50.0


def focal_length_from_field_of_view(image_side_pixels: float, field_of_view_degrees: float) -> float:
    """Focal length in pixels for a pinhole camera whose `field_of_view_degrees` spans `image_side_pixels`."""
    if not 1.0 <= field_of_view_degrees <= 179.0:
        raise PoseDiffError(f"field_of_view_degrees: expected a value in [1, 179], got {field_of_view_degrees}")
    if image_side_pixels <= 0:
        raise PoseDiffError(f"image_side_pixels: expected a positive size, got {image_side_pixels}")
    return 0.5 * image_side_pixels / math.tan(math.radians(field_of_view_degrees) / 2.0)


def default_intrinsics(
    image_width: int, image_height: int, field_of_view_degrees: float = DEFAULT_FIELD_OF_VIEW_DEGREES
) -> np.ndarray:
    """Intrinsics `[3, 3]` float32 of an ideal camera: square pixels, centred principal point.

    Args:
      image_width, image_height: image size in pixels.
      field_of_view_degrees: the angle the longer image side spans.
    """
    focal = focal_length_from_field_of_view(max(image_width, image_height), field_of_view_degrees)
    return np.array(
        [[focal, 0.0, (image_width - 1) / 2.0], [0.0, focal, (image_height - 1) / 2.0], [0.0, 0.0, 1.0]],
        dtype=np.float32,
    )


def resolve_intrinsics(
    image_width: int,
    image_height: int,
    intrinsics=None,
    field_of_view_degrees: float = DEFAULT_FIELD_OF_VIEW_DEGREES,
) -> tuple[np.ndarray, str]:
    """The intrinsics to use for a photo and a sentence saying where they came from.

    Args:
      image_width, image_height: image size in pixels (after EXIF rotation).
      intrinsics: `[3, 3]` real calibration matrix K, or None to assume a field of view.
      field_of_view_degrees: used when `intrinsics` is None.
    Returns:
      (`[3, 3]` float32 K, description) with description 'given' or 'assumed field of view 50 degrees'.
    """
    if intrinsics is None:
        matrix = default_intrinsics(image_width, image_height, field_of_view_degrees)
        return matrix, f"assumed field of view {field_of_view_degrees:g} degrees"
    # The evidence's own check (pixel focal lengths, the [0, 0, 1] bottom row): the photo's intrinsics end up there.
    from posediff_jax.guidance.evidence import check_intrinsics

    return np.asarray(check_intrinsics(intrinsics), np.float32), "given"
