"""Stored samplers (sampling/export_cache.py): a stored program gives the traced sampler's results, anything that
changes the computation names another program, and a damaged or unwritable store costs only the speed-up."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import cli, geometry
from posediff_jax.guidance import heatmap_evidence_from_keypoints, make_heatmap_energy, stack_evidence
from posediff_jax.prior.gaussian import STANDING_POSE_MM
from posediff_jax.prior.tiny import make_tiny_prior
from posediff_jax.sampling import make_sampler
from posediff_jax.sampling import export_cache
from posediff_jax.sampling.export_cache import SUFFIX, ExportCache

pytestmark = pytest.mark.usefixtures("fast_compile")

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
OPTIONS = dict(num_steps=4, guidance_repeats=2, chunk_size=8)


@pytest.fixture(scope="module")
def prior():
    return make_tiny_prior()


@pytest.fixture(scope="module")
def evidence():
    pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(STANDING_POSE_MM) + jnp.array([0.0, 0.0, 5000.0]), K))
    frames = [heatmap_evidence_from_keypoints(pixels + shift, K) for shift in (0.0, 7.0)]
    return stack_evidence(frames)


def stored(directory):
    return sorted(path.name for path in directory.glob(f"*{SUFFIX}"))


def sample(prior, evidence, cache, hypotheses=5, **options):
    sampler = make_sampler(prior, make_heatmap_energy(), export_cache=cache, **{**OPTIONS, **options})
    poses, energies = sampler.sample_batch(jax.random.PRNGKey(3), evidence, hypotheses, with_energies=True)
    return np.asarray(poses), np.asarray(energies)


@pytest.fixture(scope="module")
def expected(prior, evidence):
    return sample(prior, evidence, None)


class KeyRecorder(ExportCache):
    """Records the program file each call would use, without exporting or running anything."""

    def __init__(self, identity):
        super().__init__("unused", identity)
        self.paths = []

    def call(self, name, function, arguments, static=None):
        leaves = jax.tree.leaves(arguments)
        self.paths.append(self.path_for(self.key(name, export_cache._stable_treedef(arguments), leaves, static), name))
        frames, hypotheses = leaves[1].shape[0], static["num_hypotheses"]
        return jnp.zeros((frames, hypotheses, 17, 3)), jnp.zeros((frames, hypotheses))


def test_stored_program_gives_the_traced_results(prior, evidence, expected, tmp_path):
    first_cache = ExportCache(tmp_path, identity="heatmap")
    first = sample(prior, evidence, first_cache)
    assert (first_cache.misses, first_cache.hits) == (1, 0)
    assert len(stored(tmp_path)) == 1
    second_cache = ExportCache(tmp_path, identity="heatmap")  # a later process: a new cache object, same folder
    second = sample(prior, evidence, second_cache)
    assert (second_cache.misses, second_cache.hits) == (0, 1)
    for got in (first, second):
        np.testing.assert_allclose(got[0], expected[0], atol=1e-3)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-4, atol=1e-3)
    assert len(stored(tmp_path)) == 1


def test_a_stored_bfloat16_sampler_gives_the_traced_bfloat16_results(prior, evidence, tmp_path):
    traced = sample(prior, evidence, None, matmul_dtype="bfloat16")
    first, second = (sample(prior, evidence, ExportCache(tmp_path, identity="heatmap"), matmul_dtype="bfloat16")
                     for _ in range(2))
    assert len(stored(tmp_path)) == 1
    for got in (first, second):
        np.testing.assert_allclose(got[0], traced[0], atol=1e-3)


def test_stored_program_derives_the_frame_keys_of_a_later_batch(prior, evidence, tmp_path):
    """The stored program takes the seed key and the batch's first frame (frame f uses fold_in(key, first + f)):
    a batch starting at frame 5 equals the traced sampler's, and both differ from the batch at frame 0."""
    def batch(cache, first_frame):
        sampler = make_sampler(prior, make_heatmap_energy(), export_cache=cache, **OPTIONS)
        return np.asarray(sampler.sample_batch(jax.random.PRNGKey(3), evidence, 5, first_frame=first_frame))

    cache = ExportCache(tmp_path, identity="heatmap")
    at_five, at_zero = batch(cache, 5), batch(cache, 0)
    assert (cache.misses, cache.hits) == (1, 1)  # one program: the first frame is an argument, not a constant
    np.testing.assert_allclose(at_five, batch(None, 5), atol=1e-3)
    assert np.abs(at_five - at_zero).max() > 1.0


def test_every_input_of_the_computation_names_another_program(prior, evidence):
    def path(identity="heatmap", used_prior=prior, used_evidence=evidence, **options):
        recorder = KeyRecorder(identity)
        sample(used_prior, used_evidence, recorder, **options)
        return recorder.paths[-1]

    base = path()
    assert path() == base  # deterministic for the same inputs
    variants = [
        path(hypotheses=6),  # a static argument
        path(guidance_scale=0.2),  # a sampler setting
        path(matmul_dtype="bfloat16"),  # the number format of the network's products
        path(identity="heatmap, eps 1e-3"),  # the energy, as the caller names it
        path(used_prior=prior.replace(identity="another network")),  # the network
        path(used_evidence=jax.tree.map(lambda leaf: leaf[:1], evidence)),  # argument shapes
        path(used_evidence=jax.tree.map(lambda leaf: leaf.astype(jnp.float16) if leaf.dtype == jnp.float32 else leaf,
                                        evidence)),  # argument dtypes
    ]
    assert len(set(variants + [base])) == len(variants) + 1


def test_without_an_identity_nothing_is_stored(prior, evidence, expected, tmp_path):
    cache = ExportCache(tmp_path, identity="heatmap")
    got = sample(prior.replace(identity=""), evidence, cache)  # a prior built in memory cannot be named
    assert (cache.misses, cache.hits) == (0, 0) and not stored(tmp_path)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-3)
    recorder = KeyRecorder("heatmap")
    sample(prior, evidence, recorder, scale_schedule=lambda t: 1.0 - t)  # a callable cannot be named either
    assert not recorder.paths


def test_damaged_or_unwritable_store_only_costs_the_speed_up(prior, evidence, expected, tmp_path):
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    cache = ExportCache(blocked / "exports", identity="heatmap")  # cannot be created: runs, stores nothing
    np.testing.assert_allclose(sample(prior, evidence, cache)[0], expected[0], atol=1e-3)
    assert cache.misses == 1
    cache = ExportCache(tmp_path, identity="heatmap")
    (path,) = [cache.path_for(cache.key("x", "y", []), "x")]
    path.write_bytes(b"truncated")  # what a crash mid-write elsewhere or another JAX's format looks like
    assert cache._load(path) is None


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False), ("off", False)])
def test_cli_export_folder_follows_the_compilation_cache(tmp_path, value, enabled):
    environ = {} if value is None else {cli.EXPORT_CACHE_ENV: value}
    expected = os.path.join(str(tmp_path), cli.EXPORT_SUBDIRECTORY) if enabled else None
    assert cli.export_cache_dir(str(tmp_path), environ) == expected
    assert cli.export_cache_dir(None, environ) is None  # compilation cache off: no stored samplers either


@pytest.mark.slow
def test_second_cli_run_loads_the_stored_sampler(tmp_path):
    """Two `posediff estimate` processes with the same inputs: the first stores the sampler and the summary of its
    hypotheses, the second loads both (no new file) and writes the same results."""
    pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(STANDING_POSE_MM) + jnp.array([0.0, 0.0, 5000.0]), K))
    np.savez(tmp_path / "frame.npz", keypoints_2d=pixels, intrinsics=K)
    environment = dict(os.environ, POSEDIFF_JAX_CACHE_DIR=str(tmp_path / "cache"), JAX_PLATFORMS="cpu")
    outputs = []
    for run in range(2):
        output = tmp_path / f"out{run}.npz"
        result = subprocess.run(
            [sys.executable, "-m", "posediff_jax", "estimate", "--input", str(tmp_path / "frame.npz"), "--prior",
             "tiny", "--num-hypotheses", "4", "--steps", "3", "--quiet", "--no-plot", "--output", str(output)],
            env=environment, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(np.load(output))
        programs = stored(tmp_path / "cache" / cli.EXPORT_SUBDIRECTORY)
        assert [name.split("-")[0] for name in programs] == ["sample_batch", "summarize_hypotheses"]
    for name in ("hypotheses", "mode_pose", "reprojection_weighted", "root_translation"):
        np.testing.assert_array_equal(outputs[0][name], outputs[1][name])


def test_single_frame_sampling_is_stored_too(prior, evidence, tmp_path):
    frame = jax.tree.map(lambda leaf: leaf[0], evidence)
    traced = make_sampler(prior, make_heatmap_energy(), **OPTIONS).sample(jax.random.PRNGKey(1), frame, 3)
    for expected_counts in ((1, 0), (0, 1)):
        cache = ExportCache(tmp_path, identity="heatmap")
        poses = make_sampler(prior, make_heatmap_energy(), export_cache=cache, **OPTIONS).sample(
            jax.random.PRNGKey(1), frame, 3)
        assert (cache.misses, cache.hits) == expected_counts
        np.testing.assert_allclose(poses, traced, atol=1e-3)


def test_folder_keeps_the_most_recently_used_programs(tmp_path, monkeypatch):
    monkeypatch.setattr(export_cache, "MAX_STORED", 3)
    double = jax.jit(lambda x: 2 * x)

    def call(size):
        cache = ExportCache(tmp_path, identity="x")
        np.testing.assert_array_equal(cache.call("double", double, (jnp.ones(size),)), 2 * np.ones(size))
        return cache.hits

    for size in (1, 2, 3, 4):  # four programs (one per shape): the folder keeps the three used last
        assert call(size) == 0
    assert len(stored(tmp_path)) == 3
    assert call(4) == 1 and call(2) == 1
    assert call(1) == 0  # the oldest was removed; storing it again removes the now least recently used (3)
    assert call(3) == 0


def test_a_function_jax_export_refuses_still_runs(tmp_path):
    def with_callback(x):  # host callbacks cannot be serialised
        return jax.pure_callback(lambda value: np.asarray(value) * 3, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    cache = ExportCache(tmp_path, identity="x")
    np.testing.assert_array_equal(cache.call("callback", jax.jit(with_callback), (jnp.ones(3),)), 3 * np.ones(3))
    assert not stored(tmp_path)
    with pytest.raises(TypeError):  # the function's own errors still surface
        cache.call("bad", lambda x: x + "text", (jnp.ones(3),))


SPREAD_SCRIPT = """
import sys, jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_compilation_cache_dir", sys.argv[1] + "_xla")  # as the CLI: the second run compiles nothing
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
from posediff_jax import geometry
from posediff_jax.guidance import heatmap_evidence_from_keypoints, make_heatmap_energy, stack_evidence
from posediff_jax.prior.gaussian import STANDING_POSE_MM
from posediff_jax.prior.tiny import make_tiny_prior
from posediff_jax.sampling import make_sampler, export_cache
K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(STANDING_POSE_MM) + jnp.array([0.0, 0.0, 5000.0]), K))
evidence = stack_evidence([heatmap_evidence_from_keypoints(pixels + shift, K) for shift in (0.0, 7.0)])
frame = jax.tree.map(lambda leaf: leaf[0], evidence)
options = dict(num_steps=4, guidance_repeats=2, chunk_size=8)
cache = export_cache.ExportCache(sys.argv[1], identity="heatmap")
stored = make_sampler(make_tiny_prior(), make_heatmap_energy(), export_cache=cache, **options)
batch = np.asarray(stored.sample_batch(jax.random.PRNGKey(3), evidence, 5))  # a frame per device
one = np.asarray(stored.sample(jax.random.PRNGKey(3), frame, 3))  # one frame: its hypotheses split
solved = np.asarray(cache.call("solve", jnp.linalg.solve, (2.0 * np.eye(3, dtype=np.float32), np.ones(3, np.float32))))
same = True
if sys.argv[2] == "compare":  # the first process: stored == traced
    traced = make_sampler(make_tiny_prior(), make_heatmap_energy(), **options)
    same = (np.array_equal(batch, np.asarray(traced.sample_batch(jax.random.PRNGKey(3), evidence, 5)))
            and np.array_equal(one, np.asarray(traced.sample(jax.random.PRNGKey(3), frame, 3))))
np.savez(sys.argv[1] + ".npz", batch=batch, one=one)
print(jax.device_count(), cache.hits, cache.misses, same, np.allclose(solved, 0.5))
"""


def test_programs_stored_on_two_devices_load_in_the_next_process(tmp_path):
    """Two processes with two CPU devices: the first stores the frame-split and hypothesis-split samplers, the
    second loads them (placing its arguments on both devices) and gets the traced results bit for bit; a stored
    program that needs LAPACK solves correctly."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    printed, outputs = [], []
    for run, mode in enumerate(("compare", "load")):
        result = subprocess.run([sys.executable, "-c", SPREAD_SCRIPT, str(tmp_path / "store"), mode],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        printed.append(result.stdout.split())
        outputs.append(dict(np.load(tmp_path / "store.npz")))
    assert printed[0][:5] == ["2", "0", "3", "True", "True"]  # stored: 3 programs (batch, one frame, solve)
    assert printed[1][:5] == ["2", "3", "0", "True", "True"]  # loaded; the solve still right
    for name in ("batch", "one"):
        np.testing.assert_array_equal(outputs[1][name], outputs[0][name])


WITHOUT_FLAX_SCRIPT = """
import sys, jax, numpy as np
from posediff_jax.guidance import heatmap_evidence_from_keypoints, make_heatmap_energy
from posediff_jax.prior import resolve_prior
from posediff_jax.sampling import make_sampler, export_cache
jax.config.update("jax_compilation_cache_dir", sys.argv[2] + "_xla")
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
pixels = np.load(sys.argv[3])
prior = resolve_prior(sys.argv[1], build_network=False)  # as the sampling commands load it
cache = export_cache.ExportCache(sys.argv[2], identity="heatmap")
sampler = make_sampler(prior, make_heatmap_energy(), export_cache=cache, num_steps=3, chunk_size=8)
np.save(sys.argv[2] + ".npy", np.asarray(sampler.sample(jax.random.PRNGKey(2), heatmap_evidence_from_keypoints(pixels, K), 4)))
print(cache.hits, cache.misses, "flax" in sys.modules)
"""


def test_a_process_that_calls_a_stored_sampler_never_imports_flax(tmp_path):
    """A prior folder loaded without building its network (what the sampling commands do): the first process
    traces the sampler (builds the Flax network) and stores it; the second calls the stored program without
    importing Flax at all, and gets the same hypotheses."""
    from posediff_jax.normalization import identity_normalization
    from posediff_jax.prior import export_prior

    model = {"name": "residual_mlp", "width": 32, "depth": 1, "time_embedding_dim": 16}
    description = {"model": model, "diffusion": {"schedule": "cosine", "prediction_type": "epsilon"},
                   "normalization": {name: value.tolist() for name, value in identity_normalization().to_dict().items()}}
    folder = export_prior(tmp_path / "prior", make_tiny_prior().params, description)
    pixels = np.asarray(geometry.project_to_pixels(jnp.asarray(STANDING_POSE_MM) + jnp.array([0.0, 0.0, 5000.0]), K))
    np.save(tmp_path / "pixels.npy", pixels)
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")
    printed, outputs = [], []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", WITHOUT_FLAX_SCRIPT, str(folder), str(tmp_path / "store"),
                                 str(tmp_path / "pixels.npy")], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        printed.append(result.stdout.split())
        outputs.append(np.load(tmp_path / "store.npy"))
    assert printed == [["0", "1", "True"], ["1", "0", "False"]]
    np.testing.assert_array_equal(outputs[1], outputs[0])
