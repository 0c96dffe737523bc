"""Camera intrinsics for photos: given, from the Exif 35 mm equivalent focal length, or an assumed field of view.

An ideal camera has square pixels and its principal point at the image centre `((W - 1) / 2, (H - 1) / 2)`
(pixel centres at integers); the field of view spans the image's longer side.
"""

from __future__ import annotations

import math

import numpy as np

from posediff_jax.validation import PoseDiffError

# Between a phone's main camera (~65 degrees) and a portrait lens (~30), close to Human3.6M's cameras (~47).
DEFAULT_FIELD_OF_VIEW_DEGREES = 50.0
# A 36 x 24 mm frame's diagonal: f_35mm / 43.27 mm = f_pixels / the image diagonal in pixels.
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


def default_intrinsics(image_width: int, image_height: int,
                       field_of_view_degrees: float = DEFAULT_FIELD_OF_VIEW_DEGREES) -> np.ndarray:
    """`[3, 3]` float32 K of an ideal camera whose `field_of_view_degrees` spans the longer image side."""
    focal = focal_length_from_field_of_view(max(image_width, image_height), field_of_view_degrees)
    return np.array([[focal, 0.0, (image_width - 1) / 2.0], [0.0, focal, (image_height - 1) / 2.0], [0.0, 0.0, 1.0]],
                    dtype=np.float32)


def resolve_intrinsics(image_width: int, image_height: int, intrinsics=None,
                       field_of_view_degrees: float | None = DEFAULT_FIELD_OF_VIEW_DEGREES,
                       focal_35mm: float | None = None) -> tuple[np.ndarray, str]:
    """(`[3, 3]` float32 K, where it came from) for a photo (size after EXIF rotation): `intrinsics` given, else
    `field_of_view_degrees` unless None, else the Exif `focal_35mm` (mm), else the default field of view."""
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
    from posediff_jax.guidance.checks import check_intrinsics  # the evidence's own check

    return np.asarray(check_intrinsics(intrinsics), np.float32), "given"
