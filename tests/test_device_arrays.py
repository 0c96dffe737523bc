"""Host arrays onto the device (posediff_jax/device_arrays.py): the values, dtypes and no compiled program."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.device_arrays import to_device
from posediff_jax.guidance import index_evidence, stack_evidence
from posediff_jax.guidance.render import heatmap_evidence_from_keypoints
from posediff_jax.prior.gaussian import STANDING_POSE_MM


def test_values_and_dtype_are_kept_or_converted():
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    converted = to_device(host, np.float32)
    assert isinstance(converted, jax.Array) and converted.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(converted), host)
    assert to_device([True, False], bool).dtype == jnp.bool_
    already = jnp.ones(3, jnp.float32)
    assert to_device(already) is already and to_device(already, np.float32) is already
    assert to_device(already, np.int32).dtype == jnp.int32


def test_a_new_shape_compiles_nothing(caplog):
    """`jnp.asarray(numpy)` compiles a copy program per new shape (what made a warm CLI start slow); this not."""
    shape = (3, 7, 11)  # a shape no other test converts
    with jax.log_compiles(True), caplog.at_level(logging.DEBUG):
        to_device(np.ones(shape, np.float32)).block_until_ready()
    assert not [record for record in caplog.records if "Compiling" in record.getMessage()]
    with jax.log_compiles(True), caplog.at_level(logging.DEBUG):  # the check above can see a compilation
        jnp.asarray(np.ones(shape, np.float32)).block_until_ready()
    if not [record for record in caplog.records if "Compiling" in record.getMessage()]:
        pytest.skip("this JAX's jnp.asarray compiles nothing either")


def test_index_evidence_of_every_frame_is_the_evidence_itself():
    K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
    pose = np.asarray(STANDING_POSE_MM) + np.array([0.0, 0.0, 5000.0])
    pixels = pose[:, :2] / pose[:, 2:] * 1150.0 + np.array([512.0, 515.0])
    evidence = stack_evidence([heatmap_evidence_from_keypoints(pixels + shift, K) for shift in (0.0, 5.0, 9.0)])
    assert index_evidence(evidence, slice(0, 3)) is evidence
    assert index_evidence(evidence, slice(None)) is evidence
    middle = index_evidence(evidence, slice(1, 2))
    np.testing.assert_array_equal(np.asarray(middle.keypoints_2d), np.asarray(evidence.keypoints_2d)[1:2])
    np.testing.assert_array_equal(np.asarray(index_evidence(evidence, 2).keypoints_2d),
                                  np.asarray(evidence.keypoints_2d)[2])


def test_one_cpu_device_leaves_host_and_single_device_arrays_alone():
    from posediff_jax.device_arrays import on_one_cpu_device

    host = np.ones((2, 3), np.float32)
    assert on_one_cpu_device(host) is host  # NumPy: the caller's jnp.asarray places it
    single = jax.device_put(host)
    assert on_one_cpu_device(single) is single
    # spread over several CPU devices: tests/test_metrics.py (a process with two devices)
