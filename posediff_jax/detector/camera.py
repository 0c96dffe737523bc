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
# The diagonal of a 36 x 24 mm frame: a "35 mm equivalent" focal length (Exif FocalLengthIn35mmFilm) gives the
# field of view of that frame, so f / 43.27 mm = f_pixels / image diagonal in pixels, whatever the aspect ratio
# and orientation.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


def focal_length_from_35mm_equivalent(image_width: int, image_height: int, focal_35mm: float) -> float:
    """Focal length in pixels of a photo whose camera recorded a 35 mm equivalent focal length (mm)."""
    if not focal_35mm > 0:
        raise PoseDiffError(f"focal_35mm: expected a positive focal length in mm, got {focal_35mm}")
    return focal_35mm * math.hypot(image_width, image_height) / FULL_FRAME_DIAGONAL_MM


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
    field_of_view_degrees: float | None = DEFAULT_FIELD_OF_VIEW_DEGREES,
    focal_35mm: float | None = None,
) -> tuple[np.ndarray, str]:
    """The intrinsics to use for a photo and a sentence saying where they came from.

    In order: `intrinsics` given; else `field_of_view_degrees` when not None (the user's); else the camera's own
    35 mm equivalent focal length (`focal_35mm`, from the photo's Exif: `exif_focal_length_35mm`); else the
    default field of view. Pixels are square and the principal point central in every case but the first.

    Args:
      image_width, image_height: image size in pixels (after EXIF rotation).
      intrinsics: `[3, 3]` real calibration matrix K, or None.
      field_of_view_degrees: the angle the longer side spans, or None to use `focal_35mm` / the default.
      focal_35mm: the photo's 35 mm equivalent focal length in mm, or None.
    Returns:
      (`[3, 3]` float32 K, description): 'given', 'assumed field of view 50 degrees' or 'Exif 35 mm equivalent
      focal length 26 mm (field of view 69 degrees)'.
    """
    if intrinsics is None:
        if field_of_view_degrees is None and focal_35mm:
            focal = focal_length_from_35mm_equivalent(image_width, image_height, focal_35mm)
            degrees = math.degrees(2.0 * math.atan(0.5 * max(image_width, image_height) / focal))
            matrix = default_intrinsics(image_width, image_height, degrees)
            return matrix, f"Exif 35 mm equivalent focal length {focal_35mm:g} mm (field of view {degrees:.0f} degrees)"
        if field_of_view_degrees is None:
            field_of_view_degrees = DEFAULT_FIELD_OF_VIEW_DEGREES
        matrix = default_intrinsics(image_width, image_height, field_of_view_degrees)
        return matrix, f"assumed field of view {field_of_view_degrees:g} degrees"
    # The evidence's own check (pixel focal lengths, the [0, 0, 1] bottom row): the photo's intrinsics end up there.
    from posediff_jax.guidance.evidence import check_intrinsics

    return np.asarray(check_intrinsics(intrinsics), np.float32), "given"
