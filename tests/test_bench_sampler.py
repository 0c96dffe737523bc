"""Smoke run of tools/bench_sampler.py: the FLOP/s reference, FLOP counting, one tiny grid and its outputs."""

import importlib.util
import json

import jax
import jax.numpy as jnp
import pytest

from posediff_jax.prior.gaussian import make_gaussian_prior


@pytest.fixture(scope="module")
def bench(repo_root):
    spec = importlib.util.spec_from_file_location("bench_sampler", repo_root / "tools" / "bench_sampler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_matmul_reference_is_positive_and_counts_two_n_cubed(bench):
    reference = bench.measure_matmul_flops(size=128, repeats=2)
    assert reference["flops"] == 2 * 128**3
    assert reference["flops_per_second"] > 0
    assert reference["flops_per_second"] == pytest.approx(reference["flops"] / reference["seconds"])


def test_flop_counts_of_a_dense_layer(bench):
    kernel = jnp.ones((64, 32), jnp.float32)
    params = {"layer": {"kernel": kernel, "bias": jnp.zeros(32)}}
    assert bench.analytic_dense_flops(params) == 2 * 64 * 32
    counted = bench.compiled_flops(lambda x: x @ kernel, jnp.ones((10, 64), jnp.float32))
    assert counted == pytest.approx(2 * 10 * 64 * 32, rel=0.05)


def test_network_flops_dps_exceed_x0(bench):
    kernel = jnp.full((51, 51), 0.01, jnp.float32)

    def apply_fn(params, x_t, t):
        flat = x_t.reshape(x_t.shape[:-2] + (51,))
        return jnp.tanh(flat @ params["dense"]["kernel"]).reshape(x_t.shape)

    prior = make_gaussian_prior().replace(params={"dense": {"kernel": kernel}}, apply_fn=apply_fn)
    forward, _ = bench.network_flops_per_evaluation(prior, "x0", batch=8)
    both, _ = bench.network_flops_per_evaluation(prior, "dps", batch=8)
    assert forward >= 2 * 51 * 51
    assert both > 1.5 * forward


def test_parse_case(bench):
    assert bench.parse_case("8x512") == (8, 512)
    with pytest.raises(SystemExit, match="FRAMESxHYPOTHESES"):
        bench.parse_case("eight")


def test_tiny_grid_writes_table_and_json(bench, tmp_path, capsys):
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        results = bench.run_benchmark(
            make_gaussian_prior(), [(1, 4)], steps=[2], guidance=["dps"], matmul_size=128, repeats=1,
            large_case="1x12", large_chunk_size=4, log=lambda *_: None,
        )
    finally:
        jax.config.update("jax_disable_most_optimizations", False)
    rows = results["rows"]
    assert [(row["frames"], row["hypotheses"]) for row in rows] == [(1, 4), (1, 12)]
    assert rows[1]["large_case"] and rows[1]["chunk_size"] == 4
    for row in rows:
        assert row["compile_seconds"] > 0 and row["run_seconds"] > 0
        assert row["network_evaluations_per_second"] == pytest.approx(row["hypotheses_per_second"] * 2)
        assert row["peak_memory_bytes"] > 0
    table = bench.format_table(rows)
    assert table.count("\n") == 3 and "| 1 x 12 | 2 | dps |" in table
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(results))
    assert json.loads(path.read_text())["matmul_reference"]["size"] == 128
