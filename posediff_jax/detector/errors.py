"""User-facing errors of the image front end (all `PoseDiffError`s, so the CLI prints them and exits 2)."""

from __future__ import annotations

from posediff_jax.validation import PoseDiffError


class DetectorNotInstalledError(PoseDiffError):
    """The optional TFLite runtime (`ai-edge-litert`) is missing."""


class ImageReadError(PoseDiffError):
    """The image file is missing, unreadable or not an image."""


class NoPersonFoundError(PoseDiffError):
    """The person detector found nobody in the image."""


class CropTooSmallError(PoseDiffError):
    """The person is too small in the image for the 256 x 256 landmark crop to be meaningful."""
