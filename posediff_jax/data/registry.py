"""Every evaluated dataset in one table: its tfds builder, evaluation-frame loaders and evaluation protocol.

Adding a dataset: a `posediff_jax/data/<name>.py` builder, one `register(Dataset(...))` below and a
`configs/eval_<name>.py`. Builders and loaders are imported on first use, so this module is cheap to import.
"""

import dataclasses
import importlib
from typing import Callable, Mapping, Optional

import numpy as np

from posediff_jax import skeleton
from posediff_jax.validation import PoseDiffError

TFDS_LOADER = "posediff_jax.data.evaluation_frames:load_tfds_frames"


@dataclasses.dataclass(frozen=True)
class EvaluationProtocol:
    """How a dataset's benchmark numbers are formed.

    average_over: None -> the overall number is the mean over frames; a field -> the mean of its group means.
    joints: H36M-17 indices the metrics use (None: all). extra_metrics: names in `protocols.EXTRA_METRICS`.
    headline: the per-group table's columns; `{first}` / `{last}` are the smallest / largest hypothesis count.
    """

    group_fields: tuple = ()
    average_over: Optional[str] = None
    joints: Optional[tuple] = None
    extra_metrics: tuple = ()
    headline: tuple = ("mpjpe_pbest_m{first}", "mpjpe_pbest_m{last}", "pa_mpjpe_pbest_m{last}", "aggregate_mpjpe")

    def joint_indices(self) -> np.ndarray:
        return np.arange(skeleton.NUM_JOINTS) if self.joints is None else np.asarray(self.joints, int)

    def headline_metrics(self, num_hypotheses) -> list:
        first, last = min(num_hypotheses), max(num_hypotheses)
        return [name.format(first=first, last=last) for name in self.headline]


def _resolve(reference: str):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset: `builder` and `loaders` values are 'module:attribute' references, imported on first use;
    label_defaults: frame label -> the label it copies when the builder's examples lack it."""

    name: str
    builder: str
    protocol: EvaluationProtocol
    loaders: Mapping[str, str] = dataclasses.field(default_factory=lambda: {"tfds": TFDS_LOADER})
    label_defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def builder_class(self):
        return _resolve(self.builder)

    def loader(self, name: str) -> Callable:
        if name not in self.loaders:
            raise PoseDiffError(f"config.data.loader: dataset {self.name!r} has loaders {sorted(self.loaders)}, "
                                f"got {name!r}")
        return _resolve(self.loaders[name])


DATASETS: dict = {}


def register(dataset: Dataset) -> Dataset:
    if dataset.name in DATASETS:
        raise PoseDiffError(f"dataset {dataset.name!r} is registered twice")
    DATASETS[dataset.name] = dataset
    return dataset


def names() -> tuple:
    return tuple(DATASETS)


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise PoseDiffError(f"dataset: expected one of {names()}, got {name!r}")
    return DATASETS[name]


# Joints of the H36M-17 layout that 3DPW's SMPL ground truth provides (all but the head top).
PW3D_JOINTS = tuple(int(j) for j in np.flatnonzero(skeleton.SMPL24_TO_H36M17 >= 0))

register(Dataset(
    "h36m", "posediff_jax.data.h36m:H36M",
    EvaluationProtocol(group_fields=("action",), average_over="action"),
    loaders={"tfds": TFDS_LOADER, "videopose3d": "posediff_jax.data.videopose3d:load_evaluation_frames"}))
register(Dataset(
    "mpi_inf_3dhp", "posediff_jax.data.mpi_inf_3dhp:MPIInf3DHP",
    EvaluationProtocol(group_fields=("sequence", "scene"), extra_metrics=("pck_auc",),
                       headline=("pck_pbest_m{first}", "pck_pbest_m{last}", "auc_pbest_m{last}",
                                 "mpjpe_pbest_m{last}")),
    label_defaults={"sequence": "subject"}))
register(Dataset(
    "pw3d", "posediff_jax.data.pw3d:PW3D",
    EvaluationProtocol(group_fields=("sequence",), joints=PW3D_JOINTS, extra_metrics=("pa_mpjpe_lsp14",),
                       headline=("pa_mpjpe_pbest_m{first}", "pa_mpjpe_pbest_m{last}", "pa_mpjpe_lsp14_pbest_m{last}",
                                 "mpjpe_pbest_m{last}"))))
