"""What the project's tfds builders share: preparing from a user's `manual_dir` as ArrayRecord (no TensorFlow)."""

from __future__ import annotations

import tensorflow_datasets as tfds


def prepare_builder(builder_class, manual_dir, data_dir=None, config=None):
    """Builds `builder_class(config, data_dir)` with ArrayRecord files, prepares it from `manual_dir` (once: a
    prepared version is reused; tfds writes into an `incomplete.*` folder and renames it only when done) and
    returns it. Callers validate the input files first, so that bad input fails before anything is written."""
    builder = builder_class(config=config, data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def text(value) -> str:
    """A `tfds.features.Text` value read through `as_data_source` (bytes) as `str`."""
    return value.decode() if isinstance(value, bytes) else str(value)
