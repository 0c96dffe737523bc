"""The prior format: a folder with `prior.json` (model, diffusion, normalisation) and `params.npz` (weights).

    prior.json = {"format": "posediff_jax.prior/2",
                  "model": {"name": "residual_mlp", "width": 512, ...},      # model/registry.py
                  "diffusion": {"schedule": "cosine", "prediction_type": "epsilon"},
                  "normalization": {"mean": [[...17 x 3]], "std": [[...]]}}
    params.npz = flattened Flax parameters, keys "params/Dense_0/kernel", float16 or float32; or int8 kernels,
                 each with its per-output-column float32 scale under "<key>@scale" (`export_prior(dtype='int8')`).

Nothing is pickled. Version 1 files (no model name) are the residual MLP. A training workdir holds the same
`prior.json` beside its Orbax checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import zipfile
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.device_arrays import to_device
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.io_utils import save_npz_atomic, write_text_atomic
from posediff_jax.normalization import NormalizationStats
from posediff_jax.prior.prior import Prior
from posediff_jax.validation import PoseDiffError

FORMAT = "posediff_jax.prior/2"
PRIOR_JSON = "prior.json"
PARAMS_NPZ = "params.npz"


class PriorFormatError(PoseDiffError):
    """A prior folder is missing or does not hold what the format says."""


def model_description(model_config) -> dict:
    """The JSON model section of a config's: the registered name and that network's fields."""
    from posediff_jax.model.registry import DEFAULT_NETWORK, network_fields

    settings = dict(model_config.items())
    name = settings.get("name") or DEFAULT_NETWORK
    fields = network_fields(name)
    return {"name": name, **{key: settings.get(key, default) for key, default in fields.items()}}


def prior_description(config, normalization: NormalizationStats) -> dict:
    """The JSON-serialisable description of a prior (model, diffusion, normalisation) from a training config."""
    return {"format": FORMAT, "model": model_description(config.model),
            "diffusion": {"schedule": str(config.diffusion.schedule),
                          "prediction_type": str(config.diffusion.prediction_type)},
            "normalization": {name: np.asarray(value).tolist() for name, value in normalization.to_dict().items()}}


def write_prior_description(directory, description: dict) -> None:
    write_text_atomic(pathlib.Path(directory) / PRIOR_JSON, json.dumps(description, indent=1))


def read_prior_description(directory) -> dict:
    """The description in `directory/prior.json` (version 1 files gain the default model name)."""
    directory = pathlib.Path(directory)
    path = directory / PRIOR_JSON
    if not path.is_file():
        raise PriorFormatError(f"{directory}: no {PRIOR_JSON} here; expected a prior export or a training workdir")
    try:
        description = json.loads(path.read_text())
        result = {"model": dict(description["model"]), "diffusion": dict(description["diffusion"]),
                  "normalization": description["normalization"]}
    except (ValueError, KeyError, TypeError) as error:
        raise PriorFormatError(f"{path}: not a valid prior description ({error})") from None
    if "name" not in result["model"]:
        from posediff_jax.model.registry import DEFAULT_NETWORK

        result["model"]["name"] = DEFAULT_NETWORK
    result["format"] = description.get("format", "posediff_jax.prior/1")
    return result


SCALE_SUFFIX = "@scale"


def quantize_int8(kernel) -> tuple[np.ndarray, np.ndarray]:
    """`[..., in, out]` kernel -> (int8 kernel, float32 scale `[..., 1, out]`), one symmetric scale per column."""
    kernel = np.asarray(kernel, np.float32)
    scale = np.abs(kernel).max(axis=-2, keepdims=True) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return np.clip(np.round(kernel / scale), -127, 127).astype(np.int8), scale


def stored_arrays(params, dtype) -> dict:
    """`{npz key: array}` of `params` as `dtype`: float32, float16, or int8 (kernels int8 with their scales, the
    rest float16)."""
    flat = {"/".join(key): value for key, value in flatten_dict(jax.device_get(params)).items()}
    if np.dtype(dtype) != np.int8:
        return {name: np.asarray(value, dtype) for name, value in flat.items()}
    arrays = {}
    for name, value in flat.items():
        if np.ndim(value) >= 2:
            arrays[name], arrays[name + SCALE_SUFFIX] = quantize_int8(value)
        else:
            arrays[name] = np.asarray(value, np.float16)
    return arrays


def export_prior(directory, params, description: dict, dtype=np.float32) -> pathlib.Path:
    """Writes `params.npz` (weights as `dtype`, `stored_arrays`; loaded as float32 whatever it is) and `prior.json`."""
    directory = pathlib.Path(directory)
    save_npz_atomic(directory / PARAMS_NPZ, **stored_arrays(params, dtype))
    write_prior_description(directory, {**description, "format": FORMAT})
    return directory


def read_params(path) -> dict:
    """Parameters from a `params.npz` as float32 arrays (nested dict; int8 kernels times their scales)."""
    path = pathlib.Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # truncated, corrupt or pickled
        raise PriorFormatError(f"{path}: unreadable ({error})") from None
    flat = {}
    for name, value in stored.items():
        if name.endswith(SCALE_SUFFIX):
            scaled = stored.get(name[: -len(SCALE_SUFFIX)])
            if scaled is None or scaled.dtype != np.int8:
                raise PriorFormatError(f"{path}: {name!r} scales no stored int8 array")
            continue
        value = np.asarray(value, np.float32) if value.dtype != np.int8 else _dequantize(path, name, value, stored)
        check_finite_weights(path, name, value)
        flat[tuple(name.split("/"))] = to_device(value, np.float32)
    return unflatten_dict(flat)


def check_finite_weights(source, name: str, value) -> None:
    """Raises `PriorFormatError` naming the parameter if `value` holds NaN or inf (a diverged training run)."""
    value = np.asarray(value)
    if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        raise PriorFormatError(f"{source}: parameter {name!r} holds {bad} NaN or infinite value(s) of {value.size} "
                               f"(a diverged training run?)")


def _dequantize(path, name: str, value, stored: dict) -> np.ndarray:
    scale = stored.get(name + SCALE_SUFFIX)
    if scale is None:
        raise PriorFormatError(f"{path}: int8 array {name!r} has no {name + SCALE_SUFFIX!r}")
    expected = value.shape[:-2] + (1, value.shape[-1]) if value.ndim >= 2 else None
    if scale.shape != expected:
        raise PriorFormatError(f"{path}: {name + SCALE_SUFFIX!r} has shape {scale.shape}; expected {expected} "
                               f"for the int8 array's shape {value.shape}")
    return value.astype(np.float32) * np.asarray(scale, np.float32)


def flatten_dict(tree: Mapping) -> dict:
    """`{'a': {'b': x}}` -> `{('a', 'b'): x}` for nested parameter dicts (`jax.tree_util` paths)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {tuple(key.key for key in path): leaf for path, leaf in leaves}


def unflatten_dict(flat: dict) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def check_params_match(network, params, source) -> None:
    """Raises `PriorFormatError` unless `params` has exactly the structure and shapes `network` expects."""
    from posediff_jax.model.registry import network_fields

    expected = jax.eval_shape(lambda: network.init(jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,))))
    expected_flat = {key: value.shape for key, value in flatten_dict(expected).items()}
    found_flat = {key: np.shape(value) for key, value in flatten_dict(params).items()}
    if expected_flat != found_flat:
        differing = sorted("/".join(key) for key in set(expected_flat) ^ set(found_flat)) or sorted(
            "/".join(key) for key in expected_flat if expected_flat[key] != found_flat[key])
        settings = {key: getattr(network, key) for key in network_fields(type(network).registered_name)}
        raise PriorFormatError(f"{source}: weights do not match the model in {PRIOR_JSON} ({type(network).__name__} "
                               f"{settings}); differing: {differing[:4]}")


class NetworkApply:
    """`apply_fn(params, x_t [..., 17, 3], t [...]) -> [..., 17, 3]` of the network a prior description names.

    The Flax module is built (and the weights checked against it, with a `source`) on the first call at the
    latest: a process that only calls a stored sampler (`sampling/export_cache.py`) pays neither.
    """

    def __init__(self, model_description: dict, source=None):
        self.model_description = dict(model_description)
        self.source = source
        self._network = None

    def network(self, params):
        """The Flax module, built once (`PriorFormatError` for a bad model section or mismatched weights)."""
        if self._network is None:
            from posediff_jax.model.registry import make_network

            try:
                network = make_network(self.model_description)
            except PoseDiffError as error:
                raise PriorFormatError(f"{self.source or PRIOR_JSON}: {error}") from None
            if self.source is not None:
                check_params_match(network, params, self.source)
            self._network = network
        return self._network

    def __call__(self, params, x_t, t):
        return self.network(params).apply(params, x_t, t)


def prior_from_description(description: dict, params, source=None, build_network: bool = True) -> Prior:
    """A `Prior` from a description and its parameters (checked when `source` is given); `build_network=False`
    defers building and checking to the first network call."""
    apply_fn = NetworkApply(description["model"], source)
    if build_network:
        apply_fn.network(params)
    normalization = NormalizationStats.from_dict({name: np.asarray(value, np.float32)
                                                  for name, value in description["normalization"].items()})
    return Prior(params=params, normalization=normalization, apply_fn=apply_fn,
                 schedule=VPSchedule(description["diffusion"]["schedule"]),
                 prediction_type=description["diffusion"]["prediction_type"],
                 identity=hashlib.sha256(json.dumps(description, sort_keys=True, default=repr).encode()).hexdigest())
