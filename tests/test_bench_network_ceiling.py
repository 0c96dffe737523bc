"""tools/bench_network_ceiling.py: the stripped variants remove exactly what they name, and a tiny run's table
and JSON."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_tool):
    return load_tool("bench_network_ceiling")


def test_stripped_variants_change_the_network_only_inside_their_context(bench):
    from posediff_jax.prior import resolve_prior

    tiny_prior = resolve_prior("tiny")
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 17, 3))

    def denoised(variant):
        with bench.stripped_network(variant):
            return np.asarray(jax.jit(lambda x: tiny_prior.denoise(x, jnp.float32(0.5))[0])(x))

    network, no_layernorm, matmuls_only = (denoised(v) for v in ("network", "no_layernorm", "matmuls_only"))
    assert np.abs(network - no_layernorm).max() > 1e-3
    assert np.abs(no_layernorm - matmuls_only).max() > 1e-3
    np.testing.assert_array_equal(denoised("network"), network)  # the patches are undone on leaving
    import flax.linen as nn

    assert nn.silu(jnp.float32(-1.0)) < 0  # SiLU is SiLU again


def test_tiny_run_table_and_json(bench, tmp_path, capsys):
    output = tmp_path / "ceiling.json"
    assert bench.main(["--tiny", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    flops = {row["variant"]: row["flops"] for row in results["variants"]}
    assert list(flops) == list(bench.VARIANTS)
    assert flops["network"] > flops["no_layernorm"] > flops["matmuls_only"] > flops["matmul"] > 0
    for row in results["variants"]:
        assert row["gflops"] > 0 and 0 < row["peak_fraction"] and len(row["seconds"]) == 1
    assert results["machine"]["cpu_model"] and results["command"].endswith("--tiny --output " + str(output))
    table = capsys.readouterr().out
    assert "| matmuls_only |" in table and "% of peak" in table
