"""Score networks by name: `config.model.name` -> a Flax module; the model section is stored in prior.json.

`@register_network("residual_mlp")` on a Flax module `(x_t [..., 17, 3], t [...]) -> [..., 17, 3]` makes its
dataclass fields settable: `make_network({"name": "residual_mlp", "width": 512})` builds it (unknown keys are an
error), `network_description(module)` is the inverse. Built-in networks register on importing `posediff_jax.model`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from posediff_jax.validation import PoseDiffError

DEFAULT_NETWORK = "residual_mlp"
_NETWORKS: dict[str, type] = {}


class UnknownNetworkError(PoseDiffError):
    """`config.model.name` names no registered network, or its settings do not fit it."""


def register_network(name: str) -> Callable[[type], type]:
    """Class decorator: makes a Flax module constructible by `make_network({'name': name, ...})`."""

    def decorator(module_class: type) -> type:
        if name in _NETWORKS and _NETWORKS[name] is not module_class:
            raise ValueError(f"network {name!r} is already registered ({_NETWORKS[name].__name__})")
        _NETWORKS[name] = module_class
        module_class.registered_name = name
        return module_class

    return decorator


def registered_networks() -> tuple[str, ...]:
    return tuple(sorted(_NETWORKS))


def network_fields(name: str) -> dict:
    """`{field: default}` of the registered network `name` (what its model section may set)."""
    module_class = _network_class(name)
    return {field.name: field.default for field in dataclasses.fields(module_class)
            if field.name not in ("parent", "name") and field.default is not dataclasses.MISSING}


def make_network(model_config: Mapping):
    """A Flax module from `{'name': ..., field: value, ...}` (a dict or ConfigDict)."""
    settings = dict(model_config.items())
    name = settings.pop("name", DEFAULT_NETWORK) or DEFAULT_NETWORK
    fields = network_fields(name)
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise UnknownNetworkError(f"model '{name}': unknown settings {unknown} (known: {sorted(fields)})")
    return _network_class(name)(**settings)


def network_description(network) -> dict:
    """`{'name': ..., field: value}` of a registered module (JSON-serialisable; inverse of `make_network`)."""
    name = getattr(type(network), "registered_name", None)
    if name is None:
        raise UnknownNetworkError(f"{type(network).__name__} is not a registered network")
    return {"name": name, **{field: getattr(network, field) for field in network_fields(name)}}


def make_apply_fn(network):
    """`apply_fn(params, x_t [..., 17, 3], t [...]) -> [..., 17, 3]` for `posediff_jax.prior.Prior`."""
    return network.apply


def _network_class(name: str) -> type:
    if name not in _NETWORKS:
        raise UnknownNetworkError(f"model name {name!r}: expected one of {sorted(_NETWORKS)}")
    return _NETWORKS[name]

