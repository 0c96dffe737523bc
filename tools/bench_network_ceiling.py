"""How close can the sampler come to the machine's peak? The prior's DPS work alone, as is and stripped.

    python tools/bench_network_ceiling.py --rows 512 --steps 50 --rounds 3 --output ceiling.json
    python tools/bench_network_ceiling.py --tiny            # seconds; for tests

A DPS step's arithmetic is the score network's forward pass and its input gradient, mostly `[rows, 512] @
[512, 512]` matmuls. This tool times that work with nothing else of the sampler around it: every device (the
CLI's layout, `posediff_jax.cli.apply_xla_cpu_defaults`) runs `--steps` updates
`x <- x - 0.01 * grad_x |x - x0(x, t)|^2` of its own `--rows` poses (`Prior.denoise` vmapped over the poses at one
time per update, as the sampler calls it) in one jitted loop whose time changes every update, for these variants:

- 'network': the prior as given;
- 'no_layernorm': every LayerNorm replaced by the identity;
- 'matmuls_only': every LayerNorm and SiLU replaced by the identity (the ceiling of the network's matmul shapes);
- 'matmul': the bare `[rows, width] @ [width, width]` product, repeated.

The variants are timed round-robin (`--rounds`, each the best of `--repeats`) so that a change in machine load hits
all alike. FLOPs: XLA's cost analysis of one update on one device, times the steps and devices; the peak is
`bench_sampler.measure_machine_peak`. The JSON (`--output`) has the machine, command, load, probes and timings.
"""

from __future__ import annotations

import contextlib
import sys
from unittest import mock

# tools/ is on the path when this runs as a script (and in tests, via load_tool)
import bench_sampler
from bench_common import command_line, load_average, machine_info, summary_line, tool_parser, utc_now, write_json

VARIANTS = ("network", "no_layernorm", "matmuls_only", "matmul")


@contextlib.contextmanager
def stripped_network(variant: str):
    """While tracing inside this context, the prior's Flax network runs without the element-wise layers that
    `variant` removes; 'network' and 'matmul' change nothing."""
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


def compiled_variant(prior, variant: str, rows: int, steps: int, width: int):
    """(compiled function of one argument, that argument, FLOPs of one run on every device)."""
    import jax
    import jax.numpy as jnp

    devices = jax.device_count()
    if variant == "matmul":
        def run(arguments):  # the identity on the right is passed at run time: nothing to fold
            left, right = arguments
            return jax.lax.fori_loop(0, steps, lambda _, x: x @ right, left)

        left = bench_sampler.on_every_device(jnp.ones((devices * rows, width), jnp.float32))
        arguments, per_update = (left, jnp.eye(width, dtype=jnp.float32)), 2.0 * rows * width * width
    else:
        def one_update(x, t):
            def loss(x):
                x0, _ = jax.vmap(prior.denoise, in_axes=(0, None))(x, t)
                return jnp.sum((x - x0) ** 2)

            return x - 0.01 * jax.grad(loss)(x)

        def run(arguments):  # the time changes every update, as the sampler's steps do: nothing to hoist
            x, t = arguments
            return jax.lax.fori_loop(0, steps, lambda i, x: one_update(x, t + 1e-3 * i), x)

        x = bench_sampler.on_every_device(jax.random.normal(jax.random.PRNGKey(0), (devices * rows, 17, 3)))
        arguments = (x, jnp.float32(0.5))
        with stripped_network(variant):
            per_update = bench_sampler.compiled_flops(one_update, jnp.zeros((rows, 17, 3)), jnp.float32(0.5))
    with stripped_network(variant):
        compiled = jax.jit(run).lower(arguments).compile()
    return compiled, arguments, per_update * steps * devices


def run_benchmark(prior, rows: int, steps: int, rounds: int, repeats: int, probe_repeats: int, tiny: bool = False,
                  log=print) -> dict:
    import jax

    date, info = utc_now(), machine_info()
    log(f"{info['cpu_model']} ({info['cpu_count']} cores), {info['backend']} x {jax.device_count()} device(s), "
        f"load {info['load_average']}")
    try:  # the residual MLP's first layer (the time embedding's projection) has the network's width
        width = int(prior.params["params"]["Dense_0"]["kernel"].shape[-1])
    except (KeyError, TypeError):
        width = 512
    peak = bench_sampler.measure_machine_peak(probe_repeats, ((64, 64, 64),) if tiny else None, native=not tiny,
                                              log=log)
    compiled = {variant: compiled_variant(prior, variant, rows, steps, width) for variant in VARIANTS}
    timings = {variant: [] for variant in VARIANTS}
    for round_index in range(rounds):
        for variant, (function, arguments, flops) in compiled.items():
            timings[variant].append(bench_sampler.best_time(function, arguments, repeats=repeats))
            log(f"  round {round_index + 1} {variant}: {timings[variant][-1] * 1e3:.1f} ms, "
                f"{flops / timings[variant][-1] / 1e9:.1f} GFLOP/s")
    table = []
    for variant, (_, _, flops) in compiled.items():
        best = min(timings[variant])
        table.append({"variant": variant, "flops": flops, "seconds": timings[variant], "best_seconds": best,
                      "gflops": flops / best / 1e9, "peak_fraction": flops / best / peak["peak_flops_per_second"]})
    return {"date": date, "machine": info, "load_average_end": load_average(), "rows_per_device": rows,
            "steps": steps, "devices": jax.device_count(), "width": width, "peak": peak, "variants": table}


def format_table(results: dict) -> str:
    peak = results["peak"]["peak_flops_per_second"] / 1e9
    lines = [f"| variant | FLOPs per run | best s | GFLOP/s | % of peak ({peak:.1f} GFLOP/s) |",
             "|---|---|---|---|---|"]
    lines += [f"| {row['variant']} | {row['flops'] / 1e9:.2f} G | {row['best_seconds']:.3f} | {row['gflops']:.1f} | "
              f"{100 * row['peak_fraction']:.1f} |" for row in results["variants"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = tool_parser(__doc__)
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
    from posediff_jax.prior import resolve_prior

    apply_xla_cpu_defaults(one_device_per_core=True)  # before JAX creates its backend: the sampler's layout
    if args.tiny:
        args.prior, args.rows, args.steps, args.rounds, args.repeats, args.probe_repeats = "tiny", 8, 2, 1, 1, 1
    results = run_benchmark(resolve_prior(args.prior), args.rows, args.steps, args.rounds, args.repeats,
                            args.probe_repeats, tiny=args.tiny)
    results.update(prior=args.prior, command=command_line(__file__, argv))
    print("\n" + summary_line(results["date"], results["machine"], f"{results['devices']} device(s) x "
                              f"{args.rows} rows x {args.steps} updates", results["load_average_end"]) + "\n")
    print(format_table(results))
    write_json(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
