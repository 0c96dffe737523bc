"""Loading priors from exports and training workdirs: weights placed so any device layout can use them, and
non-finite weights refused with the parameter named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import prior as prior_lib
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.normalization import compute_normalization_stats
from posediff_jax.training import checkpoint
from posediff_jax.training.config_schema import load_config
from posediff_jax.training.train_state import create_train_state, make_network, make_optimizer


@pytest.fixture(scope="module")
def tiny_setup(repo_root):
    config = load_config(str(repo_root / "configs" / "tiny.py"))
    description = prior_lib.prior_description(config, compute_normalization_stats(synthetic_poses(256, seed=0)))
    state = create_train_state(make_network(config.model), make_optimizer(config.training), jax.random.PRNGKey(0))
    return description, state


def _workdir(path, description, state):
    manager = checkpoint.make_checkpoint_manager(path, save_every=1, keep=1, async_save=False)
    checkpoint.save_state(manager, 1, state.replace(step=jnp.int32(1)))
    manager.wait_until_finished()
    manager.close()
    prior_lib.write_prior_description(path, description)
    return path


def test_workdir_weights_are_not_committed_to_one_device(tmp_path, tiny_setup):
    """Orbax restores arrays committed to device 0; a sampler sharded over one CPU device per core (the sampling
    commands' layout) then failed with "incompatible devices for jitted computation". Loaded weights must be
    uncommitted, like an export's."""
    description, state = tiny_setup
    prior = prior_lib.load_prior(_workdir(tmp_path / "work", description, state))
    leaves = jax.tree.leaves(prior.params)
    assert leaves and not any(leaf.committed for leaf in leaves)
    np.testing.assert_array_equal(np.concatenate([np.ravel(leaf) for leaf in leaves]),
                                  np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(state.ema_params)]))


def test_non_finite_weights_in_an_export_name_the_parameter(tmp_path):
    folder = tmp_path / "diverged"
    folder.mkdir()
    shipped = prior_lib.default_prior_path()
    (folder / prior_lib.PRIOR_JSON).write_text((shipped / prior_lib.PRIOR_JSON).read_text())
    with np.load(shipped / prior_lib.PARAMS_NPZ) as stored:
        arrays = {name: stored[name] for name in stored.files}
    bias = arrays["params/Dense_0/bias"].copy()
    bias[3] = np.nan
    np.savez(folder / prior_lib.PARAMS_NPZ, **{**arrays, "params/Dense_0/bias": bias})
    with pytest.raises(prior_lib.PriorFormatError, match=r"params/Dense_0/bias.*1 NaN or infinite"):
        prior_lib.resolve_prior(str(folder))


def test_non_finite_weights_in_a_workdir_name_the_parameter(tmp_path, tiny_setup):
    description, state = tiny_setup
    ema = jax.tree_util.tree_map_with_path(
        lambda path, leaf: leaf.at[0].set(jnp.inf) if "Dense_0" in jax.tree_util.keystr(path)
        and "bias" in jax.tree_util.keystr(path) else leaf, state.ema_params)
    workdir = _workdir(tmp_path / "work", description, state.replace(ema_params=ema))
    with pytest.raises(prior_lib.PriorFormatError, match=r"Dense_0/bias.*NaN or infinite"):
        prior_lib.load_prior(workdir)


def test_a_workdir_of_an_unfinished_run_loads_with_one_warning_line(tmp_path, tiny_setup, capsys):
    """A checkpoint keeps the planned length of the run that saved it: a prior from step 5 of 200 is said to be
    unfinished (one line through the CLI's reporting); the last step of a run, or a step saved without a length,
    loads silently."""
    import warnings

    from posediff_jax import cli
    from posediff_jax.prior.workdir import UnfinishedRunWarning

    description, state = tiny_setup
    for name, step, num_steps in (("stopped", 5, 200), ("finished", 200, 200), ("unknown", 5, None)):
        path = tmp_path / name
        manager = checkpoint.make_checkpoint_manager(path, save_every=1, keep=1, async_save=False)
        checkpoint.save_state(manager, step, state.replace(step=jnp.int32(step)), num_steps=num_steps)
        manager.close()
        prior_lib.write_prior_description(path, description)
    assert cli.run_with_one_line_messages("posediff estimate", lambda: prior_lib.load_prior(tmp_path / "stopped")
                                          and 0) == 0
    err = capsys.readouterr().err
    assert err == (f"posediff estimate: warning: prior {tmp_path / 'stopped'}: from an unfinished training run "
                   "(checkpoint step 5 of 200); train it to the end for a better prior\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnfinishedRunWarning)
        for name in ("finished", "unknown"):
            prior_lib.load_prior(tmp_path / name)
