"""Reading photos: Pillow, EXIF orientation applied, RGB uint8, clear errors."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np

from posediff_jax.detector.errors import ImageReadError

# Images smaller than this (either side, pixels) cannot hold a person the detector can see.
MINIMUM_IMAGE_SIDE = 16
# Larger images are refused before decoding: the detector reads a 256 x 256 crop, 100 megapixels take 300 MB, and
# Pillow's own decompression-bomb guard would warn (~89 megapixels) or fail (~179) with a raw traceback.
MAX_IMAGE_PIXELS = 80_000_000


def _too_large(path: str, size=None, pixels=None) -> ImageReadError:
    """The error for an image over `MAX_IMAGE_PIXELS` (`size` (width, height) or the `pixels` count)."""
    dimensions = f"{size[0]} x {size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels)" if size else (
        f"{pixels / 1e6:.0f} megapixels" if pixels else "the image")
    return ImageReadError(f"image {path!r}: {dimensions} is over the {MAX_IMAGE_PIXELS // 1_000_000}-megapixel "
                          "limit; downscale it first (the detector works on a 256 x 256 crop), e.g. `mogrify -resize "
                          "4000x4000 PHOTO` or Pillow's Image.thumbnail((4000, 4000))")


def _to_rgb(image) -> np.ndarray:
    """`[H, W, 3]` uint8 of a Pillow image; 16-bit greyscale is scaled to 8 bits (`convert('RGB')` would clip it)."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0  # 65535 -> 255
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_image(image_path: str | os.PathLike) -> np.ndarray:
    """`[H, W, 3]` uint8 RGB of an image file, EXIF orientation applied (pixels as a viewer sees them); an
    `ImageReadError` when it is missing, unreadable, not an image, truncated, tiny or over `MAX_IMAGE_PIXELS`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(image_path)
    if not os.path.exists(path):
        raise ImageReadError(f"image {path!r}: file not found")
    if os.path.isdir(path):
        raise ImageReadError(f"image {path!r}: is a directory, expected an image file")
    try:
        with warnings.catch_warnings():  # the size is checked below, with a message that says what to do
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.size[0] * opened.size[1] > MAX_IMAGE_PIXELS:
                    raise _too_large(path, opened.size)
                opened.load()
                pixels = _to_rgb(ImageOps.exif_transpose(opened))
    except ImageReadError:
        raise
    except Image.DecompressionBombError as error:  # over Pillow's own limit (2x ~89 megapixels): refused in open()
        found = re.search(r"\((\d+) pixels\)", str(error))
        raise _too_large(path, pixels=int(found.group(1)) if found else None) from None
    except UnidentifiedImageError:
        raise ImageReadError(f"image {path!r}: not an image Pillow can read (JPEG, PNG, ...)") from None
    except PermissionError as error:
        raise ImageReadError(f"image {path!r}: cannot be read ({error.strerror or error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"image {path!r}: cannot be decoded ({error})") from None
    height, width = pixels.shape[:2]
    if min(height, width) < MINIMUM_IMAGE_SIDE:
        raise ImageReadError(f"image {path!r}: {width} x {height} pixels is too small (each side needs >= "
                             f"{MINIMUM_IMAGE_SIDE})")
    return pixels


# Exif: the sub-IFD with the capture settings, and its 35 mm equivalent focal length tag (mm, an integer).
_EXIF_IFD = 0x8769
_FOCAL_LENGTH_IN_35MM_FILM = 0xA405


def exif_focal_length_35mm(image_path: str | os.PathLike) -> float | None:
    """The photo's Exif 35 mm equivalent focal length (mm), or None when absent, zero ("unknown") or unreadable."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(os.fspath(image_path)) as opened:
                value = opened.getexif().get_ifd(_EXIF_IFD).get(_FOCAL_LENGTH_IN_35MM_FILM)
        value = float(value) if value is not None else 0.0
    except Exception:  # noqa: BLE001 (a damaged Exif block must not cost the photo)
        return None
    return value if 1.0 <= value <= 5000.0 else None

