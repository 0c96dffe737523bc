"""Flax score networks, registered by name (`registry.py`); `config.model.name` picks one."""

from posediff_jax.model.registry import (make_apply_fn, make_network, network_description, network_fields,
                                         register_network, registered_networks)
from posediff_jax.model.score_network import ScoreNetwork, sinusoidal_time_embedding

__all__ = ["ScoreNetwork", "sinusoidal_time_embedding", "make_apply_fn", "make_network", "network_description",
           "network_fields", "register_network", "registered_networks"]
