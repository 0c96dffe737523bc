"""Checkpoints: prior export round trip (float32/float16/int8), Orbax save/restore, the shipped priors and 'auto',
clear errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import prior as prior_lib
from posediff_jax.prior import format as prior_format
from posediff_jax.normalization import compute_normalization_stats
from posediff_jax.training import checkpoint
from posediff_jax.training.config_schema import load_config
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.training.train_state import create_train_state, make_network, make_optimizer


@pytest.fixture(scope="module")
def tiny_setup(repo_root):
    config = load_config(str(repo_root / "configs" / "tiny.py"))
    normalization = compute_normalization_stats(synthetic_poses(256, seed=0))
    description = prior_lib.prior_description(config, normalization)
    network, optimizer = make_network(config.model), make_optimizer(config.training)
    state = create_train_state(network, optimizer, jax.random.PRNGKey(0))
    # Non-zero output heads so that a prior's output depends on the weights.
    state = state.replace(ema_params=jax.tree.map(lambda leaf: leaf + 0.01, state.ema_params))
    return config, description, state


def _flat(params):
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(params)])


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 0.0), (np.float16, 1e-3)])
def test_export_round_trip(tmp_path, tiny_setup, dtype, tolerance):
    _, description, state = tiny_setup
    folder = prior_lib.export_prior(tmp_path / "export", state.ema_params, description, dtype=dtype)
    with np.load(folder / prior_lib.PARAMS_NPZ) as stored:
        assert all(stored[name].dtype == dtype for name in stored.files)
    prior = prior_lib.load_prior(folder)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(prior.params))  # computes in float32
    np.testing.assert_allclose(_flat(prior.params), _flat(state.ema_params), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(prior.normalization.mean, description["normalization"]["mean"], rtol=1e-6)
    assert prior.prediction_type == "epsilon" and prior.schedule.kind == "cosine"
    x0, eps = prior.denoise(jnp.zeros((2, 17, 3)), jnp.array([0.2, 0.8]))
    assert x0.shape == eps.shape == (2, 17, 3) and np.all(np.isfinite(x0))


def test_int8_export_keeps_every_weight_within_half_a_step_of_its_column(tmp_path, tiny_setup):
    _, description, state = tiny_setup
    folder = prior_lib.export_prior(tmp_path / "export", state.ema_params, description, dtype="int8")
    flat = prior_format.flatten_dict(jax.device_get(state.ema_params))
    with np.load(folder / prior_lib.PARAMS_NPZ) as stored:
        kernels = [name for name in stored.files if stored[name].dtype == np.int8]
        assert kernels and all(stored[name].ndim == 2 for name in kernels)
        assert all(stored[name + "@scale"].shape == (1, stored[name].shape[1]) for name in kernels)
        assert all(stored[name].dtype == np.float16 for name in stored.files
                   if stored[name].dtype != np.int8 and not name.endswith("@scale"))
        assert len(stored.files) == len(flat) + len(kernels)
    prior = prior_lib.load_prior(folder)
    loaded = prior_format.flatten_dict(jax.device_get(prior.params))
    assert loaded.keys() == flat.keys()
    for key, original in flat.items():
        original = np.asarray(original, np.float32)
        if original.ndim == 2:  # per-column step: |largest weight of the column| / 127
            half_step = np.abs(original).max(axis=0) / 254.0
            assert np.all(np.abs(loaded[key] - original) <= half_step * (1 + 1e-5) + 1e-12), key
            assert np.all(np.abs(loaded[key]).max(axis=0) > 0.99 * np.abs(original).max(axis=0))
        else:
            np.testing.assert_allclose(loaded[key], original, rtol=1e-3, atol=1e-4)
    # np.int8 names the same storage as 'int8' (not a plain cast that would truncate every weight).
    again = prior_lib.export_prior(tmp_path / "again", state.ema_params, description, dtype=np.int8)
    with np.load(folder / prior_lib.PARAMS_NPZ) as stored, np.load(again / prior_lib.PARAMS_NPZ) as stored_again:
        assert stored.files == stored_again.files
        assert all(np.array_equal(stored[name], stored_again[name]) for name in stored.files)
    # A zero column (e.g. an output head at its init) stays exactly zero instead of dividing by zero.
    quantized, scale = prior_format.quantize_int8(np.zeros((4, 3), np.float32))
    assert np.all(quantized == 0) and np.all(scale == 1.0)


def test_int8_files_without_their_scales_are_clear_errors(tmp_path, tiny_setup):
    _, description, state = tiny_setup
    folder = prior_lib.export_prior(tmp_path / "export", state.ema_params, description, dtype="int8")
    with np.load(folder / prior_lib.PARAMS_NPZ) as stored:
        arrays = {name: stored[name] for name in stored.files}
    kernel = next(name for name, value in arrays.items() if value.dtype == np.int8)
    cases = {
        "no scale": ({k: v for k, v in arrays.items() if k != kernel + "@scale"}, "has no"),
        "wrong scale shape": ({**arrays, kernel + "@scale": arrays[kernel + "@scale"][:, :1]}, "expected"),
        "orphan scale": ({**arrays, "params/Missing/kernel@scale": np.ones((1, 2), np.float32)}, "scales no"),
        "scale of a float array": ({**arrays, kernel: arrays[kernel].astype(np.float32)}, "scales no stored int8"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name.replace(" ", "_")
        path.mkdir()
        np.savez(path / prior_lib.PARAMS_NPZ, **content)
        prior_lib.write_prior_description(path, description)
        with pytest.raises(prior_lib.PriorFormatError, match=message):
            prior_lib.load_prior(path)


def test_orbax_save_keeps_k_and_restores_the_state(tmp_path, tiny_setup):
    config, description, state = tiny_setup
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=2, keep=2, async_save=False)
    for step in range(1, 7):
        checkpoint.save_state(manager, step, state.replace(step=jnp.int32(step)))
    manager.wait_until_finished()
    assert sorted(manager.all_steps()) == [4, 6]  # every 2nd step, the last 2 kept
    abstract = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), state)
    restored = checkpoint.restore_latest(manager, abstract)
    manager.close()
    assert int(restored.step) == 6
    np.testing.assert_array_equal(_flat(restored.params), _flat(state.params))
    np.testing.assert_array_equal(_flat(restored.opt_state), _flat(state.opt_state))
    # A training workdir (prior.json + checkpoints/) loads as a prior: the EMA weights of the latest step.
    prior_lib.write_prior_description(tmp_path, description)
    prior = prior_lib.load_prior(tmp_path)
    np.testing.assert_allclose(_flat(prior.params), _flat(state.ema_params))
    empty = checkpoint.make_checkpoint_manager(tmp_path / "empty", 1, 1, async_save=False)
    assert checkpoint.restore_latest(empty, abstract) is None


def test_shipped_prior_loads_and_is_small():
    prior = prior_lib.load_default_prior()
    folder = prior_lib.default_prior_path()
    size = sum(path.stat().st_size for path in folder.iterdir())
    assert size < 15e6
    description = json.loads((folder / prior_lib.PRIOR_JSON).read_text())
    network = make_network(description["model"])
    expected = jax.eval_shape(lambda: network.init(jax.random.PRNGKey(0), jnp.zeros((1, 17, 3)), jnp.zeros((1,))))
    assert jax.tree.structure(expected) == jax.tree.structure(prior.params)
    assert all(a.shape == b.shape for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(prior.params)))
    # Trained on real poses: normalisation in mm (body-sized std) and a network that is not at its zero init.
    assert 50.0 < float(np.mean(prior.normalization.std)) < 1000.0
    x0, _ = prior.denoise(jnp.zeros((17, 3)), 0.5)
    assert float(jnp.abs(x0).max()) > 1e-3


def test_shipped_wide_proportions_prior_is_int8_and_auto_picks_it_for_exact_2d():
    folder = prior_lib.shipped_prior_path("wide_proportions")
    assert sum(path.stat().st_size for path in folder.iterdir()) < 5e6  # int8 kernels: half the default's
    with np.load(folder / prior_lib.PARAMS_NPZ) as stored:
        assert any(stored[name].dtype == np.int8 for name in stored.files)
    wide = prior_lib.resolve_prior("wide_proportions")
    default = prior_lib.resolve_prior("default")
    # The same network (one LayerNorm, before its head: docs/decisions.md, "Network normalisation"), other weights.
    def shapes(params):
        return {jax.tree_util.keystr(path): np.shape(leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(params)}

    assert shapes(wide.params) == shapes(default.params)
    assert sorted(name for name in shapes(wide.params) if "LayerNorm" in name) == [
        "['params']['LayerNorm_0']['bias']", "['params']['LayerNorm_0']['scale']"]
    assert not np.allclose(wide.params["params"]["Dense_2"]["kernel"], default.params["params"]["Dense_2"]["kernel"])
    # 'auto' is the default prior unless the 2D evidence is exact.
    assert [prior_lib.prior_name(spec, exact) for spec, exact in
            (("auto", True), ("auto", False), (None, True), ("", False), ("default", True), ("runs/x", True))] == [
        "wide_proportions", "default", "default", "default", "default", "runs/x"]
    assert np.array_equal(_flat(prior_lib.resolve_prior("auto").params), _flat(default.params))
    assert np.array_equal(_flat(prior_lib.resolve_prior("auto", exact_evidence=True).params), _flat(wide.params))
    assert np.array_equal(_flat(prior_lib.resolve_prior(None, exact_evidence=True).params), _flat(default.params))
    x0, _ = wide.denoise(jnp.zeros((17, 3)), 0.5)
    assert np.all(np.isfinite(x0)) and float(jnp.abs(x0).max()) > 1e-3
    with pytest.raises(prior_lib.PriorFormatError, match="no such folder .*'wide_proportions'"):
        prior_lib.resolve_prior("wide_proportion")  # a typo: a missing folder, and the known names listed


def test_bad_checkpoints_are_clear_errors(tmp_path, tiny_setup):
    _, description, state = tiny_setup
    with pytest.raises(prior_lib.PriorFormatError, match="no such folder"):
        prior_lib.load_prior(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(prior_lib.PriorFormatError, match="prior.json"):
        prior_lib.load_prior(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / prior_lib.PRIOR_JSON).write_text("{not json")
    with pytest.raises(prior_lib.PriorFormatError, match="not a valid prior description"):
        prior_lib.load_prior(broken)
    no_weights = tmp_path / "no_weights"
    prior_lib.write_prior_description(no_weights, description)
    with pytest.raises(prior_lib.PriorFormatError, match="neither params.npz nor checkpoints"):
        prior_lib.load_prior(no_weights)
    mismatched = dict(description, model=dict(description["model"], width=description["model"]["width"] * 2))
    folder = prior_lib.export_prior(tmp_path / "mismatched", state.ema_params, mismatched)
    with pytest.raises(prior_lib.PriorFormatError, match="do not match the model"):
        prior_lib.load_prior(folder)
    deferred = prior_lib.load_prior(folder, build_network=False)  # the sampling commands' way: same error, first call
    with pytest.raises(prior_lib.PriorFormatError, match="do not match the model"):
        deferred.denoise(jnp.zeros((2, 17, 3)), 0.5)
    unknown = prior_lib.export_prior(tmp_path / "unknown", state.ema_params,
                                     dict(description, model=dict(description["model"], name="no_such_network")))
    with pytest.raises(prior_lib.PriorFormatError, match="no_such_network"):
        prior_lib.load_prior(unknown)
    with pytest.raises(prior_lib.PriorFormatError, match="no_such_network"):
        jax.jit(prior_lib.load_prior(unknown, build_network=False).denoise)(jnp.zeros((2, 17, 3)), 0.5)
    truncated = prior_lib.export_prior(tmp_path / "truncated", state.ema_params, description)
    data = (truncated / prior_lib.PARAMS_NPZ).read_bytes()
    (truncated / prior_lib.PARAMS_NPZ).write_bytes(data[: len(data) // 2])
    with pytest.raises(prior_lib.PriorFormatError, match="unreadable"):
        prior_lib.load_prior(truncated)


def test_pickled_arrays_are_refused(tmp_path, tiny_setup):
    _, description, _ = tiny_setup
    folder = tmp_path / "pickled"
    prior_lib.write_prior_description(folder, description)
    np.savez(folder / prior_lib.PARAMS_NPZ, **{"params/Dense_0/kernel": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(prior_lib.PriorFormatError, match="unreadable"):
        prior_lib.load_prior(folder)


def _corrupt(step_dir, how: str) -> None:
    """Damages an Orbax checkpoint folder: random bytes in its largest OCDBT data file, a junk `_METADATA`, or a
    deleted OCDBT manifest."""
    import os

    item = step_dir / "default"
    if how == "data_bytes":
        largest = max((path for path in item.rglob("*") if path.is_file() and path.parent.name == "d"),
                      key=lambda path: path.stat().st_size)
        largest.write_bytes(os.urandom(largest.stat().st_size))
    elif how == "junk_metadata":
        (item / "_METADATA").write_text("junk{")
    else:
        (item / "manifest.ocdbt").unlink()


@pytest.mark.parametrize("how", ["data_bytes", "junk_metadata", "deleted_file"])
def test_corrupt_latest_checkpoint_falls_back_to_the_newest_good_one(tmp_path, tiny_setup, how):
    _, description, state = tiny_setup
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    for step in (1, 2, 3):
        shifted = jax.tree.map(lambda x: x + step, state.ema_params)  # step s's EMA weights: initial + s
        checkpoint.save_state(manager, step, state.replace(step=jnp.int32(step), ema_params=shifted))
    manager.close()
    directory = tmp_path / checkpoint.CHECKPOINT_DIR
    _corrupt(directory / "3", how)
    prior_lib.write_prior_description(tmp_path, description)

    # Loading the workdir as a prior: step 2's EMA weights, one warning naming step 3, nothing moved (read-only).
    with pytest.warns(checkpoint.CheckpointWarning, match="step 3 .*using step 2") as record:
        prior = prior_lib.load_prior(tmp_path)
    assert len([w for w in record if issubclass(w.category, checkpoint.CheckpointWarning)]) == 1
    np.testing.assert_allclose(_flat(prior.params), _flat(state.ema_params) + 2, rtol=1e-6)
    assert (directory / "3").is_dir()

    # Training's restore: step 2, and step 3 set aside as 3.corrupt (kept, invisible to Orbax).
    abstract = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), state)
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    with pytest.warns(checkpoint.CheckpointWarning, match=r"step 3 .*3\.corrupt.*using step 2"):
        restored = checkpoint.restore_latest(manager, abstract)
    assert int(restored.step) == 2
    assert not (directory / "3").exists() and (directory / "3.corrupt").is_dir()
    # Orbax does not trip over it: saving step 3 again works, and keep=3 garbage collection leaves it alone.
    for step in (3, 4, 5):
        assert checkpoint.save_state(manager, step, restored.replace(step=jnp.int32(step)))
    manager.wait_until_finished()
    assert sorted(manager.all_steps()) == [3, 4, 5]
    assert int(checkpoint.restore_latest(manager, abstract).step) == 5
    manager.close()
    assert (directory / "3.corrupt").is_dir()
    assert sorted(p.name for p in directory.iterdir()) == ["3", "3.corrupt", "4", "5"]


def test_no_restorable_checkpoint_is_one_clear_error_and_moves_nothing(tmp_path, tiny_setup):
    _, description, state = tiny_setup
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    for step in (1, 2):
        checkpoint.save_state(manager, step, state.replace(step=jnp.int32(step)))
    manager.close()
    for step in (1, 2):
        _corrupt(tmp_path / checkpoint.CHECKPOINT_DIR / str(step), "junk_metadata")
    prior_lib.write_prior_description(tmp_path, description)
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint can be restored.*step 2.*step 1"):
        prior_lib.load_prior(tmp_path)
    abstract = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), state)
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint can be restored.*another --workdir"):
        checkpoint.restore_latest(manager, abstract)
    manager.close()
    assert sorted(p.name for p in (tmp_path / checkpoint.CHECKPOINT_DIR).iterdir()) == ["1", "2"]


def test_a_target_no_step_fits_is_an_error_not_corruption(tmp_path, tiny_setup):
    """Intact checkpoints restored onto another model's state: every step fails, so none is set aside."""
    config, _, state = tiny_setup
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    for step in (1, 2):
        checkpoint.save_state(manager, step, state.replace(step=jnp.int32(step)))
    manager.close()
    wider = make_network(dict(config.model, width=2 * config.model.width))
    other = create_train_state(wider, make_optimizer(config.training), jax.random.PRNGKey(0))
    abstract = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), other)
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint can be restored"):
        checkpoint.restore_latest(manager, abstract)
    manager.close()
    assert sorted(p.name for p in (tmp_path / checkpoint.CHECKPOINT_DIR).iterdir()) == ["1", "2"]


def _saved_steps_with_a_broken_newest(tmp_path, state, steps, how):
    """Saves `steps` of `state` (EMA weights shifted by the step) and breaks the newest as `how` says; returns the
    checkpoints folder."""
    import shutil

    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    for step in steps:
        shifted = jax.tree.map(lambda x: x + step, state.ema_params)
        checkpoint.save_state(manager, step, state.replace(step=jnp.int32(step), ema_params=shifted))
    manager.close()
    directory, newest = tmp_path / checkpoint.CHECKPOINT_DIR, str(max(steps))
    if how == "missing_item":
        shutil.rmtree(directory / newest / "default")
    elif how == "empty_step":
        shutil.rmtree(directory / newest)
        (directory / newest).mkdir()
    else:
        shutil.rmtree(directory / newest / "default" / "ocdbt.process_0")
    return directory


@pytest.mark.parametrize("how", ["missing_item", "empty_step", "deleted_process_file"])
def test_an_unfinished_latest_step_does_not_block_the_older_ones(tmp_path, tiny_setup, capfd, how):
    """A newest step without its `default/` item (or an empty step folder) must not put the manager into
    multi-item mode, which would fail every older, good step too; a deleted OCDBT file must not leave reads
    behind that print tracebacks later."""
    import gc
    import types

    _, _, state = tiny_setup
    directory = _saved_steps_with_a_broken_newest(tmp_path, state, (1, 2, 3), how)
    capfd.readouterr()

    abstract = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), state)
    manager = checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=3, async_save=False)
    with pytest.warns(checkpoint.CheckpointWarning, match=r"step 3 .*3\.corrupt.*using step 2"):
        restored = checkpoint.restore_latest(manager, abstract)
    manager.close()
    assert int(restored.step) == 2
    np.testing.assert_allclose(_flat(restored.ema_params), _flat(state.ema_params) + 2, rtol=1e-6)
    assert (directory / "3.corrupt").is_dir() and not (directory / "3").exists()
    # No read of the failed restore is left suspended (each would print a traceback whenever it is collected).
    gc.collect()
    suspended = [name for name in (getattr(getattr(obj, "cr_code", None), "co_filename", "") for obj in gc.get_objects()
                                   if isinstance(obj, types.CoroutineType) and obj.cr_frame is not None)
                 if "orbax" in name]
    assert not suspended
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err[:2000]


@pytest.mark.parametrize("how", ["missing_item", "empty_step"])
def test_loading_a_prior_from_a_workdir_skips_an_unfinished_latest_step(tmp_path, tiny_setup, how):
    """The read-only side (`prior.workdir.restore_ema_params`, used by `--prior WORKDIR`) had the same lazily
    configured manager: a newest step without its item made every older step fail."""
    _, _, state = tiny_setup
    directory = _saved_steps_with_a_broken_newest(tmp_path, state, (1, 2), how)
    with pytest.warns(checkpoint.CheckpointWarning, match=r"step 2 .*using step 1"):
        params, path = checkpoint.restore_ema_params(tmp_path)
    assert path.name == "1" and (directory / "2").is_dir()  # read-only: left in place
    np.testing.assert_allclose(_flat(params), _flat(state.ema_params) + 1, rtol=1e-6)


def test_keeping_no_checkpoint_is_refused(tmp_path):
    """Orbax with max_to_keep=0 deletes every checkpoint, the one saved on SIGINT included."""
    from posediff_jax.validation import PoseDiffError

    with pytest.raises(PoseDiffError, match="keep: must be >= 1, got 0"):
        checkpoint.make_checkpoint_manager(tmp_path, save_every=1, keep=0)
    assert not (tmp_path / checkpoint.CHECKPOINT_DIR).exists()
