"""tools/export_prior.py and tools/make_pose_file.py: user mistakes are one `error:` line and exit code 2."""

import numpy as np
import pytest

from posediff_jax import prior as prior_lib
from posediff_jax.data.fixtures import write_h36m_fixture


def _one_error_line(capsys, tool: str, fragment: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{tool}: error: ") and "\n" not in err and fragment in err, err


@pytest.fixture
def export_prior(load_tool):
    return load_tool("export_prior").main


@pytest.fixture
def make_pose_file(load_tool):
    return load_tool("make_pose_file").main


def test_export_prior_mistakes_are_one_line(tmp_path, capsys, export_prior):
    shipped = prior_lib.default_prior_path()
    no_checkpoint = tmp_path / "no_checkpoint"
    (no_checkpoint / "checkpoints").mkdir(parents=True)
    (no_checkpoint / prior_lib.PRIOR_JSON).write_text((shipped / prior_lib.PRIOR_JSON).read_text())
    (tmp_path / "no_json").mkdir()
    (tmp_path / "a_file").write_text("")
    cases = [
        (["--workdir", str(no_checkpoint)], "holds no finished checkpoint"),
        (["--workdir", str(tmp_path / "missing")], "is not a folder"),
        (["--workdir", str(tmp_path / "no_json")], "no prior.json here"),
        (["--workdir", str(shipped), "--output-under-file"], "cannot create it (a file is in the way"),
        (["--workdir", str(shipped), "--output-is-file"], "is a file, not a folder"),
        (["--workdir", str(shipped), "--output-is-input"], "is the --workdir folder"),
    ]
    for arguments, fragment in cases:
        output = str(tmp_path / "out")
        if "--output-under-file" in arguments:
            arguments, output = arguments[:2], str(tmp_path / "a_file" / "out")
        if "--output-is-file" in arguments:
            arguments, output = arguments[:2], str(tmp_path / "a_file")
        if "--output-is-input" in arguments:
            arguments, output = arguments[:2], str(shipped)
        assert export_prior([*arguments, "--output", output]) == 2, arguments
        _one_error_line(capsys, "export_prior.py", fragment)
    assert not (tmp_path / "out").exists()


def test_export_prior_names_what_it_exported(tmp_path, capsys, export_prior, repo_root):
    import jax
    import jax.numpy as jnp

    from posediff_jax.data.synthetic import synthetic_poses
    from posediff_jax.normalization import compute_normalization_stats
    from posediff_jax.training import checkpoint
    from posediff_jax.training.config_schema import load_config
    from posediff_jax.training.train_state import create_train_state, make_network, make_optimizer

    assert export_prior(["--workdir", str(prior_lib.default_prior_path()), "--output", str(tmp_path / "out"),
                         "--int8"]) == 0
    assert "from the prior folder" in capsys.readouterr().out
    assert prior_lib.load_prior(tmp_path / "out").params
    config = load_config(str(repo_root / "configs" / "tiny.py"))
    state = create_train_state(make_network(config.model), make_optimizer(config.training), jax.random.PRNGKey(0))
    manager = checkpoint.make_checkpoint_manager(tmp_path / "work", save_every=1, keep=1, async_save=False)
    checkpoint.save_state(manager, 7, state.replace(step=jnp.int32(7)))
    manager.wait_until_finished()
    manager.close()
    prior_lib.write_prior_description(tmp_path / "work", prior_lib.prior_description(
        config, compute_normalization_stats(synthetic_poses(64, seed=0))))
    assert export_prior(["--workdir", str(tmp_path / "work"), "--output", str(tmp_path / "from_work")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {tmp_path / 'from_work' / 'params.npz'}") and "from checkpoint step 7" in out


def test_make_pose_file_mistakes_are_one_line(tmp_path, capsys, make_pose_file):
    manual = write_h36m_fixture(tmp_path / "manual", detector="")
    nan = write_h36m_fixture(tmp_path / "nan", detector="")
    positions = np.load(nan / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()
    positions["S9"]["Eating"][7, 3] = np.nan
    np.savez(nan / "data_3d_h36m.npz", positions_3d=np.array(positions, dtype=object))
    output = str(tmp_path / "poses.npz")
    cases = [
        (["--manual-dir", str(tmp_path / "missing")], "--manual-dir"),
        (["--manual-dir", str(manual), "--train-subjects", "S1,S11"], "subjects ['S11'] are not in"),
        (["--manual-dir", str(manual), "--train-subjects", "S1", "--stride", "0"], "--stride: must be a whole number >= 1"),
        (["--manual-dir", str(nan), "--train-subjects", "S1"], "S9 'Eating' has NaN or infinite positions"),
    ]
    for arguments, fragment in cases:
        assert make_pose_file([*arguments, "--output", output]) == 2, arguments
        _one_error_line(capsys, "make_pose_file.py", fragment)
    assert not (tmp_path / "poses.npz").exists()


def test_make_pose_file_skips_a_none_subject_with_a_warning(tmp_path, capsys, make_pose_file):
    manual = write_h36m_fixture(tmp_path / "manual", subjects=("S1", "S5", "S9"), detector="")
    positions = np.load(manual / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()
    positions["S5"] = None
    np.savez(manual / "data_3d_h36m.npz", positions_3d=np.array(positions, dtype=object))
    output = tmp_path / "poses.npz"
    assert make_pose_file(["--manual-dir", str(manual), "--train-subjects", "S1,S5", "--stride", "10",
                           "--output", str(output)]) == 0  # was AttributeError: 'NoneType' ... 'items'
    assert "make_pose_file.py: warning: " in capsys.readouterr().err
    with np.load(output) as data:
        assert list(data["subject_names"]) == ["S1", "S9"]
