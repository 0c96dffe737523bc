"""How close can the sampler come to the machine's peak? The prior's DPS work alone, as is and stripped.

    python tools/bench_network_ceiling.py --rows 512 --steps 50 --rounds 3 --output ceiling.json
    python tools/bench_network_ceiling.py --tiny            # seconds; for tests

A DPS step's arithmetic is the score network's forward pass and its input gradient (`tools/bench_sampler.py`
counts 8.86 MFLOP per evaluation, ~97 % of it matmuls, mostly `[rows, 512] @ [512, 512]`). This tool times that
work with nothing else of the sampler around it: every device (the CLI's layout, one single-threaded CPU device per
core; `posediff_jax.cli.apply_xla_cpu_defaults`) runs `--steps` updates `x <- x - 0.01 * grad_x |x - x0(x, t)|^2`
of its own `--rows` poses (the prior's Tweedie estimate `Prior.denoise`, vmapped over the poses with one time
per update as the sampler calls it, so the time embedding runs once per update) in one jitted `lax.fori_loop`
whose time changes every update, for these variants of the network:

- 'network': the prior as shipped;
- 'no_layernorm': every LayerNorm replaced by the identity (the shipped prior has one, before its head,
  `model.normalization='final'`; the LayerNorm prior shipped until 2026-12-03 had nine: `--prior DIR`);
- 'matmuls_only': every LayerNorm and SiLU replaced by the identity (matmuls, bias and residual adds: the ceiling
  of this network's matmul shapes);
- 'matmul': the bare `[rows, 512] @ [512, 512]` product, repeated, for reference.

The variants are timed round-robin (`--rounds`, each the best of `--repeats`), so a change in machine load hits
all of them alike. FLOPs: XLA's cost analysis of one compiled update (one device), times the steps and devices.
Peak: `bench_sampler.measure_peak_flops` (matmul probes, the JAX FMA probe and the compiled C FMA loop; with
several CPU devices the probes again in a one-device process, as bench_sampler does). The
table gives each variant's best GFLOP/s and its share of the peak; the JSON (`--output`) has the machine
(`bench_sampler.machine_info`: CPU model, cores, versions, XLA flags), date, command, load before and after, the
probes and every timing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import shlex
import sys
from unittest import mock

import bench_sampler  # tools/ is on the path when this runs as a script (and in tests, via load_tool)

VARIANTS = ("network", "no_layernorm", "matmuls_only", "matmul")


@contextlib.contextmanager
def stripped_network(variant: str):
    """While tracing inside this context, the prior's Flax network runs without the element-wise layers that
    `variant` removes (module docstring); 'network' and 'matmul' change nothing."""
    import flax.linen as nn

    def skip_layernorm(next_function, args, kwargs, context):
        if isinstance(context.module, nn.LayerNorm) and context.method_name == "__call__":
            return args[0]
        return next_function(*args, **kwargs)

    with contextlib.ExitStack() as stack:
        if variant in ("no_layernorm", "matmuls_only"):
            stack.enter_context(nn.intercept_methods(skip_layernorm))
        if variant == "matmuls_only":
            stack.enter_context(mock.patch.object(nn, "silu", lambda x: x))
        yield


def _mesh_sharding():
    import jax

    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))


def compiled_variant(prior, variant: str, rows: int, steps: int, width: int):
    """(compiled function of one argument, that argument, FLOPs of one run on every device)."""
    import jax
    import jax.numpy as jnp

    devices = jax.device_count()
    sharding = _mesh_sharding()
    if variant == "matmul":
        def one_update(left, right):  # right is the identity, passed at run time: nothing to fold
            return left @ right

        def run(arguments):
            left, right = arguments
            return jax.lax.fori_loop(0, steps, lambda _, x: one_update(x, right), left)

        left = jax.device_put(jnp.ones((devices * rows, width), jnp.float32), sharding)
        right = jnp.eye(width, dtype=jnp.float32)
        arguments = (left, right)
        per_update = 2.0 * rows * width * width
    else:
        def one_update(x, t):  # vmapped over the poses with one shared time, as the sampler calls the prior
            def loss(x):
                x0, _ = jax.vmap(prior.denoise, in_axes=(0, None))(x, t)
                return jnp.sum((x - x0) ** 2)

            return x - 0.01 * jax.grad(loss)(x)

        def run(arguments):  # the time changes every update (as the sampler's steps do): nothing to hoist
            x, t = arguments
            return jax.lax.fori_loop(0, steps, lambda i, x: one_update(x, t + 1e-3 * i), x)

        x = jax.device_put(jax.random.normal(jax.random.PRNGKey(0), (devices * rows, 17, 3)), sharding)
        arguments = (x, jnp.float32(0.5))
        with stripped_network(variant):
            single = jax.jit(one_update).lower(jnp.zeros((rows, 17, 3)), jnp.float32(0.5)).compile()
        analysis = single.cost_analysis()
        analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
        per_update = float(analysis["flops"])
    with stripped_network(variant):
        compiled = jax.jit(run).lower(arguments).compile()
    return compiled, arguments, per_update * steps * devices


def run_benchmark(prior, rows: int, steps: int, rounds: int, repeats: int, probe_repeats: int, tiny: bool = False,
                  log=print) -> dict:
    import jax

    started = datetime.datetime.now(datetime.timezone.utc)
    info = bench_sampler.machine_info()
    log(f"{info['cpu_model']} ({info['cpu_count']} cores), {info['backend']} x {jax.device_count()} device(s), "
        f"load {info['load_average']}")
    try:  # the residual MLP's first layer (the time embedding's projection) has the network's width
        width = int(prior.params["params"]["Dense_0"]["kernel"].shape[-1])
    except (KeyError, TypeError):
        width = 512
    peak = bench_sampler.measure_peak_flops(probe_repeats, ((64, 64, 64),) if tiny else None, native=not tiny, log=log)
    if jax.default_backend() == "cpu" and jax.device_count() > 1:  # and in one device using every core
        peak = bench_sampler._peak_of(peak["probes"] + bench_sampler.measure_one_device_peak_in_subprocess(
            probe_repeats, tiny, bench_sampler.ORIGINAL_ENVIRONMENT, log))
    compiled = {variant: compiled_variant(prior, variant, rows, steps, width) for variant in VARIANTS}
    timings = {variant: [] for variant in VARIANTS}
    for round_index in range(rounds):
        for variant in VARIANTS:
            function, arguments, flops = compiled[variant]
            seconds = bench_sampler._best_time(function, arguments, repeats=repeats)
            timings[variant].append(seconds)
            log(f"  round {round_index + 1} {variant}: {seconds * 1e3:.1f} ms, {flops / seconds / 1e9:.1f} GFLOP/s")
    peak_value = peak["peak_flops_per_second"]
    table = []
    for variant in VARIANTS:
        flops = compiled[variant][2]
        best = min(timings[variant])
        table.append({"variant": variant, "flops": flops, "seconds": timings[variant], "best_seconds": best,
                      "gflops": flops / best / 1e9, "peak_fraction": flops / best / peak_value})
    return {"date": started.isoformat(timespec="seconds"), "machine": info,
            "load_average_end": bench_sampler.load_average(),
            "rows_per_device": rows, "steps": steps, "devices": jax.device_count(), "width": width,
            "peak": peak, "variants": table}


def format_table(results: dict) -> str:
    peak = results["peak"]["peak_flops_per_second"] / 1e9
    lines = [f"| variant | FLOPs per run | best s | GFLOP/s | % of peak ({peak:.1f} GFLOP/s) |",
             "|---|---|---|---|---|"]
    for row in results["variants"]:
        lines.append(f"| {row['variant']} | {row['flops'] / 1e9:.2f} G | {row['best_seconds']:.3f} | "
                     f"{row['gflops']:.1f} | {100 * row['peak_fraction']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="default", help="'default' (shipped), 'tiny', or a prior folder")
    parser.add_argument("--rows", type=int, default=512, help="poses per device (the sampler's CPU chunk: 512)")
    parser.add_argument("--steps", type=int, default=50, help="updates per timed run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probe-repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny prior, 8 rows, 2 steps, small probes")
    parser.add_argument("--output", default=None, help="write the JSON results here")
    args = parser.parse_args(argv)
    from posediff_jax.cli import apply_xla_cpu_defaults

    apply_xla_cpu_defaults(one_device_per_core=True)  # before JAX creates its backend: the sampler's layout
    if args.tiny:
        args.prior, args.rows, args.steps, args.rounds, args.repeats, args.probe_repeats = "tiny", 8, 2, 1, 1, 1
    results = run_benchmark(bench_sampler.load_prior(args.prior), args.rows, args.steps, args.rounds, args.repeats,
                            args.probe_repeats, tiny=args.tiny)
    results["prior"] = args.prior
    results["command"] = "python tools/bench_network_ceiling.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    machine = results["machine"]
    print(f"\n{results['date']}: {machine['cpu_model']} ({machine['cpu_count']} cores); {results['devices']} "
          f"device(s) x {results['rows_per_device']} rows x {results['steps']} updates; load "
          f"{machine['load_average']} -> {results['load_average_end']}; XLA_FLAGS {machine['xla_flags'] or '(none)'}\n")
    bench_sampler.print_table_and_write_json(format_table(results), results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
