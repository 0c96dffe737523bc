import jax
import numpy as np
import pytest

from posediff_jax.random_keys import MAX_SEED, seed_key


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 - 1, 2**31, 2**32 - 1])
def test_seeds_below_two_to_the_32_give_jax_prngkey_exactly(seed):
    key = seed_key(seed)
    assert key.dtype == np.uint32 and key.shape == (2,)
    np.testing.assert_array_equal(key, np.asarray(jax.random.PRNGKey(seed)))
    # the same draws, eagerly and inside jit
    np.testing.assert_array_equal(np.asarray(jax.random.normal(key, (5,))),
                                  np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (5,))))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda k: jax.random.fold_in(k, 3))(key)),
                                  np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), 3)))


def test_every_64_bit_seed_names_its_own_key():
    """jax without x64 keeps only a seed's low 32 bits (0 and 2^32 collide); the high word is kept here."""
    seeds = [0, 2**32, 2**40 + 5, 5, MAX_SEED]
    keys = {tuple(seed_key(seed).tolist()) for seed in seeds}
    assert len(keys) == len(seeds)
    np.testing.assert_array_equal(seed_key(2**40 + 5), [256, 5])
    np.testing.assert_array_equal(seed_key(MAX_SEED), [2**31 - 1, 2**32 - 1])


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (MAX_SEED + 1, ValueError), (1.5, TypeError),
                                         (True, TypeError), ("3", TypeError)])
def test_bad_seeds_are_refused(seed, error):
    with pytest.raises(error, match="seed"):
        seed_key(seed)
