"""Shared fixtures. Tests run on CPU; `../shared` (real data) is optional."""

import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DIR = pathlib.Path(os.environ.get("POSEDIFF_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """The real data folder `../shared`; skips the test when it is absent."""
    if not (SHARED_DIR / "data").is_dir():
        pytest.skip(f"real data not found at {SHARED_DIR} (set POSEDIFF_SHARED_DIR)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO_ROOT


@pytest.fixture
def fast_compile():
    """XLA with most optimisations off for the test: compile time dominates these small programs."""
    import jax

    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", False)


@pytest.fixture
def tiny_builder_eval_config(tmp_path):
    """`make(dataset, manual_dir, max_frames, batch_size)`: the default evaluation config reading `dataset`'s tfds
    builder from `manual_dir` (prepared under tmp_path), sized for tests: 2 steps, m in (1, 4), 16 px heatmaps."""
    from posediff_jax.evaluation import config_schema

    def make(dataset, manual_dir, max_frames, batch_size):
        config = config_schema.default_eval_config()
        config.dataset = config.data.builder = dataset
        config.data.manual_dir, config.data.data_dir = str(manual_dir), str(tmp_path / "tfds")
        config.data.frame_stride, config.data.max_frames = 1, max_frames
        config.sampler.num_steps, config.num_hypotheses, config.batch_size = 2, (1, 4), batch_size
        config.evidence.heatmap_size = 16
        return config

    return make
