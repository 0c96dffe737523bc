"""Frozen dataclasses that are JAX PyTrees, without Flax (whose import slows start-up).

`pytree_dataclass`: fields are leaves, except `static_field()`s (in the tree definition, hashed by `jit`), and
`.replace(**changes)` returns a copy.
"""

from __future__ import annotations

import dataclasses

import jax


def static_field(**kwargs):
    """A dataclass field that is part of the tree definition, not a leaf (e.g. a function, a name, a schedule)."""
    metadata = dict(kwargs.pop("metadata", None) or {}, static=True)
    return dataclasses.field(metadata=metadata, **kwargs)


def pytree_dataclass(cls: type) -> type:
    """Class decorator: a frozen dataclass registered as a PyTree (see the module docstring)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    jax.tree_util.register_dataclass(
        cls,
        data_fields=[field.name for field in fields if not field.metadata.get("static")],
        meta_fields=[field.name for field in fields if field.metadata.get("static")],
    )
    cls.replace = dataclasses.replace
    return cls
