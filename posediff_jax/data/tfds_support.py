"""What the project's tfds builders share: the frame fields every builder writes (the contract
`data.evaluation_frames` reads), their fixed example order, stride configs, and preparing from a user's
`manual_dir` as ArrayRecord (no TensorFlow)."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds


@dataclasses.dataclass
class StrideConfig(tfds.core.BuilderConfig):
    """`stride`: keep every stride-th (valid) frame of each sequence."""

    stride: int = 1


def frame_dataset_info(builder, description: str, homepage: str, **extra_features) -> tfds.core.DatasetInfo:
    """`DatasetInfo` with the fields every builder's examples hold, plus `extra_features`:
    `pose_3d [17, 3]`, `root_position [3]`, `keypoints_2d_gt [17, 2]`, `intrinsics [3, 3]`, `distortion [5]`,
    `subject`, `action`, `camera` (text) and `frame` (int64).

    Examples stay in generation order (`disable_shuffling`; tfds reads it from `DatasetInfo` only, not from a
    builder attribute), so index i means the same frame in every preparation.
    """
    tensor = tfds.features.Tensor
    features = {
        "pose_3d": tensor(shape=(17, 3), dtype=np.float32),
        "root_position": tensor(shape=(3,), dtype=np.float32),
        "keypoints_2d_gt": tensor(shape=(17, 2), dtype=np.float32),
        "intrinsics": tensor(shape=(3, 3), dtype=np.float32),
        "distortion": tensor(shape=(5,), dtype=np.float32),
        "subject": tfds.features.Text(),
        "action": tfds.features.Text(),
        "camera": tfds.features.Text(),
        "frame": tfds.features.Scalar(dtype=np.int64),
        **extra_features,
    }
    return tfds.core.DatasetInfo(builder=builder, description=description, homepage=homepage,
                                 disable_shuffling=True, features=tfds.features.FeaturesDict(features))


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
