"""Bad training settings are one-line errors (exit 2) before any data is read or anything written, not tracebacks
or silently wrong training; so are a --workdir that cannot be one and training data in the wrong unit."""

import pathlib

import numpy as np
import pytest

from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.training import train
from posediff_jax.training.config_schema import ConfigError, load_config
from posediff_jax.validation import PoseDiffError

TINY = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "tiny.py")


@pytest.mark.parametrize("override, message", [
    ("model.width=0", "model.width: must be an integer >= 1, got 0"),
    ("model.width=-4", "model.width: must be an integer >= 1"),
    ("model.time_embedding_dim=0", "model.time_embedding_dim: must be an integer >= 2"),
    ("model.depth=-1", "model.depth: must be an integer >= 0"),
    ("training.warmup_steps=-1", "training.warmup_steps: must be >= 0"),
    ("training.log_every=0", "training.log_every: must be >= 1"),
    ("training.eval_every=0", "training.eval_every: must be >= 1"),
    ("training.checkpoint_every=0", "training.checkpoint_every: must be >= 1"),
    ("training.keep_checkpoints=0", "training.keep_checkpoints: must be >= 1"),
    ("training.grad_clip=0.0", "training.grad_clip: must be > 0"),
    ("training.ema_decay=2.0", "training.ema_decay: must be in \\[0, 1\\)"),
    ("training.learning_rate=-1.0", "training.learning_rate: must be > 0"),
    ("seed=-1", "seed: must be in \\[0, 4294967296\\)"),
    ("data.stride=0", "data.stride: must be a whole number >= 1"),
    ("data.stride=True", "data.stride: must be a whole number >= 1"),
    ("data.rotation_axis=foo", "data.rotation_axis: must be one of .*'foo'"),
    ("data.flip_probability=2.0", "data.flip_probability: must be in \\[0, 1\\]"),
    ("data.max_rotation_degrees=-5.0", "data.max_rotation_degrees"),
    ("eval.num_poses=0", "eval.num_poses: must be >= 1"),
    ("diffusion.schedule=foo", "config.diffusion: schedule kind"),
])
def test_impossible_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY, [override])


def _cli(capsys, *argv):
    from posediff_jax import cli

    code = cli.main(["train", "--config", TINY, *argv])
    return code, capsys.readouterr().err


def test_cli_bad_value_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    code, err = _cli(capsys, "--workdir", str(tmp_path / "run"), "--config.training.warmup_steps=-1")
    assert code == 2 and "training.warmup_steps" in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_workdir_that_cannot_be_one_is_a_one_line_error(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    code, err = _cli(capsys, "--workdir", str(a_file))
    assert code == 2 and "is a file, not a folder" in err and err.strip().count("\n") == 0
    code, err = _cli(capsys, "--workdir", str(a_file / "run"))
    assert code == 2 and "cannot create it" in err and err.strip().count("\n") == 0
    assert a_file.read_text() == "not a folder"


def test_poses_in_the_wrong_unit_are_refused():
    poses = synthetic_poses(50, seed=0)
    train.check_pose_units("training poses", poses)  # millimetres, as the readers return them
    with pytest.raises(PoseDiffError, match="training poses: the mean bone length is 2.6\\d*e\\+05 mm.*millimetres"):
        train.check_pose_units("training poses", poses * 1000.0)  # a data file in mm read as metres
    with pytest.raises(PoseDiffError, match="another unit"):
        train.check_pose_units("held-out poses", poses / 1000.0)
    with pytest.raises(PoseDiffError, match="no poses"):
        train.check_pose_units("training poses", poses[:0])


def test_training_on_millimetre_data_stops_before_writing_a_prior(tmp_path, monkeypatch):
    poses = synthetic_poses(100, seed=0) * 1000.0
    monkeypatch.setattr(train, "load_pose_splits", lambda data, seed: (poses[:90], poses[90:], None))
    with pytest.raises(PoseDiffError, match="millimetres"):
        train.train_and_evaluate(load_config(TINY), tmp_path / "run")
    assert not (tmp_path / "run" / "prior.json").exists()
