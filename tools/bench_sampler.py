"""Guided-sampling throughput: hypotheses/s, network evaluations/s, achieved FLOP/s vs. dense matmul.

    PYTHONPATH=. python tools/bench_sampler.py --output bench_cpu.json            # default grid
    PYTHONPATH=. python tools/bench_sampler.py --grid 1x64 8x512 --steps 25 50 --guidance dps x0
    PYTHONPATH=. python tools/bench_sampler.py --tiny                              # seconds; for tests

For every configuration (frames x hypotheses, steps, guidance variant) the sampler is compiled once (timed as
compile time: lowering + XLA compilation of the whole `lax.scan` sampler), run once to warm up, then timed over
`--repeats` runs (run time = median). Reported:

- hypotheses/s = frames * hypotheses / run time; network evaluations/s = frames * hypotheses * steps / run time
  (one network evaluation = the prior on one pose at one step).
- network FLOPs per evaluation: XLA's `cost_analysis()` of the compiled network function on a batch of poses,
  divided by the batch: the forward pass for the 'x0' variant (the energy gradient is taken w.r.t. the
  Tweedie estimate, no backpropagation through the network) and forward + input-gradient (vjp) for 'dps'
  (the gradient flows back through the network). When XLA gives no count, the analytic count of the dense
  layers is used: forward = 2 * sum(in * out) over every 2-D `kernel`; dps = 2x forward (the input gradient
  of a dense layer costs what its forward does; no weight gradients are needed). The energy,
  schedule arithmetic and root solve are not counted (they are a few hundred FLOPs per pose).
- achieved FLOP/s = FLOPs per evaluation * evaluations/s; its fraction of the machine's dense-matmul FLOP/s,
  measured in the same run by timing `jnp.dot` of two float32 `[N, N]` matrices (2 N^3 FLOPs; best of 5).
- peak memory: `device.memory_stats()['peak_bytes_in_use']` where the backend reports it (GPU/TPU), else the
  process's max RSS (`resource.getrusage`; monotone over the run, so configurations run smallest first).

One table is printed; `--output` writes the JSON (configurations, the machine, the matmul reference).
The `--prior` default is the shipped checkpoint (`load_default_prior`); `--tiny` uses a random tiny network.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import sys
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_GRID = ("1x64", "1x512", "8x512")
DEFAULT_STEPS = (25, 50)
DEFAULT_GUIDANCE = ("dps", "x0")
LARGE_CASE = "1x10000"


# ------------------------------------------------------------------------------------------------ machine
def measure_matmul_flops(size: int = 2048, repeats: int = 5, dtype=jnp.float32) -> dict:
    """Dense-matmul throughput of the default device: best of `repeats` timings of `jnp.dot` `[N, N] @ [N, N]`.

    Returns: {'size': N, 'seconds': best time, 'flops': 2 N^3, 'flops_per_second': ...}.
    """
    keys = jax.random.split(jax.random.PRNGKey(0))
    left = jax.random.normal(keys[0], (size, size), dtype)
    right = jax.random.normal(keys[1], (size, size), dtype)
    matmul = jax.jit(jnp.dot)
    matmul(left, right).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(left, right).block_until_ready()
        times.append(time.perf_counter() - start)
    flops = 2.0 * size**3
    best = min(times)
    return {"size": size, "seconds": best, "flops": flops, "flops_per_second": flops / best}


def peak_memory_bytes() -> tuple[int, str]:
    """(bytes, source): device peak bytes in use when available, else this process's max RSS."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # backends without memory statistics raise or return None
        stats = None
    if stats and "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"]), "device peak_bytes_in_use"
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB, macOS bytes
    return int(max_rss * scale), "process max RSS"


def device_description() -> str:
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    if device.platform == "cpu":
        import os

        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores visible), jax {jax.__version__}"
    return f"{kind} ({device.platform}), jax {jax.__version__}"


# ------------------------------------------------------------------------------------------------ FLOPs
def compiled_flops(function: Callable, *arguments) -> float | None:
    """FLOPs of `jax.jit(function)(*arguments)` from XLA's cost analysis (None when not reported)."""
    try:
        analysis = jax.jit(function).lower(*arguments).compile().cost_analysis()
    except Exception:
        return None
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    flops = float(analysis["flops"])
    return flops if flops > 0 else None


def analytic_dense_flops(params) -> float:
    """Forward FLOPs per example of the dense layers: 2 * in * out for every 2-D leaf named 'kernel'."""
    total = 0.0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = str(getattr(path[-1], "key", getattr(path[-1], "name", path[-1])))
        if name == "kernel" and np.ndim(leaf) == 2:
            total += 2.0 * np.shape(leaf)[0] * np.shape(leaf)[1]
    return total


def network_flops_per_evaluation(prior, guidance: str, batch: int = 256) -> tuple[float, str]:
    """(FLOPs per pose per step, how they were counted) for the network part of one guided step."""
    x_t = jnp.zeros((batch, 17, 3), jnp.float32)
    t = jnp.full((batch,), 0.5, jnp.float32)

    def forward(params, x, time_values):
        return prior.apply_fn(params, x, time_values)

    def forward_and_input_gradient(params, x, time_values):
        output, pullback = jax.vjp(lambda pose: prior.apply_fn(params, pose, time_values), x)
        return output, pullback(jnp.ones_like(output))[0]

    function = forward_and_input_gradient if guidance == "dps" else forward
    flops = compiled_flops(function, prior.params, x_t, t)
    if flops is not None:
        return flops / batch, "xla cost_analysis"
    analytic = analytic_dense_flops(prior.params)
    return (2.0 if guidance == "dps" else 1.0) * analytic, "analytic dense layers"


# ------------------------------------------------------------------------------------------------ workload
def parse_case(text: str) -> tuple[int, int]:
    """'8x512' -> (frames, hypotheses)."""
    try:
        frames, hypotheses = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"bench_sampler: grid entries look like FRAMESxHYPOTHESES (e.g. 8x512), got {text!r}")
    if frames < 1 or hypotheses < 1:
        raise SystemExit(f"bench_sampler: frames and hypotheses must be >= 1, got {text!r}")
    return frames, hypotheses


def synthetic_evidence(num_frames: int, seed: int = 0):
    """Heatmap evidence `[frames, ...]` of a standing person 5 m in front of an H36M-like camera, jittered."""
    from posediff_jax.guidance import heatmap_evidence_from_keypoints
    from posediff_jax.prior.gaussian import STANDING_POSE_MM

    rng = np.random.default_rng(seed)
    intrinsics = np.array([[1145.0, 0.0, 512.0], [0.0, 1145.0, 515.0], [0.0, 0.0, 1.0]], np.float32)
    poses = STANDING_POSE_MM[None] + rng.normal(scale=30.0, size=(num_frames, 17, 3))
    points = poses + np.array([0.0, 0.0, 5000.0])
    pixels = points[..., :2] / points[..., 2:] * intrinsics[[0, 1], [0, 1]] + intrinsics[[0, 1], [2, 2]]
    return heatmap_evidence_from_keypoints(pixels, np.broadcast_to(intrinsics, (num_frames, 3, 3)))


def stand_in_mlp_prior(width: int = 512, depth: int = 4, seed: int = 0):
    """A random-init MLP prior (flat pose + sinusoidal time features -> `depth` dense layers of `width`).

    Throughput depends on the architecture only, not on the weights: this stands in for a trained network of
    that shape when no checkpoint is at hand (`--prior mlp:WIDTH:DEPTH`). Results say which prior was used.
    """
    import flax.linen as nn

    from posediff_jax.normalization import identity_normalization
    from posediff_jax.prior import Prior

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x_t, t):
            frequencies = jnp.exp(jnp.linspace(0.0, 6.0, 32))
            features = jnp.concatenate([jnp.sin(t[..., None] * frequencies), jnp.cos(t[..., None] * frequencies)], -1)
            hidden = jnp.concatenate([x_t.reshape(x_t.shape[:-2] + (51,)), features], axis=-1)
            hidden = nn.Dense(width)(hidden)
            for _ in range(depth - 1):
                hidden = hidden + nn.Dense(width)(nn.gelu(nn.LayerNorm()(hidden)))
            return nn.Dense(51)(nn.gelu(hidden)).reshape(x_t.shape)

    module = MLP()
    params = module.init(jax.random.PRNGKey(seed), jnp.zeros((1, 17, 3)), jnp.zeros((1,)))
    return Prior(params=params, normalization=identity_normalization(), apply_fn=module.apply)


def load_prior(spec: str):
    """'default' (shipped checkpoint), 'tiny' (random tiny network), 'mlp:WIDTH:DEPTH' (random stand-in) or a
    checkpoint path."""
    if spec.startswith("mlp"):
        parts = spec.split(":")
        return stand_in_mlp_prior(*(int(part) for part in parts[1:3]))
    if spec == "tiny":
        from posediff_jax.prior.tiny import make_tiny_prior as make_prior_for_tests

        return make_prior_for_tests(0)
    from posediff_jax.training import checkpoint

    return prior_lib.load_default_prior() if spec == "default" else prior_lib.load_prior(spec)


def bench_case(prior, frames: int, hypotheses: int, steps: int, guidance: str, chunk_size: int,
               matmul_flops_per_second: float, repeats: int = 3) -> dict:
    """Compiles and times one configuration; returns one result row (see the module docstring)."""
    from posediff_jax.guidance import make_heatmap_energy
    from posediff_jax.sampling import make_sampler

    sampler = make_sampler(
        prior, make_heatmap_energy(), num_steps=steps, guidance=guidance, chunk_size=min(chunk_size, hypotheses)
    )
    evidence = synthetic_evidence(frames)
    key = jax.random.PRNGKey(0)
    function = jax.jit(lambda key, evidence: sampler.sample_batch(key, evidence, hypotheses))
    start = time.perf_counter()
    compiled = function.lower(key, evidence).compile()
    compile_seconds = time.perf_counter() - start
    compiled(key, evidence).block_until_ready()  # warm-up
    times = []
    for repeat in range(repeats):
        start = time.perf_counter()
        poses = compiled(jax.random.fold_in(key, repeat + 1), evidence)
        poses.block_until_ready()
        times.append(time.perf_counter() - start)
    if not np.all(np.isfinite(np.asarray(poses))):
        raise RuntimeError(f"non-finite poses in configuration {frames}x{hypotheses}, {steps} steps, {guidance}")
    run_seconds = statistics.median(times)
    flops_per_evaluation, flop_source = network_flops_per_evaluation(prior, guidance)
    evaluations = frames * hypotheses * steps
    achieved = flops_per_evaluation * evaluations / run_seconds
    memory, memory_source = peak_memory_bytes()
    return {
        "frames": frames,
        "hypotheses": hypotheses,
        "frames_x_hypotheses": frames * hypotheses,
        "steps": steps,
        "guidance": guidance,
        "chunk_size": min(chunk_size, hypotheses),
        "compile_seconds": compile_seconds,
        "run_seconds": run_seconds,
        "run_seconds_all": times,
        "hypotheses_per_second": frames * hypotheses / run_seconds,
        "network_evaluations_per_second": evaluations / run_seconds,
        "network_flops_per_evaluation": flops_per_evaluation,
        "flop_count_source": flop_source,
        "achieved_flops_per_second": achieved,
        "fraction_of_matmul_flops": achieved / matmul_flops_per_second,
        "peak_memory_bytes": memory,
        "peak_memory_source": memory_source,
    }


def format_table(rows: Sequence[dict]) -> str:
    header = [
        "frames x hyps", "steps", "guidance", "compile s", "run s", "hyps/s", "net evals/s", "MFLOP/eval",
        "GFLOP/s", "% matmul", "peak MiB",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join([
            f"{row['frames']} x {row['hypotheses']}",
            str(row["steps"]),
            row["guidance"],
            f"{row['compile_seconds']:.1f}",
            f"{row['run_seconds']:.2f}",
            f"{row['hypotheses_per_second']:,.0f}",
            f"{row['network_evaluations_per_second']:,.0f}",
            f"{row['network_flops_per_evaluation'] / 1e6:.2f}",
            f"{row['achieved_flops_per_second'] / 1e9:.1f}",
            f"{100 * row['fraction_of_matmul_flops']:.1f}",
            f"{row['peak_memory_bytes'] / 2**20:,.0f}",
        ]) + " |")  # fmt: skip
    return "\n".join(lines)


def run_benchmark(prior, cases: Sequence[tuple[int, int]], steps: Sequence[int], guidance: Sequence[str],
                  chunk_size: int = 256, matmul_size: int = 2048, repeats: int = 3, large_case: str | None = None,
                  large_chunk_size: int = 1000, log=print) -> dict:
    """Runs the grid (smallest first) and the optional large case; returns the JSON payload."""
    reference = measure_matmul_flops(matmul_size)
    log(f"dense matmul {matmul_size}x{matmul_size} float32: {reference['flops_per_second'] / 1e9:.1f} GFLOP/s")
    rows = []
    ordered = sorted(cases, key=lambda case: case[0] * case[1])
    for frames, hypotheses in ordered:
        for num_steps in steps:
            for variant in guidance:
                row = bench_case(prior, frames, hypotheses, num_steps, variant, chunk_size,
                                 reference["flops_per_second"], repeats)
                log(f"  {frames}x{hypotheses} steps={num_steps} {variant}: {row['hypotheses_per_second']:,.0f} hyps/s, "
                    f"compile {row['compile_seconds']:.1f} s")
                rows.append(row)
    if large_case:
        frames, hypotheses = parse_case(large_case)
        row = bench_case(prior, frames, hypotheses, min(steps), guidance[0], large_chunk_size,
                         reference["flops_per_second"], repeats=1)
        row["large_case"] = True
        log(f"  large case {frames}x{hypotheses}: {row['run_seconds']:.1f} s, peak {row['peak_memory_bytes'] / 2**20:,.0f} MiB")
        rows.append(row)
    return {
        "date": datetime.date.today().isoformat(),
        "device": device_description(),
        "backend": jax.default_backend(),
        "matmul_reference": reference,
        "rows": rows,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="default",
                        help="'default' (shipped), 'tiny' (random), 'mlp:WIDTH:DEPTH' (random stand-in) or a checkpoint dir")
    parser.add_argument("--grid", nargs="+", default=list(DEFAULT_GRID), help="FRAMESxHYPOTHESES entries")
    parser.add_argument("--steps", nargs="+", type=int, default=list(DEFAULT_STEPS))
    parser.add_argument("--guidance", nargs="+", default=list(DEFAULT_GUIDANCE), choices=["dps", "x0"])
    parser.add_argument("--chunk-size", type=int, default=256, help="hypotheses per vmapped chunk")
    parser.add_argument("--large-case", default=LARGE_CASE, help="FRAMESxHYPOTHESES in chunks; 'none' to skip")
    parser.add_argument("--large-chunk-size", type=int, default=1000)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny prior, 1x8, 2 steps, small matmul")
    parser.add_argument("--output", default=None, help="write the JSON results here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.prior, args.grid, args.steps, args.guidance = "tiny", ["1x8"], [2], ["dps"]
        args.large_case, args.matmul_size, args.repeats = "1x32", 256, 1
        args.large_chunk_size = 16
    cases = [parse_case(entry) for entry in args.grid]
    large_case = None if str(args.large_case).lower() == "none" else args.large_case
    prior = load_prior(args.prior)
    results = run_benchmark(prior, cases, args.steps, args.guidance, args.chunk_size, args.matmul_size, args.repeats,
                            large_case, args.large_chunk_size)
    results["prior"] = args.prior
    results["command"] = "python tools/bench_sampler.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\n{results['device']}; dense matmul {results['matmul_reference']['flops_per_second'] / 1e9:.1f} GFLOP/s; "
          f"{results['date']}\n")
    print(format_table(results["rows"]))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(results, file, indent=2)
        print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
