"""The dataset registry: one entry per dataset gives its builder, loaders and evaluation protocol."""

import subprocess
import sys

import numpy as np
import pytest

from posediff_jax.data import registry
from posediff_jax.validation import PoseDiffError


def test_every_registered_dataset_resolves_its_builder_and_loaders():
    assert registry.names() == ("h36m", "mpi_inf_3dhp", "pw3d")
    for name in registry.names():
        dataset = registry.get(name)
        builder = dataset.builder_class()
        assert builder.name == {"h36m": "h36_m", "mpi_inf_3dhp": "mpi_inf3_dhp", "pw3d": "p_w3_d"}[name]  # tfds naming
        for loader in dataset.loaders:
            assert callable(dataset.loader(loader))
    assert set(registry.get("h36m").loaders) == {"tfds", "videopose3d"}
    with pytest.raises(PoseDiffError, match="has loaders"):
        registry.get("pw3d").loader("videopose3d")
    with pytest.raises(PoseDiffError, match="expected one of"):
        registry.get("coco")
    with pytest.raises(PoseDiffError, match="registered twice"):
        registry.register(registry.get("h36m"))


def test_protocols_come_from_the_registry():
    from posediff_jax.evaluation import protocols

    assert protocols.grouping("h36m") == (("action",), "action")
    assert protocols.grouping("mpi_inf_3dhp") == (("sequence", "scene"), None)
    assert protocols.headline_metrics("pw3d", [1, 200])[:3] == ["pa_mpjpe_pbest_m1", "pa_mpjpe_pbest_m200",
                                                                "pa_mpjpe_lsp14_pbest_m200"]
    assert len(registry.get("pw3d").protocol.joint_indices()) == 16
    for name in registry.names():
        for extra in registry.get(name).protocol.extra_metrics:
            assert extra in protocols.EXTRA_METRICS
    # A dataset registered with an existing protocol shape needs no change in the metrics code.
    toy = registry.Dataset("toy", "posediff_jax.data.h36m:H36M",
                           registry.EvaluationProtocol(group_fields=("sequence",), joints=tuple(range(8)),
                                                       extra_metrics=("pck_auc",)))
    registry.DATASETS["toy"] = toy
    try:
        rng = np.random.default_rng(0)
        target = rng.normal(scale=200.0, size=(2, 17, 3)).astype(np.float32)
        hypotheses = target[:, None] + rng.normal(scale=50.0, size=(2, 3, 17, 3)).astype(np.float32)
        moved = hypotheses.copy()
        moved[:, :, 12] += 500.0  # not one of the toy protocol's joints
        columns = protocols.frame_metrics("toy", hypotheses, target, [1, 3])
        np.testing.assert_allclose(protocols.frame_metrics("toy", moved, target, [1, 3])["mpjpe_pbest_m3"],
                                   columns["mpjpe_pbest_m3"], rtol=1e-5)
        assert "pck_pbest_m3" in columns and "pck_pbest_m3" in protocols.metric_labels("toy", [1, 3], [0.5])
    finally:
        del registry.DATASETS["toy"]


def test_registry_and_protocol_lookup_do_not_import_tensorflow_datasets():
    code = ("import sys; from posediff_jax.data import registry, evaluation_frames; registry.get('h36m').protocol; "
            "print('tensorflow_datasets' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
