"""Reading photos: Pillow, EXIF orientation applied, RGB uint8, clear errors."""

from __future__ import annotations

import os

import numpy as np

from posediff_jax.detector.errors import ImageReadError

# Images smaller than this (either side, pixels) cannot hold a person the detector can see.
MINIMUM_IMAGE_SIDE = 16


def read_image(image_path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as RGB.

    The EXIF orientation tag is applied (a phone photo taken in portrait comes out upright), so pixel
    coordinates of everything downstream refer to the image as a viewer sees it.

    Args:
      image_path: path of a JPEG / PNG / any format Pillow reads.
    Returns:
      `[H, W, 3]` uint8 RGB array.
    Raises:
      ImageReadError: the file is missing, is not an image, is truncated, or is tiny.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(image_path)
    if not os.path.exists(path):
        raise ImageReadError(f"image {path!r}: file not found")
    if os.path.isdir(path):
        raise ImageReadError(f"image {path!r}: is a directory, expected an image file")
    try:
        with Image.open(path) as opened:
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            rgb = upright.convert("RGB")
    except UnidentifiedImageError:
        raise ImageReadError(f"image {path!r}: not an image Pillow can read (JPEG, PNG, ...)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"image {path!r}: cannot be decoded ({error})") from None
    pixels = np.asarray(rgb, dtype=np.uint8)
    height, width = pixels.shape[:2]
    if min(height, width) < MINIMUM_IMAGE_SIDE:
        raise ImageReadError(
            f"image {path!r}: {width} x {height} pixels is too small (each side needs >= {MINIMUM_IMAGE_SIDE})"
        )
    return pixels
