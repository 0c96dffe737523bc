"""What the tfds builders share: the common frame fields, fixed example order, stride configs, preparation."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds


@dataclasses.dataclass
class StrideConfig(tfds.core.BuilderConfig):
    """`stride`: keep every stride-th (valid) frame of each sequence."""

    stride: int = 1


def stride_configs(small_stride: int) -> list:
    """The test-set builders' configs: 'stride1' (every valid frame) and 'small' (every `small_stride`-th)."""
    return [StrideConfig(name="stride1", description="every valid frame", stride=1),
            StrideConfig(name="small", description=f"every {small_stride}th valid frame", stride=small_stride)]


def frame_dataset_info(builder, description: str, homepage: str, **extra_features) -> tfds.core.DatasetInfo:
    """`DatasetInfo` with the fields every builder's examples hold plus `extra_features`, in generation order
    (`disable_shuffling` is read from `DatasetInfo` only, not from a builder attribute)."""
    shapes = {"pose_3d": (17, 3), "root_position": (3,), "keypoints_2d_gt": (17, 2), "intrinsics": (3, 3),
              "distortion": (5,)}
    features = {name: tfds.features.Tensor(shape=shape, dtype=np.float32) for name, shape in shapes.items()}
    features.update({name: tfds.features.Text() for name in ("subject", "action", "camera")})
    features.update(frame=tfds.features.Scalar(dtype=np.int64), **extra_features)
    return tfds.core.DatasetInfo(builder=builder, description=description, homepage=homepage,
                                 disable_shuffling=True, features=tfds.features.FeaturesDict(features))


def prepare_builder(builder_class, manual_dir, data_dir=None, config=None):
    """`builder_class(config, data_dir)` as ArrayRecord, prepared (once, atomically) from `manual_dir`."""
    builder = builder_class(config=config, data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def text(value) -> str:
    """A `tfds.features.Text` value read through `as_data_source` (bytes) as `str`."""
    return value.decode() if isinstance(value, bytes) else str(value)
