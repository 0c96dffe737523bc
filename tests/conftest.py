"""Shared fixtures. Tests run on CPU; `../shared` (real data) is optional."""

import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

# One persistent XLA compilation cache per test run, shared by the xdist workers (the controller creates it before
# they start and removes it at the end): tests build many samplers with the same tiny prior and settings, each a
# new `jit` closure that would otherwise compile the same program again (a few seconds each on the CI's cores).
# Subprocesses get it only where a test passes it on (test_training's `run_python`); commands keep their own
# caches (the tests choose them).
TEST_XLA_CACHE_ENV = "POSEDIFF_JAX_TEST_XLA_CACHE"


def pytest_configure(config):
    if not hasattr(config, "workerinput") and TEST_XLA_CACHE_ENV not in os.environ:
        import tempfile

        os.environ[TEST_XLA_CACHE_ENV] = tempfile.mkdtemp(prefix="posediff_jax_test_xla_")
        config._posediff_made_cache = os.environ[TEST_XLA_CACHE_ENV]
    directory = os.environ.get(TEST_XLA_CACHE_ENV)
    if directory:
        import jax

        jax.config.update("jax_compilation_cache_dir", directory)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def pytest_unconfigure(config):
    made = getattr(config, "_posediff_made_cache", None)
    if made:
        import shutil

        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop(TEST_XLA_CACHE_ENV, None)


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


@pytest.fixture(scope="session")
def load_tool(repo_root):
    """`load_tool(name)`: the script `tools/<name>.py` imported as a module, with `tools/` on `sys.path` while it
    loads (as when it runs as a script: the tools import one another, e.g. bench_sampler)."""
    import importlib.util
    import sys

    def load(name: str):
        tools = str(repo_root / "tools")
        sys.path.insert(0, tools)
        try:
            spec = importlib.util.spec_from_file_location(name, repo_root / "tools" / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(tools)
        return module

    return load


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


