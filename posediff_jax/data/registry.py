"""Every dataset the project evaluates on, in one table: its tfds builder, its evaluation-frame loaders and its
evaluation protocol.

    dataset = registry.get("h36m")
    dataset.builder_class()            # posediff_jax.data.h36m.H36M (imported on first use: tfds is slow to import)
    dataset.loader("videopose3d")      # config -> (frames, problems), see data.evaluation_frames
    dataset.protocol.group_fields      # ('action',)

Adding a dataset: one new file `posediff_jax/data/<name>.py` with its tfds builder (examples with the fields of
`tfds_support.frame_dataset_info`), one `register(Dataset(...))` statement below, and a `configs/eval_<name>.py`.
The metrics (`evaluation.protocols`) and the frame loading (`data.evaluation_frames`) read everything
dataset-specific from here.

This module imports only numpy and the skeleton tables, so listing datasets or reading a protocol is cheap.
"""

from __future__ import annotations

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

    group_fields: frame labels the report tables group by (a field the frames lack is left out).
    average_over: None -> the overall number is the mean over frames; a field name -> the mean of the
      per-group means of that field (Human3.6M: the mean of per-action means).
    joints: H36M-17 joint indices the metrics use (None: all 17), e.g. 3DPW's SMPL ground truth lacks the head top.
    extra_metrics: names of extra metric families in `evaluation.protocols.EXTRA_METRICS`
      ('pck_auc': PCK@150 / AUC; 'pa_mpjpe_lsp14': PA-MPJPE on the LSP-14 subset).
    headline: the per-group table's columns; `{first}` / `{last}` become the smallest / largest hypothesis count.
    """

    group_fields: tuple = ()
    average_over: Optional[str] = None
    joints: Optional[tuple] = None
    extra_metrics: tuple = ()
    headline: tuple = ("mpjpe_pbest_m{first}", "mpjpe_pbest_m{last}", "pa_mpjpe_pbest_m{last}", "aggregate_mpjpe")

    def joint_indices(self) -> np.ndarray:
        """`[J]` int indices into the 17 joints."""
        return np.arange(skeleton.NUM_JOINTS) if self.joints is None else np.asarray(self.joints, int)

    def headline_metrics(self, num_hypotheses) -> list:
        first, last = min(num_hypotheses), max(num_hypotheses)
        return [name.format(first=first, last=last) for name in self.headline]


def _resolve(reference: str):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset: `builder` and the `loaders` values are 'module:attribute' references, imported on first use.

    loaders: `config.data.loader` name -> function `(config) -> (frames, problems)` (see `data.evaluation_frames`).
    label_defaults: frame label -> label it copies when the builder's examples lack it
      (MPI-INF-3DHP: the test sequence is the subject TS1..TS6).
    """

    name: str
    builder: str
    protocol: EvaluationProtocol
    loaders: Mapping[str, str] = dataclasses.field(default_factory=lambda: {"tfds": TFDS_LOADER})
    label_defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def builder_class(self):
        """The tfds builder class (imports its module, and tensorflow_datasets)."""
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
    """The registered dataset `name`; `PoseDiffError` listing the known names otherwise."""
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
                       headline=("pck_pbest_m{first}", "pck_pbest_m{last}", "auc_pbest_m{last}", "mpjpe_pbest_m{last}")),
    label_defaults={"sequence": "subject"}))
register(Dataset(
    "pw3d", "posediff_jax.data.pw3d:PW3D",
    EvaluationProtocol(group_fields=("sequence",), joints=PW3D_JOINTS, extra_metrics=("pa_mpjpe_lsp14",),
                       headline=("pa_mpjpe_pbest_m{first}", "pa_mpjpe_pbest_m{last}", "pa_mpjpe_lsp14_pbest_m{last}",
                                 "mpjpe_pbest_m{last}"))))
