"""Frozen dataclasses that are JAX PyTrees, with JAX alone.

Evidence (`guidance/evidence.py`), the prior (`prior/prior.py`) and the normalisation statistics are plain-data
PyTrees that every sampling process needs. Declaring them with `flax.struct` imported all of Flax (~0.17 s of a
2-core CPU's `posediff estimate` start) into processes that call a stored sampler and never build a network.
`pytree_dataclass` behaves the same with `jax.tree_util.register_dataclass`: a frozen dataclass whose fields are
leaves, except those declared with `static_field()` (kept in the tree definition: hashed and compared by `jit`,
never traced), with `.replace(**changes)` returning a copy.
"""

from __future__ import annotations

import dataclasses

import jax


def static_field(**kwargs):
    """A dataclass field that is part of the tree definition, not a leaf (e.g. a function, a name, a schedule)."""
    metadata = dict(kwargs.pop("metadata", None) or {}, static=True)
    return dataclasses.field(metadata=metadata, **kwargs)


def _replace(self, **changes):
    """A copy with `changes` applied (`dataclasses.replace`)."""
    return dataclasses.replace(self, **changes)


def pytree_dataclass(cls: type) -> type:
    """Class decorator: a frozen dataclass registered as a PyTree (see the module docstring)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    jax.tree_util.register_dataclass(
        cls,
        data_fields=[field.name for field in fields if not field.metadata.get("static")],
        meta_fields=[field.name for field in fields if field.metadata.get("static")],
    )
    cls.replace = _replace
    return cls
