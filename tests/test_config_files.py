"""Config files and overrides: every user mistake is one ConfigError naming the file or key, never a traceback;
string and tuple settings read the values users type."""

import pytest

from posediff_jax.config_files import ConfigError, apply_overrides, load_config_file
from posediff_jax.evaluation.config_schema import default_eval_config, validate_eval_config
from posediff_jax.training.config_schema import default_config, load_config


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("argument", ["steps=abc", "steps="])
def test_a_bad_config_argument_names_the_file(repo_root, argument):
    with pytest.raises(ConfigError, match=r"tiny\.py:" + argument + r": ValueError: invalid literal"):
        load_config(f"{repo_root / 'configs' / 'tiny.py'}:{argument}")


def test_broken_config_files_are_one_line_errors(tmp_path, repo_root):
    cases = {
        _write(tmp_path, "syntax.py", "def get_config(:\n    pass\n"): r"syntax\.py: line 1: syntax error",
        _write(tmp_path, "imports.py", "import no_such_module_xyz\n"): r"imports\.py: ModuleNotFoundError: .*no_such",
        str(repo_root / "README.md"): r"README\.md: expected a Python file \(\.py\)",
        _write(tmp_path, "number.py", "def get_config():\n    return 5\n"): r"number\.py: get_config\(\) returned int",
    }
    for spec, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config(spec)


def test_a_config_not_built_from_the_default_names_what_is_missing(tmp_path):
    bare = _write(tmp_path, "bare.py", "import ml_collections\n\ndef get_config():\n"
                                       "    return ml_collections.ConfigDict()\n")
    with pytest.raises(ConfigError, match=r"missing 'data', 'diffusion', 'eval', 'model'"):
        load_config(bare)  # was AttributeError: 'model'
    with pytest.raises(ConfigError, match=r"bare\.py: config: missing 'aggregation'"):
        load_config_file(bare, reference=default_eval_config)


def test_string_and_tuple_overrides_read_what_users_type():
    config = apply_overrides(default_eval_config(), ["data.manual_dir=2024", "data.subjects=(S9,)",
                                                     "data.actions=Walking,Eating", "num_hypotheses=(1, 10)"])
    assert config.data.manual_dir == "2024"  # was refused: an int for a string field
    assert config.data.subjects == ("S9",)  # was the one string '(S9,)'
    assert config.data.actions == ("Walking", "Eating")
    assert config.num_hypotheses == (1, 10)


def test_a_wrongly_typed_override_names_the_type_the_key_takes():
    with pytest.raises(ConfigError, match=r"'training\.num_steps' takes int values \(now \d+\), got 'abc'"):
        apply_overrides(default_config(), ["--config.training.num_steps=abc"])  # was ml_collections' own text


@pytest.mark.parametrize("override, key", [
    ("batch_size=0", "batch_size"), ("data.max_frames=-1", "data.max_frames"),
    ("num_hypotheses=()", "num_hypotheses"), ("plausibility.reference_stride=0", "plausibility.reference_stride"),
    ("num_hypotheses=(1, 0)", "num_hypotheses"), ("calibration_levels=(1.5,)", "calibration_levels"),
])
def test_impossible_evaluation_values_name_the_key(override, key):
    config = apply_overrides(default_eval_config(), [override])
    with pytest.raises(ConfigError, match=rf"config\.{key}"):
        validate_eval_config(config)


def test_the_shipped_evaluation_configs_validate(repo_root):
    for name in ("eval_h36m", "eval_prior_plausibility", "eval_h36m_completion", "eval_3dpw", "eval_mpi_inf_3dhp"):
        validate_eval_config(load_config_file(str(repo_root / "configs" / f"{name}.py"),
                                              reference=default_eval_config))
