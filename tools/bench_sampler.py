"""Guided-sampling throughput: hypotheses/s, achieved FLOP/s against the machine's measured peak, and a PyTorch
eager baseline.

    python tools/bench_sampler.py --prior default --output bench_cpu.json             # default grid
    python tools/bench_sampler.py --grid 1x200 8x512 --steps 50 --guidance dps --baseline torch
    python tools/bench_sampler.py --tiny                                              # seconds; for tests

Every configuration (frames x hypotheses, steps, guidance, matmul format) is the real sampler,
`make_sampler(prior, make_heatmap_energy(), ...).sample_batch` with one guided update per step, on synthetic
heatmap evidence, jitted as one program: compiled once (`compile_s`), warmed up, then timed `--repeats` times
(`seconds`: the median). FLOPs per evaluation (one guided step of one hypothesis) are XLA's cost analysis of the
compiled sampler. The peak is the best of dense matmul probes and, on a CPU, a C multiply-add loop compiled for
this CPU on every core; with several CPU devices the probes run once more in a one-device process, so the layout
cannot flatter the fraction of peak. `--baseline torch` runs the eager port
(tools/torch_baseline.py) on the same weights, evidence and initial noise, checks that its samples agree and times
it interleaved with JAX (JAX, torch, JAX, ...) so that a change in machine load hits both alike. By default the
XLA:CPU flags and device layout of `posediff`'s sampling commands apply, so the rows show what CLI users get
(`--xla-defaults none`: XLA's own; `POSEDIFF_JAX_CPU_DEVICES=1`: one CPU device using every core).
The JSON (`--output`) holds the machine, command, load, the probes and one row per configuration; the columns
are defined in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# tools/ is on the path when this runs as a script (and in tests, via load_tool)
from bench_common import command_line, load_average, machine_info, summary_line, tool_parser, utc_now, write_json
from posediff_jax.sampling.config import MATMUL_DTYPES

DEFAULT_GRID = ("1x200", "1x512", "8x512")
DEFAULT_STEPS = (25, 50)
DEFAULT_GUIDANCE = ("dps", "x0")
LARGE_CASE = "1x10000"
MATMUL_PROBES = ((256, 512, 512), (2048, 512, 512), (8192, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048))
GPU_MATMUL_PROBES = MATMUL_PROBES + ((4096, 4096, 4096), (8192, 8192, 8192))
# Torch and JAX samples agree to float32 rounding for most hypotheses; a few bifurcate (a bilinear cell border or
# the gradient clip flips on a rounding difference), so the check is on the median and the fraction within 1 mm.
SAME_SAMPLES_TOLERANCE_MM = 1.0
SAME_SAMPLES_MIN_FRACTION = 0.9
ORIGINAL_ENVIRONMENT = dict(os.environ)  # before `main` adds the CLI's XLA flags


# ------------------------------------------------------------------------------------------------ peak probes
def timed(function: Callable, *arguments) -> float:
    """Seconds of one call, its results waited for."""
    start = time.perf_counter()
    jax.block_until_ready(function(*arguments))
    return time.perf_counter() - start


def best_time(function: Callable, *arguments, repeats: int) -> float:
    """The best of `repeats` timed calls after a warm-up call."""
    jax.block_until_ready(function(*arguments))
    return min(timed(function, *arguments) for _ in range(repeats))


def on_every_device(array):
    """`array` `[D, ...]` split over the samplers' 'data' mesh of the D devices (one device: left where it is)."""
    from posediff_jax.sampling.devices import sampling_mesh

    mesh = sampling_mesh()
    if mesh is None:
        return array
    return jax.device_put(array, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data")))


def measure_matmul_flops(size: int = 2048, repeats: int = 5, dtype=jnp.float32, shape=None) -> dict:
    """Dense-matmul throughput, best of `repeats`: `[M, K] @ [K, N]` (default `[size, size]` squared) on every device
    at once, so the FLOPs `2 M K N D` are the machine's in the layout the sampler runs in. bfloat16 operands sum in
    float32, and float32 runs at JAX's default precision (TF32 on recent NVIDIA GPUs), as in the sampler."""
    m, k, n = shape or (size, size, size)
    count = jax.device_count()
    keys = jax.random.split(jax.random.PRNGKey(0))
    left, right = (jax.random.normal(key, (count, *dims), dtype) for key, dims in zip(keys, ((m, k), (k, n))))
    if count == 1:
        left, right, spec = left[0], right[0], "mk,kn->mn"
    else:
        left, right, spec = on_every_device(left), on_every_device(right), "dmk,dkn->dmn"
    accumulate = jnp.float32 if jnp.dtype(dtype) == jnp.bfloat16 else None
    product = jax.jit(lambda a, b: jnp.einsum(spec, a, b, preferred_element_type=accumulate))
    best = best_time(product, left, right, repeats=repeats)
    flops = 2.0 * m * k * n * count
    return {"probe": "matmul", "shape": [m, k, n], "size": m if m == k == n else None, "devices": count,
            "seconds": best, "flops": flops, "flops_per_second": flops / best, "dtype": jnp.dtype(dtype).name}


# The machine's arithmetic peak, which XLA-generated element-wise code does not reach: a multiply-add loop on
# `WIDTH`-float vectors (GCC/Clang vector extensions, mapped onto AVX2, AVX-512 or NEON registers) with
# `ACCUMULATORS` independent chains to hide the latency; built for 32- and 64-byte vectors, the better one counts.
NATIVE_FMA_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef float vec __attribute__((vector_size(WIDTH * 4)));
int main(int argc, char **argv) {
  long iterations = atol(argv[1]);
  vec a, b, r[ACCUMULATORS];
  for (int l = 0; l < WIDTH; l++) { a[l] = 0.9999f; b[l] = 1e-4f; }
  for (int i = 0; i < ACCUMULATORS; i++) for (int l = 0; l < WIDTH; l++) r[i][l] = (float)(i + l);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long k = 0; k < iterations; k++) {
#pragma GCC unroll 16
    for (int i = 0; i < ACCUMULATORS; i++) r[i] = r[i] * a + b;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  float sum = 0.0f;
  for (int i = 0; i < ACCUMULATORS; i++) for (int l = 0; l < WIDTH; l++) sum += r[i][l];
  printf("%.9f %.6g\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), (double)sum);
  return 0;
}
"""
NATIVE_FMA_BUILDS = ((8, 8), (16, 8))  # (WIDTH floats, ACCUMULATORS)


def measure_native_fma_flops(repeats: int = 5, iterations: int = 100_000_000, processes: int | None = None,
                             log=print) -> dict | None:
    """The CPU's multiply-add peak: the C loop above (`cc -O3 -march=native`) in one process per usable core at
    once, best of `repeats` rounds per build (a round's time: its slowest process); None without a C compiler.
    FLOPs: 2 x WIDTH x ACCUMULATORS x iterations x processes."""
    import shutil

    from posediff_jax.cli import usable_cpu_count

    processes = processes or usable_cpu_count()
    compiler = next((name for name in (os.environ.get("CC"), "cc", "gcc", "clang") if name and shutil.which(name)),
                    None)
    best = None
    with tempfile.TemporaryDirectory() as directory:
        source = pathlib.Path(directory) / "fma.c"
        source.write_text(NATIVE_FMA_SOURCE)
        for width, accumulators in NATIVE_FMA_BUILDS if compiler else ():
            binary = str(source.with_name(f"fma_{width}x{accumulators}"))
            try:
                subprocess.run([compiler, "-O3", "-march=native", "-ffp-contract=fast", f"-DWIDTH={width}",
                                f"-DACCUMULATORS={accumulators}", str(source), "-o", binary],
                               check=True, capture_output=True, timeout=120)
            except (OSError, subprocess.SubprocessError):
                continue
            flops = 2.0 * width * accumulators * iterations * processes
            for _ in range(repeats):
                try:
                    running = [subprocess.Popen([binary, str(iterations)], stdout=subprocess.PIPE, text=True)
                               for _ in range(processes)]
                    seconds = max(float(process.communicate(timeout=120)[0].split()[0]) for process in running)
                except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                    break
                if best is None or flops / seconds > best["flops_per_second"]:
                    best = {"probe": "fma_native", "shape": [width, accumulators], "devices": processes,
                            "seconds": seconds, "flops": flops, "flops_per_second": flops / seconds}
    if best is None:
        log("  probe fma_native: no C compiler (cc / gcc / clang) or it failed; peak from the matmul probes only")
    return best


def _log_probes(probes, log, where: str = "") -> None:
    for probe in probes:
        dtype = "" if probe.get("dtype", "float32") == "float32" else f" {probe['dtype']}"
        log(f"  probe {probe['probe']} {probe['shape']}{dtype}{where}: {probe['flops_per_second'] / 1e9:.1f} GFLOP/s")


def measure_peak_flops(repeats: int = 5, matmul_shapes=None, native: bool = True, log=print,
                       matmul_dtypes=("float32",)) -> dict:
    """`peak_of` the matmul probes (also in bfloat16 when it is among `matmul_dtypes`) and, on a CPU backend with
    `native`, the compiled FMA loop (XLA's element-wise code does not reach the CPU's multiply-add peak)."""
    if matmul_shapes is None:
        matmul_shapes = GPU_MATMUL_PROBES if jax.default_backend() == "gpu" else MATMUL_PROBES
    formats = [jnp.float32] + ([jnp.bfloat16] if "bfloat16" in matmul_dtypes else [])
    probes = [measure_matmul_flops(shape=shape, repeats=repeats, dtype=dtype)
              for dtype in formats for shape in matmul_shapes]
    if native and jax.default_backend() == "cpu":
        probes += [probe for probe in [measure_native_fma_flops(repeats=repeats, log=log)] if probe is not None]
    _log_probes(probes, log)
    return peak_of(probes)


def peak_of(probes: list) -> dict:
    """The float32 peak (the best float32 probe, matmul or native FMA) and per number format its best probe
    (`peak_by_dtype`: a bfloat16 row's fraction of peak is of the bfloat16 matmul probes)."""
    by_dtype = {}
    for probe in probes:
        name = probe.get("dtype", "float32")
        if name not in by_dtype or probe["flops_per_second"] > by_dtype[name]["flops_per_second"]:
            by_dtype[name] = probe
    square = [p["flops_per_second"] for p in probes if p["probe"] == "matmul" and p["shape"] == [2048] * 3
              and p.get("dtype", "float32") == "float32"]
    return {"peak_flops_per_second": by_dtype["float32"]["flops_per_second"], "peak_probe": by_dtype["float32"],
            "probes": probes, "peak_by_dtype": {name: probe["flops_per_second"] for name, probe in by_dtype.items()},
            "matmul_2048_flops_per_second": square[0] if square else None}


def measure_one_device_peak_in_subprocess(repeats: int, tiny: bool, environ: dict, log=print,
                                          matmul_dtypes=("float32",)) -> list:
    """The probes again in a fresh process with one CPU device using every core (`POSEDIFF_JAX_CPU_DEVICES=1`),
    `environ` being the environment before this tool added the CLI's flags; [] when that run fails."""
    command = [sys.executable, os.path.abspath(__file__), "--probes-only", "--probe-repeats", str(repeats),
               "--matmul-dtype", *matmul_dtypes] + (["--tiny"] if tiny else [])
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                env={**environ, "POSEDIFF_JAX_CPU_DEVICES": "1"})
        probes = json.loads(result.stdout.strip().splitlines()[-1])["probes"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError) as error:
        log(f"  one-device probes failed ({error}); peak from this process's probes only")
        return []
    _log_probes(probes, log, " (1 device)")
    return probes


def measure_machine_peak(repeats: int = 5, matmul_shapes=None, native: bool = True, log=print,
                         matmul_dtypes=("float32",)) -> dict:
    """`measure_peak_flops` in this process and, with several CPU devices, also in a one-device process: the
    machine's best, whichever layout reaches it."""
    peak = measure_peak_flops(repeats, matmul_shapes, native=native, log=log, matmul_dtypes=matmul_dtypes)
    if jax.default_backend() == "cpu" and jax.device_count() > 1:
        peak = peak_of(peak["probes"] + measure_one_device_peak_in_subprocess(
            repeats, matmul_shapes is not None, ORIGINAL_ENVIRONMENT, log, matmul_dtypes))
    log(f"peak {peak['peak_flops_per_second'] / 1e9:.1f} GFLOP/s ({peak['peak_probe']['probe']} "
        f"{peak['peak_probe']['shape']})" + "".join(f"; {name} {value / 1e9:.1f} GFLOP/s"
                                                    for name, value in peak["peak_by_dtype"].items()
                                                    if name != "float32"))
    return peak


# ------------------------------------------------------------------------------------------------ FLOPs
def compiled_flops(function: Callable, *arguments) -> float | None:
    """FLOPs of `jax.jit(function)(*arguments)` by XLA's cost analysis (None when it reports none)."""
    try:
        analysis = jax.jit(function).lower(*arguments).compile().cost_analysis()
    except Exception:
        return None
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    flops = float(analysis["flops"]) if analysis and "flops" in analysis else 0.0
    return flops if flops > 0 else None


def jaxpr_matmul_flops(jaxpr) -> float:
    """FLOPs of every `dot_general` in a (closed) jaxpr and its sub-jaxprs: 2 x output size x contracted size."""
    total = 0.0
    for equation in getattr(jaxpr, "jaxpr", jaxpr).eqns:
        if equation.primitive.name == "dot_general":
            (lhs_contracting, _), _ = equation.params["dimension_numbers"]
            lhs_shape = equation.invars[0].aval.shape
            contracted = float(np.prod([lhs_shape[axis] for axis in lhs_contracting]))
            total += 2.0 * float(np.prod(equation.outvars[0].aval.shape)) * contracted
        for value in equation.params.values():
            for sub in (value if isinstance(value, (tuple, list)) else (value,)):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    total += jaxpr_matmul_flops(sub)
    return total


def network_forward_flops(prior, rows: int = 256) -> float:
    """Matmul FLOPs per pose of one network forward as the sampler runs it, from the jaxpr: `rows` poses at one
    shared time, so the time-embedding path (one per step under `vmap`) is spread over the rows."""
    forward = jax.vmap(lambda pose: prior.denoise(pose, jnp.float32(0.5)))
    return jaxpr_matmul_flops(jax.make_jaxpr(forward)(jnp.zeros((rows, 17, 3), jnp.float32))) / rows


def flops_per_evaluation(prior, guidance: str, hypotheses: int, chunk_size: int, energy_fn, evidence,
                         rows: int = 256) -> tuple[float, str]:
    """(FLOPs of one guided step of one hypothesis, how they were counted).

    XLA's cost analysis of the sampler compiled for one device and one frame of `min(hypotheses, rows)` hypotheses
    (one `lax.map` iteration), at 2 and 4 steps: XLA counts a loop body once, so equal counts are one step of the
    batch, and counts that grow with the steps were multiplied by the trip count (then the difference per step
    is used). A count below 90 % of the network's forward matmuls is incomplete (XLA's GPU analysis misses GEMMs
    fused into Triton kernels); then, as without a count, the jaxpr's network matmuls (x2 for DPS) are used."""
    from posediff_jax.sampling import make_sampler

    rows = min(hypotheses, rows)
    counts = {}
    for steps in (2, 4):
        sampler = make_sampler(prior, energy_fn, num_steps=steps, guidance=guidance, chunk_size=chunk_size,
                               guidance_repeats=1, devices=jax.devices()[:1])
        counts[steps] = compiled_flops(lambda key, evidence: sampler.sample_batch(key, evidence, rows),
                                       jax.random.PRNGKey(0), evidence)
    if counts[2] is None or counts[4] is None:
        flops, how = None, "no XLA count"
    elif counts[4] > 1.5 * counts[2]:
        flops, how = (counts[4] - counts[2]) / 2 / rows, "xla cost_analysis, (F(4 steps) - F(2 steps)) / 2"
    else:
        flops, how = counts[4] / rows, "xla cost_analysis of the compiled sampler (loop body once)"
    if flops is not None and flops < 0.9 * network_forward_flops(prior, rows):
        flops, how = None, f"incomplete XLA count ({flops / 1e6:.2f} MFLOP)"
    if flops is None:
        factor = 2.0 if guidance == "dps" else 1.0
        return factor * network_forward_flops(prior), f"network matmuls from the jaxpr ({how})"
    return flops, f"{how} / {rows} rows"


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
    points = STANDING_POSE_MM[None] + rng.normal(scale=30.0, size=(num_frames, 17, 3)) + np.array([0.0, 0.0, 5000.0])
    pixels = points[..., :2] / points[..., 2:] * intrinsics[[0, 1], [0, 1]] + intrinsics[[0, 1], [2, 2]]
    return heatmap_evidence_from_keypoints(pixels, np.broadcast_to(intrinsics, (num_frames, 3, 3)))


def peak_memory_bytes() -> tuple[int, str]:
    """(bytes, source): the device's peak bytes in use where it reports them, else this process's max RSS."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # backends without memory statistics raise or return None
        stats = None
    if stats and "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"]), "device peak_bytes_in_use"
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB, macOS bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale), "process max RSS"


class CompiledCase(NamedTuple):
    """One configuration, compiled: `compiled(key, evidence)` -> `[frames, m, 17, 3]` poses."""

    sampler: object
    energy_fn: Callable
    evidence: object
    key: object
    compiled: Callable
    compile_seconds: float


def compile_case(prior, frames: int, hypotheses: int, steps: int, guidance: str, chunk_size: int,
                 matmul_dtype: str = "float32") -> CompiledCase:
    """The sampler every row measures (heatmap energy, synthetic evidence, one guided update per step: the unit
    the FLOP count and the torch port use), jitted as one program, lowered and compiled."""
    from posediff_jax.guidance import make_heatmap_energy
    from posediff_jax.sampling import make_sampler

    energy_fn = make_heatmap_energy()
    sampler = make_sampler(prior, energy_fn, num_steps=steps, guidance=guidance, chunk_size=chunk_size,
                           guidance_repeats=1, matmul_dtype=matmul_dtype)
    evidence, key = synthetic_evidence(frames), jax.random.PRNGKey(0)
    start = time.perf_counter()
    compiled = jax.jit(lambda key, evidence: sampler.sample_batch(key, evidence, hypotheses)).lower(
        key, evidence).compile()
    return CompiledCase(sampler, energy_fn, evidence, key, compiled, time.perf_counter() - start)


class TorchBaseline:
    """tools/torch_baseline.py's eager sampler for one configuration: the same weights, evidence and noise."""

    def __init__(self, prior, config, frames: int, hypotheses: int, evidence, key, chunk=None, device="cpu"):
        spec = importlib.util.spec_from_file_location("posediff_torch_baseline",
                                                      pathlib.Path(__file__).resolve().with_name("torch_baseline.py"))
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.sampler = self.module.TorchGuidedSampler.from_config(prior, config, device=device)
        self.noise, self.evidence, self.chunk = self.module.initial_noise(key, frames, hypotheses), evidence, chunk

    def run(self):
        """(poses `[frames, m, 17, 3]`, seconds) of one eager run."""
        return self.module.timed_sample(self.sampler, self.noise, self.evidence, self.chunk)


def same_samples(case: CompiledCase, hypotheses: int, poses, torch_poses, matmul_dtype: str, log) -> dict:
    """Per hypothesis the largest joint difference (mm) of the torch samples from JAX's: max, median and the
    fraction within the tolerance. Warns when float32 samples disagree; in bfloat16 each side rounds differently
    and guided trajectories amplify it, so the differences are reported, not checked."""
    if jax.default_backend() != "cpu":  # GPUs run float32 matmuls as TF32 by default; torch does not
        with jax.default_matmul_precision("highest"):
            poses = np.asarray(jax.jit(lambda key, evidence: case.sampler.sample_batch(key, evidence, hypotheses))(
                case.key, case.evidence))
    per_hypothesis = np.abs(torch_poses - poses).max(axis=(-2, -1))
    median, within = float(np.median(per_hypothesis)), float(np.mean(per_hypothesis <= SAME_SAMPLES_TOLERANCE_MM))
    if matmul_dtype == "float32" and not (median <= 0.1 * SAME_SAMPLES_TOLERANCE_MM
                                          and within >= SAME_SAMPLES_MIN_FRACTION):
        log(f"  WARNING: torch and JAX samples differ: median {median:.3g} mm, "
            f"{100 * within:.1f}% within {SAME_SAMPLES_TOLERANCE_MM} mm")
    return {"max_abs_diff_mm": float(per_hypothesis.max()), "median_abs_diff_mm": median,
            "fraction_within_1mm": within}


def bench_case(prior, frames: int, hypotheses: int, steps: int, guidance: str, chunk_size: int,
               peak_flops_per_second: float, repeats: int = 3, baseline: str = "none", torch_chunk=None,
               log=print, matmul_dtype: str = "float32", torch_device: str = "cpu") -> dict:
    """One result row: the configuration compiled, warmed up and timed, interleaved with its baseline.
    `peak_flops_per_second`: the peak of `matmul_dtype`'s number format."""
    from posediff_jax.sampling import chunking

    case = compile_case(prior, frames, hypotheses, steps, guidance, chunk_size, matmul_dtype)
    poses = np.asarray(case.compiled(case.key, case.evidence))  # the warm-up, and the baseline's reference
    if not np.all(np.isfinite(poses)):
        raise RuntimeError(f"non-finite poses in configuration {frames}x{hypotheses}, {steps} steps, {guidance}")
    torch_run, same = None, dict.fromkeys(("max_abs_diff_mm", "median_abs_diff_mm", "fraction_within_1mm"))
    if baseline == "torch":
        torch_run = TorchBaseline(prior, case.sampler.config, frames, hypotheses, case.evidence, case.key,
                                  torch_chunk, torch_device).run
        same = same_samples(case, hypotheses, poses, torch_run()[0], matmul_dtype, log)  # also its warm-up
    times, baseline_times = [], []
    for _ in range(repeats):
        times.append(timed(case.compiled, case.key, case.evidence))
        if torch_run is not None:
            baseline_times.append(torch_run()[1])
    seconds = statistics.median(times)
    flops, flop_source = flops_per_evaluation(prior, guidance, hypotheses, chunk_size, case.energy_fn,
                                              synthetic_evidence(1))
    evaluations = frames * hypotheses * steps
    achieved = flops * evaluations / seconds
    memory, memory_source = peak_memory_bytes()
    plan = chunking.plan_chunks(hypotheses, chunk_size)
    baseline_seconds = statistics.median(baseline_times) if baseline_times else None
    return {
        "frames": frames, "hypotheses": hypotheses, "steps": steps, "guidance": guidance,
        "matmul_dtype": matmul_dtype, "seconds": seconds, "hyps_per_s": frames * hypotheses / seconds,
        "gflops": achieved / 1e9, "peak_fraction": achieved / peak_flops_per_second,
        "peak_flops_per_second": peak_flops_per_second, "compile_s": case.compile_seconds,
        "baseline_seconds": baseline_seconds, "speedup": baseline_seconds / seconds if baseline_seconds else None,
        "seconds_all": times, "baseline_seconds_all": baseline_times or None,
        "baseline": None if baseline == "none" else baseline, **same,
        "network_evaluations_per_second": evaluations / seconds, "flops_per_evaluation": flops,
        "flop_count_source": flop_source,
        "chunk_plan": {"chunk_size": plan.chunk_size, "group_size": plan.group_size, "num_groups": plan.num_groups},
        "peak_memory_bytes": memory, "peak_memory_source": memory_source, "load_average": load_average(),
    }


def format_table(rows) -> str:
    with_baseline = any(row.get("baseline_seconds") for row in rows)
    with_dtype = any(row.get("matmul_dtype", "float32") != "float32" for row in rows)
    header = ["frames x hyps", "steps", "guidance"] + (["matmuls"] if with_dtype else []) + [
        "compile s", "JAX s", "hyps/s", "MFLOP/eval", "GFLOP/s", "% peak"]
    header += ["torch s", "JAX speed-up", "median diff mm", "same (<1 mm)"] if with_baseline else []
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [f"{row['frames']} x {row['hypotheses']}", str(row["steps"]), row["guidance"],
                 *([row.get("matmul_dtype", "float32")] if with_dtype else []), f"{row['compile_s']:.1f}",
                 f"{row['seconds']:.2f}", f"{row['hyps_per_s']:,.0f}", f"{row['flops_per_evaluation'] / 1e6:.2f}",
                 f"{row['gflops']:.1f}", f"{100 * row['peak_fraction']:.1f}"]
        if with_baseline and row.get("baseline_seconds"):
            cells += [f"{row['baseline_seconds']:.2f}", f"{row['speedup']:.2f}x", f"{row['median_abs_diff_mm']:.1e}",
                      f"{100 * row['fraction_within_1mm']:.1f}%"]
        elif with_baseline:
            cells += ["-"] * 4
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_benchmark(prior, cases, steps, guidance, chunk_size: int = 256, repeats: int = 3, large_case=None,
                  large_steps: int = 25, baseline: str = "none", probe_repeats: int = 5, matmul_shapes=None,
                  torch_chunk=None, log=print, matmul_dtypes=("float32",), torch_device: str = "cpu") -> dict:
    """Measures the peak, then runs the grid (smallest first) and the optional large case (first guidance), each
    configuration once per number format in `matmul_dtypes`; returns the JSON payload."""
    date, start = utc_now(), time.perf_counter()
    info = machine_info(with_torch=baseline == "torch")
    log(f"{info['cpu_model']} ({info['cpu_count']} cores), {info['backend']}, load {info['load_average']}")
    peak = measure_machine_peak(probe_repeats, matmul_shapes, log=log, matmul_dtypes=matmul_dtypes)
    configurations = [(frames, hypotheses, num_steps, variant)
                      for frames, hypotheses in sorted(cases, key=lambda case: case[0] * case[1])
                      for num_steps in steps for variant in guidance]
    if large_case:
        configurations.append((*parse_case(large_case), large_steps, guidance[0]))
    rows = []
    for (frames, hypotheses, num_steps, variant), dtype in ((case, name) for case in configurations
                                                            for name in matmul_dtypes):
        row = bench_case(prior, frames, hypotheses, num_steps, variant, chunk_size, peak["peak_by_dtype"][dtype],
                         repeats, baseline, torch_chunk, log, dtype, torch_device)
        message = (f"  {frames}x{hypotheses} steps={num_steps} {variant}{'' if dtype == 'float32' else ' ' + dtype}: "
                   f"{row['seconds']:.2f} s, {row['hyps_per_s']:,.0f} hyps/s, {100 * row['peak_fraction']:.1f}% of "
                   f"peak, compile {row['compile_s']:.1f} s")
        if row["baseline_seconds"]:
            message += (f"; torch {row['baseline_seconds']:.2f} s ({row['speedup']:.2f}x), median diff "
                        f"{row['median_abs_diff_mm']:.1e} mm, {100 * row['fraction_within_1mm']:.1f}% within 1 mm")
        log(message)
        rows.append(row)
    return {"date": date, "wall_seconds": time.perf_counter() - start, "machine": info,
            "load_average_end": load_average(), "peak": peak, "chunk_size": chunk_size, "rows": rows}


def main(argv=None) -> int:
    parser = tool_parser(__doc__)
    parser.add_argument("--prior", default="default", help="'default' (shipped), 'tiny', 'gaussian' or a prior folder")
    parser.add_argument("--grid", nargs="+", default=list(DEFAULT_GRID), help="FRAMESxHYPOTHESES entries")
    parser.add_argument("--steps", nargs="+", type=int, default=list(DEFAULT_STEPS))
    parser.add_argument("--guidance", nargs="+", default=list(DEFAULT_GUIDANCE), choices=["dps", "x0"])
    parser.add_argument("--chunk-size", type=int, default=256, help="hypotheses per vmapped chunk")
    parser.add_argument("--matmul-dtype", nargs="+", default=["float32"], choices=MATMUL_DTYPES,
                        help="the sampler's matmul_dtype (model/precision.py); several: each configuration in "
                             "each, rows against their format's peak, the torch baseline in the same format")
    parser.add_argument("--target-rows", type=int, default=None,
                        help="rows side by side per lax.map iteration (chunking.TARGET_ROWS; default: the library's)")
    parser.add_argument("--large-case", default=LARGE_CASE, help="FRAMESxHYPOTHESES (first guidance); 'none' skips")
    parser.add_argument("--large-steps", type=int, default=25)
    parser.add_argument("--baseline", choices=["none", "torch"], default="none",
                        help="also time the PyTorch eager port (tools/torch_baseline.py), interleaved")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--torch-device", default="cpu", help="torch device for the baseline ('cuda' on a GPU)")
    parser.add_argument("--torch-chunk", type=int, default=None, help="hypotheses per torch batch (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probe-repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny prior, 1x8, 2 steps, small probes")
    parser.add_argument("--xla-defaults", choices=["cli", "none"], default="cli",
                        help="'cli': the XLA:CPU flags and one CPU device per core, as `posediff` samples "
                             "(cli.apply_xla_cpu_defaults); 'none': XLA's own defaults")
    parser.add_argument("--output", default=None, help="write the JSON results here")
    parser.add_argument("--probes-only", action="store_true", help=argparse.SUPPRESS)  # one JSON line of probes
    args = parser.parse_args(argv)
    if args.xla_defaults == "cli":  # before the first computation creates the backend
        from posediff_jax.cli import apply_xla_cpu_defaults

        apply_xla_cpu_defaults(one_device_per_core=True)
    matmul_shapes = None
    if args.tiny:
        args.prior, args.grid, args.steps, args.guidance = "tiny", ["1x8"], [2], ["dps"]
        args.large_case, args.repeats, args.probe_repeats, matmul_shapes = "none", 1, 1, ((128, 128, 128),)
    if args.probes_only:
        print(json.dumps(measure_peak_flops(args.probe_repeats, matmul_shapes, native=False, log=lambda *_: None,
                                            matmul_dtypes=args.matmul_dtype)))
        return 0
    if args.baseline == "torch" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if args.target_rows:
        from posediff_jax.sampling import chunking

        chunking.TARGET_ROWS = int(args.target_rows)
    from posediff_jax.prior import resolve_prior

    cases = [parse_case(entry) for entry in args.grid]
    large_case = None if str(args.large_case).lower() == "none" else args.large_case
    results = run_benchmark(resolve_prior(args.prior), cases, args.steps, args.guidance, args.chunk_size,
                            args.repeats, large_case, args.large_steps, args.baseline, args.probe_repeats,
                            matmul_shapes, args.torch_chunk, matmul_dtypes=tuple(dict.fromkeys(args.matmul_dtype)),
                            torch_device=args.torch_device)
    results.update(prior=args.prior, command=command_line(__file__, argv))
    machine = results["machine"]
    print("\n" + summary_line(results["date"], machine, f"backend {machine['backend']} x {len(machine['devices'])} "
                              f"device(s); peak {results['peak']['peak_flops_per_second'] / 1e9:.1f} GFLOP/s",
                              results["load_average_end"]) + "\n")
    print(format_table(results["rows"]))
    write_json(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
