"""pytrees.pytree_dataclass: frozen dataclasses that are PyTrees (leaves vs static fields), with `replace`."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax.pytrees import pytree_dataclass, static_field


@pytree_dataclass
class Pair:
    values: jnp.ndarray
    weights: jnp.ndarray
    name: str = static_field(default="pair")


def test_fields_are_leaves_and_static_fields_are_part_of_the_tree_definition():
    pair = Pair(jnp.arange(3.0), jnp.ones(2), name="a")
    leaves, treedef = jax.tree.flatten(pair)
    assert len(leaves) == 2 and "a" in str(treedef)
    rebuilt = jax.tree.unflatten(treedef, [2 * leaf for leaf in leaves])
    assert isinstance(rebuilt, Pair) and rebuilt.name == "a"
    np.testing.assert_array_equal(rebuilt.values, [0.0, 2.0, 4.0])
    paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(pair)[0]]
    assert paths == [".values", ".weights"]
    assert jax.tree.structure(Pair(jnp.zeros(3), jnp.zeros(2), name="b")) != treedef  # another static value


def test_vmap_over_a_stacked_batch_and_jit_specialises_on_static_fields():
    batch = Pair(jnp.arange(6.0).reshape(2, 3), jnp.ones((2, 2)))
    sums = jax.vmap(lambda pair: pair.values.sum() + pair.weights.sum())(batch)
    np.testing.assert_array_equal(sums, [5.0, 14.0])
    traces = []

    @jax.jit
    def total(pair):
        traces.append(pair.name)
        return pair.values.sum()

    for name in ("a", "a", "b"):
        total(Pair(jnp.ones(3), jnp.ones(2), name=name))
    assert traces == ["a", "b"]  # the same static value reuses the program; another one retraces


def test_frozen_with_replace_returning_a_copy():
    pair = Pair(jnp.zeros(3), jnp.zeros(2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.name = "b"
    changed = pair.replace(name="b", weights=jnp.ones(2))
    assert (changed.name, pair.name) == ("b", "pair")
    np.testing.assert_array_equal(changed.weights, [1.0, 1.0])
    with pytest.raises(TypeError):
        pair.replace(missing=1)
