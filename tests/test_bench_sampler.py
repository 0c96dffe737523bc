"""tools/bench_sampler.py: peak probes, FLOP counting of the compiled sampler, machine record, a tiny grid, and
(with PyTorch installed) the eager baseline giving the same samples."""

import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROW_KEYS = {"frames", "hypotheses", "steps", "guidance", "seconds", "hyps_per_s", "gflops", "peak_fraction",
            "compile_s", "baseline_seconds", "speedup"}


@pytest.fixture(scope="module")
def bench(load_tool):
    return load_tool("bench_sampler")


@pytest.fixture(scope="module")
def common(load_tool):
    return load_tool("bench_common")


@pytest.fixture(scope="module")
def tiny_prior():
    from posediff_jax.prior import resolve_prior

    return resolve_prior("tiny")


def test_matmul_probe_counts_two_m_k_n(bench):
    reference = bench.measure_matmul_flops(shape=(64, 32, 16), repeats=2)
    assert reference["flops"] == 2 * 64 * 32 * 16
    assert reference["flops_per_second"] == pytest.approx(reference["flops"] / reference["seconds"])
    assert bench.measure_matmul_flops(size=128, repeats=1)["flops"] == 2 * 128**3


def test_peak_is_the_best_probe(bench):
    peak = bench.measure_peak_flops(repeats=1, matmul_shapes=[(64, 64, 64), (128, 128, 128)], native=False,
                                    log=lambda *_: None)
    rates = [probe["flops_per_second"] for probe in peak["probes"]]
    assert len(rates) == 2 and {probe["probe"] for probe in peak["probes"]} == {"matmul"}
    assert peak["peak_flops_per_second"] == max(rates) > 0


def test_native_fma_probe_counts_every_core(bench, monkeypatch):
    """The compiled multiply-add loop: FLOPs = 2 x width x accumulators x iterations x processes, one process per
    core; with no C compiler on the machine it is skipped (None) and says so."""
    import shutil

    if not any(shutil.which(name) for name in ("cc", "gcc", "clang")):
        pytest.skip("no C compiler here")
    one = bench.measure_native_fma_flops(repeats=1, iterations=2_000_000, processes=1, log=lambda *_: None)
    two = bench.measure_native_fma_flops(repeats=1, iterations=2_000_000, processes=2, log=lambda *_: None)
    width, accumulators = one["shape"]
    assert (width, accumulators) in bench.NATIVE_FMA_BUILDS
    assert one["flops"] == 2.0 * width * accumulators * 2_000_000 and two["devices"] == 2
    assert two["flops"] == 2 * 2.0 * two["shape"][0] * two["shape"][1] * 2_000_000
    assert one["flops_per_second"] == pytest.approx(one["flops"] / one["seconds"]) and one["seconds"] > 0
    messages = []
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert bench.measure_native_fma_flops(repeats=1, iterations=10, log=messages.append) is None
    assert "no C compiler" in messages[0]


def test_compiled_flops_of_a_dense_layer(bench):
    kernel = jnp.ones((64, 32), jnp.float32)
    inputs = jnp.ones((10, 64), jnp.float32)
    counted = bench.compiled_flops(lambda x: x @ kernel, inputs)
    assert counted == pytest.approx(2 * 10 * 64 * 32, rel=0.05)
    nested = jax.make_jaxpr(lambda x: jax.jit(lambda y: jnp.tanh(y @ kernel))(x) @ kernel.T)(inputs)
    assert bench.jaxpr_matmul_flops(nested) == 2 * (2 * 10 * 64 * 32)  # the jitted sub-jaxpr's matmul counted too


def test_network_forward_flops_share_the_time_path(bench, tiny_prior):
    """The sampler runs the time embedding once per step for all its rows (vmap over hypotheses at one time), so
    the per-pose forward count falls with the rows toward the pose path alone; every kernel counted at 1 row."""
    kernels = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(tiny_prior.params)[0]
               if "kernel" in jax.tree_util.keystr(path) and np.ndim(leaf) == 2]
    every_kernel = sum(2.0 * leaf.shape[0] * leaf.shape[1] for leaf in kernels)
    one, many = bench.network_forward_flops(tiny_prior, rows=1), bench.network_forward_flops(tiny_prior, rows=64)
    assert one == pytest.approx(every_kernel)
    assert many < 0.9 * one


def test_machine_record(common):
    info = common.machine_info()
    assert isinstance(info["cpu_model"], str) and info["cpu_model"]
    assert info["cpu_count"] >= 1 and info["backend"] == jax.default_backend()
    assert {"python", "jax", "jaxlib", "flax", "numpy"} <= set(info["versions"])
    assert info["load_average"] is None or len(info["load_average"]) == 3
    assert isinstance(info["gpus"], list)
    assert info["xla_flags"] == os.environ.get("XLA_FLAGS", "")  # the flags the rows ran under


def test_cpu_model_names_the_family_and_simd_flags_a_hypervisor_hides(common):
    zen5 = "Model name:   AMD EPYC\nCPU family:   26\nModel:   2\nStepping:   1\nFlags:   fpu sse2 avx2 fma avx512f avx512_bf16 sha_ni\n"
    zen4 = zen5.replace("26", "25").replace("Model:   2", "Model:   17").replace(" avx512_bf16", "")
    assert common.cpu_model(zen5) == "AMD EPYC (family 26, model 2, stepping 1; avx2 fma avx512f avx512_bf16)"
    assert common.cpu_model(zen4) == "AMD EPYC (family 25, model 17, stepping 1; avx2 fma avx512f)"
    assert common.cpu_model("Model name: Neoverse-V2\n") == "Neoverse-V2"


def test_parse_case(bench):
    assert bench.parse_case("8x512") == (8, 512)
    with pytest.raises(SystemExit, match="FRAMESxHYPOTHESES"):
        bench.parse_case("eight")


@pytest.fixture(scope="module")
def tiny_run(bench, tiny_prior):
    """One small benchmark run shared by the tests below: 2 frames x 4 hypotheses x 2 steps, DPS and x0, with the
    PyTorch baseline interleaved where torch is installed (the CI's test extra leaves it out)."""
    has_torch = importlib.util.find_spec("torch") is not None
    jax.config.update("jax_disable_most_optimizations", True)  # compile time dominates these tiny programs
    try:
        return bench.run_benchmark(tiny_prior, [(2, 4)], steps=[2], guidance=["dps", "x0"], repeats=1,
                                   probe_repeats=1, matmul_shapes=[(64, 64, 64)],
                                   baseline="torch" if has_torch else "none", log=lambda *_: None)
    finally:
        jax.config.update("jax_disable_most_optimizations", False)


def test_tiny_grid_rows_table_and_json(bench, tiny_run, tmp_path):
    rows = tiny_run["rows"]
    assert [row["guidance"] for row in rows] == ["dps", "x0"]
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert (row["frames"], row["hypotheses"], row["steps"]) == (2, 4, 2)
        assert row["seconds"] > 0 and row["compile_s"] > 0
        assert row["hyps_per_s"] == pytest.approx(8 / row["seconds"])
        assert row["gflops"] == pytest.approx(row["flops_per_evaluation"] * 2 * 4 * 2 / row["seconds"] / 1e9)
        assert row["peak_fraction"] == pytest.approx(
            row["gflops"] * 1e9 / tiny_run["peak"]["peak_flops_per_second"])
        assert (row["baseline_seconds"] is None) == (row["baseline"] is None)
    assert tiny_run["machine"]["cpu_model"] and "date" in tiny_run
    table = bench.format_table(rows)
    assert "| 2 x 4 | 2 | dps |" in table and "| 2 x 4 | 2 | x0 |" in table
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(tiny_run))
    assert json.loads(path.read_text())["rows"][0]["hypotheses"] == 4


def test_sampler_flops_count_the_whole_step(bench, tiny_prior, tiny_run):
    """DPS runs the network forward and its input gradient, x0 the forward only: both above the network's forward
    matmuls as the sampler runs them (energy and update are counted too), DPS well above x0; counted by XLA on the
    compiled step (not the fallback)."""
    dense = bench.network_forward_flops(tiny_prior, rows=4)
    dps, x0 = (row["flops_per_evaluation"] for row in tiny_run["rows"])
    assert all("xla" in row["flop_count_source"] for row in tiny_run["rows"])
    assert dense <= x0 < dps
    assert dps > 1.5 * x0


def test_torch_baseline_gives_the_same_samples_and_a_speedup(bench, tiny_run):
    pytest.importorskip("torch")
    for row in tiny_run["rows"]:
        assert row["baseline"] == "torch" and row["baseline_seconds"] > 0
        assert row["speedup"] == pytest.approx(row["baseline_seconds"] / row["seconds"])
        assert row["fraction_within_1mm"] == 1.0 and row["max_abs_diff_mm"] < 1e-2
    assert "torch" in tiny_run["machine"]["versions"]
    assert "JAX speed-up" in bench.format_table(tiny_run["rows"])


def test_torch_port_rejects_settings_it_does_not_have(load_tool, tiny_prior):
    pytest.importorskip("torch")
    from posediff_jax.sampling import make_sampler

    module = load_tool("torch_baseline")
    config = make_sampler(tiny_prior, None, num_steps=3, eta=0.5).config
    with pytest.raises(ValueError, match="eta"):
        module.TorchGuidedSampler.from_config(tiny_prior, config)
    noise = module.initial_noise(jax.random.PRNGKey(0), 2, 3)
    assert noise.shape == (2, 3, 17, 3) and np.all(np.isfinite(noise))


@pytest.mark.parametrize("normalization", ["layer_norm", "final", "none"])
def test_torch_network_port_matches_with_and_without_layernorm(load_tool, normalization):
    """The eager port reads the network's parameters as they are: a prior trained with fewer LayerNorms
    (`model.normalization`) is ported without the missing ones and gives the JAX network's outputs."""
    torch = pytest.importorskip("torch")
    from posediff_jax.prior.tiny import make_tiny_prior

    module = load_tool("torch_baseline")
    prior = make_tiny_prior(seed=5, depth=2, normalization=normalization)
    x = np.array(jax.random.normal(jax.random.PRNGKey(6), (4, 17, 3)), np.float32)
    expected = np.asarray(prior.apply_fn(prior.params, x, np.full((4,), 0.3, np.float32)))
    ported = module.TorchScoreNetwork(prior.params)(torch.from_numpy(x), 0.3).numpy()
    assert float(np.abs(expected).max()) > 1e-3
    np.testing.assert_allclose(ported, expected, atol=1e-5)


def test_bfloat16_rows_run_beside_float32_against_the_bfloat16_peak(bench, tiny_prior):
    """`--matmul-dtype float32 bfloat16`: every configuration once per format; the float32 peak ignores the
    bfloat16 probes and a bfloat16 row's fraction of peak is of the bfloat16 matmul probes."""
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        run = bench.run_benchmark(tiny_prior, [(1, 4)], steps=[2], guidance=["dps"], repeats=1, probe_repeats=1,
                                  matmul_shapes=[(64, 64, 64)], log=lambda *_: None,
                                  matmul_dtypes=("float32", "bfloat16"))
    finally:
        jax.config.update("jax_disable_most_optimizations", False)
    probes = run["peak"]["probes"]
    assert sorted(probe.get("dtype", "float32") for probe in probes if probe["probe"] == "matmul") == \
        ["bfloat16", "float32"]
    float32_rates = [p["flops_per_second"] for p in probes if p.get("dtype", "float32") == "float32"]
    bfloat16_rates = [p["flops_per_second"] for p in probes if p.get("dtype") == "bfloat16"]
    assert run["peak"]["peak_flops_per_second"] == max(float32_rates)
    assert run["peak"]["peak_by_dtype"] == {"float32": max(float32_rates), "bfloat16": max(bfloat16_rates)}
    assert [row["matmul_dtype"] for row in run["rows"]] == ["float32", "bfloat16"]
    for row in run["rows"]:
        peak = run["peak"]["peak_by_dtype"][row["matmul_dtype"]]
        assert row["peak_flops_per_second"] == peak
        assert row["peak_fraction"] == pytest.approx(row["gflops"] * 1e9 / peak)
    table = bench.format_table(run["rows"])
    assert "| matmuls |" in table and "| 1 x 4 | 2 | dps | bfloat16 |" in table


def test_torch_network_port_rounds_the_same_operands_in_bfloat16(load_tool):
    torch = pytest.importorskip("torch")
    from posediff_jax.model.precision import bfloat16_matmuls
    from posediff_jax.prior.tiny import make_tiny_prior

    module = load_tool("torch_baseline")
    prior = make_tiny_prior(seed=7, depth=2, normalization="final")
    x = np.array(jax.random.normal(jax.random.PRNGKey(8), (16, 17, 3)), np.float32)
    t = np.full((16,), 0.3, np.float32)
    with bfloat16_matmuls():
        expected = np.asarray(prior.apply_fn(prior.params, x, t))
    exact = np.asarray(prior.apply_fn(prior.params, x, t))
    ported = module.TorchScoreNetwork(prior.params, matmul_dtype="bfloat16")(torch.from_numpy(x), 0.3)
    ported_exact = module.TorchScoreNetwork(prior.params)(torch.from_numpy(x), 0.3).numpy()
    assert ported.dtype == torch.float32
    ported = ported.numpy()
    # oneDNN rounds each layer's output to bfloat16 too (XLA keeps float32 sums): the port is as far from JAX's
    # bfloat16 network as that network is from float32, no further, and its own float32 mode is exact.
    scale = np.abs(exact).max()
    assert np.abs(ported - expected).max() < 3 * np.abs(exact - expected).max() < 0.1 * scale
    assert np.abs(ported - ported_exact).max() > 1e-3 * scale
    np.testing.assert_allclose(ported_exact, exact, atol=1e-5)
    with pytest.raises(ValueError, match="matmul_dtype"):
        module.TorchScoreNetwork(prior.params, matmul_dtype="float16")
