"""Guided-sampling throughput: hypotheses/s, achieved FLOP/s against a measured peak, and a PyTorch eager baseline.

    python tools/bench_sampler.py --prior default --output bench_cpu.json             # default grid
    python tools/bench_sampler.py --grid 1x200 8x512 --steps 50 --guidance dps --baseline torch
    python tools/bench_sampler.py --tiny                                              # seconds; for tests

Every configuration (frames x hypotheses, steps, guidance) is the real sampler, `make_sampler(prior,
make_heatmap_energy(), ...).sample_batch` on synthetic heatmap evidence, jitted as one program. It is lowered and
compiled once (`compile_s`: lowering + XLA compilation), run once to warm up, then timed `--repeats` times
(`seconds` = median). With `--baseline torch` the PyTorch eager port (tools/torch_baseline.py; same network,
energy, DDIM + guidance, same weights, same initial noise) is run on the same evidence, its samples are
compared with JAX's (per hypothesis the largest joint difference: `median_abs_diff_mm`,
`fraction_within_1mm`, `max_abs_diff_mm`), and the two are timed interleaved (JAX, torch, JAX, torch, ...) so a
change in machine load hits both alike: `baseline_seconds` (median) and `speedup` = baseline / JAX seconds.

FLOPs (`flops_per_evaluation`, one evaluation = one guided step of one hypothesis): XLA's cost analysis of the
compiled sampler itself (`jax.jit(f).lower(...).compile().cost_analysis()`), so everything the step runs is
counted (network forward, its input gradient for DPS, energy, clip, update) and work shared by a batch (the
time embedding path: one time per step for every hypothesis under `vmap`) is counted once per batch, as it
runs. XLA counts a loop body once, not once per trip, on the versions seen so far: the sampler is compiled
at 2 and 4 steps; equal counts mean one body (= one step of the batch), counts growing with the steps mean
XLA multiplied by the trip count (then the difference per step is used). It is counted on one frame with
`min(hypotheses, rows per group)` hypotheses (one `lax.map` iteration of `chunking.chunked_vmap`).

Peak (`peak_flops_per_second`): the best of dense float32 matmul probes of several shapes (the network's
`[B, 512] @ [512, 512]` and square ones), a JAX FMA probe (a fused chain of multiply-adds) and, on a CPU
backend, a multiply-add loop in C compiled for this CPU (`cc -O3 -march=native`) run on every core at once
(`fma_native`: the machine's arithmetic peak, which the XLA-generated probes fall well short of; skipped with a
note where no C compiler is installed), each best of `--probe-repeats`. `peak_fraction` = achieved FLOP/s / that
peak; the shape-2048 square
matmul is also kept (`matmul_2048_flops_per_second`), the number older tables used. On GPUs float32 matmuls
run at JAX's default precision (TF32 on recent NVIDIA parts), for the probes and the sampler alike.

Number format (`--matmul-dtype float32 bfloat16`): the sampler's `matmul_dtype` (posediff_jax/model/precision.py:
the network's products with bfloat16 operands and float32 sums). With several formats every configuration runs in
each, one after the other; the probes then include bfloat16 matmuls (float32 sums), the peak of each format is its
own best probe (`peak_by_dtype`; the float32 peak ignores the bfloat16 probes) and a row's `peak_fraction` is of
its format's peak. The torch baseline runs in the row's format (its bfloat16 port rounds the same operands), and in
bfloat16 the samples of the two are reported but not checked (each rounds differently and guided trajectories
amplify it; accuracy in bfloat16 is measured on real frames, docs/results_h36m.md).

XLA flags: by default the tool applies the XLA:CPU flags that `posediff`'s sampling commands add for the
installed jaxlib (`posediff_jax.cli.apply_xla_cpu_defaults`, including one single-threaded CPU device per core),
so the rows are what CLI users get; `--xla-defaults none` measures XLA's own defaults, and
`POSEDIFF_JAX_CPU_DEVICES=1` the one-device layout. The flags in effect are recorded (`machine.xla_flags`). With
several CPU devices the probes run on all of them at once, and once more in a fresh one-device process; the peak
is the best of both, so the fraction of peak cannot be flattered by the layout.

The JSON (`--output`) records the machine (CPU model from lscpu, GPU from nvidia-smi, cores), versions,
date, command, the load average before and after (other processes share the CPU: read the numbers with it),
the probes and one row per configuration with: frames, hypotheses, steps, guidance, seconds, hyps_per_s,
gflops, peak_fraction, compile_s, baseline_seconds, speedup (and details: matmul_dtype, peak_flops_per_second,
...).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.sampling.config import MATMUL_DTYPES

DEFAULT_GRID = ("1x200", "1x512", "8x512")
DEFAULT_STEPS = (25, 50)
DEFAULT_GUIDANCE = ("dps", "x0")
LARGE_CASE = "1x10000"
MATMUL_PROBES = ((256, 512, 512), (2048, 512, 512), (8192, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048))
GPU_MATMUL_PROBES = MATMUL_PROBES + ((4096, 4096, 4096), (8192, 8192, 8192))
# Same-samples check: per hypothesis, the largest joint difference (mm) between the torch and JAX samples. Most
# hypotheses agree to ~0.001 mm (float32 rounding); a few percent bifurcate (a bilinear cell border or the
# gradient clip switches on a rounding difference and the trajectory goes elsewhere: 1x200, 50 DPS steps on
# CPU, 98.5 % within 1 mm, the rest up to 36 mm). So the check is on the median and the fraction within 1 mm.
SAME_SAMPLES_TOLERANCE_MM = 1.0
SAME_SAMPLES_MIN_FRACTION = 0.9
TORCH_DEVICE = "cpu"  # --torch-device
ORIGINAL_ENVIRONMENT = dict(os.environ)  # before `main` adds the CLI's XLA flags


# ------------------------------------------------------------------------------------------------ machine
def _command_output(command: Sequence[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "sve", "asimd")  # what a CPU's peak depends on


def cpu_model(lscpu_text=None) -> str:
    """The CPU's model name with its family / model / stepping and SIMD flags, from lscpu (else /proc/cpuinfo's
    model name, else platform.processor()). A hypervisor often reports only 'AMD EPYC': the family and flags
    tell a Zen 4 (family 25, AVX-512 on 256-bit pipes) from a Zen 5 (family 26, full-width AVX-512) apart."""
    text = (_command_output(["lscpu"]) or "") if lscpu_text is None else lscpu_text
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("Model name")
    if not name:
        try:
            with open("/proc/cpuinfo") as file:
                name = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), None)
        except OSError:
            name = None
        return name or platform.processor() or platform.machine()
    identity = ", ".join(f"{label} {fields[key]}" for key, label in
                         (("CPU family", "family"), ("Model", "model"), ("Stepping", "stepping")) if fields.get(key))
    flags = [flag for flag in SIMD_FLAGS if flag in fields.get("Flags", "").split()]
    details = "; ".join(part for part in (identity, " ".join(flags)) if part)
    return f"{name} ({details})" if details else name


def gpu_description() -> list[str]:
    """One line per NVIDIA GPU from nvidia-smi (name, memory, driver), empty when there is none."""
    text = _command_output(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    return [line.strip() for line in text.splitlines() if line.strip()] if text else []


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (`uptime`), None where the OS does not say."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def versions(with_torch: bool = False) -> dict:
    import flax
    import jaxlib

    found = {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
             "flax": flax.__version__, "numpy": np.__version__}
    if with_torch:
        import torch

        found["torch"] = torch.__version__
        found["torch_threads"] = torch.get_num_threads()
    return found


def machine_info(with_torch: bool = False) -> dict:
    """What the numbers were measured on: CPU model, cores, GPUs, JAX backend/devices, versions, load."""
    devices = jax.devices()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpu_description(),
        "backend": jax.default_backend(),
        "devices": [getattr(device, "device_kind", device.platform) for device in devices],
        "platform": platform.platform(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "versions": versions(with_torch),
        "load_average": load_average(),
    }


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


# ------------------------------------------------------------------------------------------------ peak probes
def _best_time(function: Callable, *arguments, repeats: int) -> float:
    jax.block_until_ready(function(*arguments))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*arguments))
        times.append(time.perf_counter() - start)
    return min(times)


def _on_every_device(array):
    """`array` `[D, ...]` split over the samplers' 'data' mesh of the D devices (D = 1: left where it is)."""
    from posediff_jax.sampling.samplers import sampling_mesh

    mesh = sampling_mesh()
    if mesh is None:
        return array
    return jax.device_put(array, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data")))


def measure_matmul_flops(size: int = 2048, repeats: int = 5, dtype=jnp.float32, shape=None) -> dict:
    """Dense-matmul throughput: best of `repeats` timings of `jnp.dot` `[M, K] @ [K, N]` (default `[N, N]^2`).

    With several devices (the CLI's one CPU device per core) every device multiplies its own pair at the same
    time and the FLOPs of all of them count: the machine's throughput in the layout the sampler runs in.
    Returns: {'shape': [M, K, N], 'devices': D, 'seconds': best time, 'flops': 2 M K N D, 'flops_per_second': ...}.
    """
    m, k, n = shape or (size, size, size)
    count = jax.device_count()
    keys = jax.random.split(jax.random.PRNGKey(0))
    # bfloat16 operands sum in float32, as the sampler's `matmul_dtype='bfloat16'` products do.
    accumulate = jnp.float32 if jnp.dtype(dtype) == jnp.bfloat16 else None
    if count == 1:
        left = jax.random.normal(keys[0], (m, k), dtype)
        right = jax.random.normal(keys[1], (k, n), dtype)
        best = _best_time(jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=accumulate)), left, right,
                          repeats=repeats)
    else:
        left = _on_every_device(jax.random.normal(keys[0], (count, m, k), dtype))
        right = _on_every_device(jax.random.normal(keys[1], (count, k, n), dtype))
        best = _best_time(jax.jit(lambda a, b: jnp.einsum("dmk,dkn->dmn", a, b, preferred_element_type=accumulate)),
                          left, right, repeats=repeats)
    flops = 2.0 * m * k * n * count
    return {"probe": "matmul", "shape": [m, k, n], "size": m if m == k == n else None, "devices": count,
            "seconds": best, "flops": flops, "flops_per_second": flops / best, "dtype": jnp.dtype(dtype).name}


def measure_fma_flops(elements: int = 1 << 16, chain: int = 256, repeats: int = 5) -> dict:
    """Element-wise multiply-add throughput: `chain` dependent `x = x * a_i + b_i` on `[rows, 128]` floats, fused
    by XLA into one loop whose data stays in registers (2 FLOPs per multiply-add, `elements * chain * 2`); with
    several devices each runs its own `[rows, 128]` at the same time."""
    rows = max(1, elements // 128)
    count = jax.device_count()
    x = jnp.linspace(0.0, 1.0, rows * 128, dtype=jnp.float32).reshape(rows, 128)
    if count > 1:
        x = _on_every_device(jnp.tile(x, (count, 1)))
    multipliers = [np.float32(1.0 - 1e-4 * (i % 7 + 1)) for i in range(chain)]
    addends = [np.float32(1e-4 * (i % 5 + 1)) for i in range(chain)]

    def chain_fn(values):
        # 8 independent chains per element hide the multiply-add latency.
        lanes = [values + np.float32(lane) for lane in range(8)]
        for multiplier, addend in zip(multipliers, addends):
            lanes = [lane * multiplier + addend for lane in lanes]
        return sum(lanes)

    best = _best_time(jax.jit(chain_fn), x, repeats=repeats)
    flops = 2.0 * 8 * chain * rows * 128 * count
    return {"probe": "fma", "shape": [rows, 128], "chain": chain, "devices": count, "seconds": best, "flops": flops,
            "flops_per_second": flops / best}


# A multiply-add loop in C, compiled for this CPU: the machine's arithmetic peak, which XLA-generated probes do not
# reach (the JAX FMA probe above is element-wise code XLA neither contracts into FMA instructions nor keeps in
# registers: ~40 GFLOP/s on a 2-core host whose cores each run ~100 GFLOP/s of vfmadd). `WIDTH` floats per
# vector (GCC/Clang vector extensions: the compiler maps them onto AVX2, AVX-512 or NEON registers) and
# `ACCUMULATORS` independent chains hide the FMA latency; two builds (8 x 32-byte vectors for 16-register ISAs,
# 8 x 64-byte for AVX-512) and the better one counts.
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
  double seconds = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  printf("%.9f %.6g\n", seconds, (double)sum);
  return 0;
}
"""
NATIVE_FMA_BUILDS = ((8, 8), (16, 8))  # (WIDTH floats, ACCUMULATORS)


def _c_compiler() -> str | None:
    import shutil

    return next((name for name in (os.environ.get("CC"), "cc", "gcc", "clang") if name and shutil.which(name)), None)


def _compile_native_fma(compiler: str, source: str, width: int, accumulators: int) -> str | None:
    """The binary of one `NATIVE_FMA_BUILDS` entry beside `source`, or None when it does not compile."""
    binary = os.path.join(os.path.dirname(source), f"fma_{width}x{accumulators}")
    command = [compiler, "-O3", "-march=native", "-ffp-contract=fast", f"-DWIDTH={width}",
               f"-DACCUMULATORS={accumulators}", source, "-o", binary]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return binary


def measure_native_fma_flops(repeats: int = 5, iterations: int = 100_000_000, processes: int | None = None,
                             log=print) -> dict | None:
    """The CPU's multiply-add peak: the C loop above, one process per usable core at once (the machine's throughput
    with every core busy), best of `repeats` rounds, for each build; None without a C compiler.

    Returns: {'probe': 'fma_native', 'shape': [WIDTH, ACCUMULATORS], 'devices': processes, 'seconds': slowest
    process of the best round, 'flops': 2 * WIDTH * ACCUMULATORS * iterations * processes, 'flops_per_second'}."""
    import tempfile

    from posediff_jax.cli import usable_cpu_count

    processes = processes or usable_cpu_count()
    compiler, best = _c_compiler(), None
    with tempfile.TemporaryDirectory() as directory:
        source = os.path.join(directory, "fma.c")
        with open(source, "w") as handle:
            handle.write(NATIVE_FMA_SOURCE)
        for width, accumulators in NATIVE_FMA_BUILDS:
            binary = _compile_native_fma(compiler, source, width, accumulators) if compiler else None
            if binary is None:
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
        log("  probe fma_native: no C compiler (cc / gcc / clang) or it failed; peak from the JAX probes only")
    return best


def measure_peak_flops(repeats: int = 5, matmul_shapes=None, fma: bool = True, native: bool = True,
                       log=print, matmul_dtypes=("float32",)) -> dict:
    """Best FLOP/s over the matmul probes, the JAX FMA probe and (CPU backend, `native`) the compiled FMA loop
    (module docstring); with 'bfloat16' in `matmul_dtypes` also the matmul probes in bfloat16 (their own peak)."""
    if matmul_shapes is None:
        matmul_shapes = GPU_MATMUL_PROBES if jax.default_backend() == "gpu" else MATMUL_PROBES
    probes = [measure_matmul_flops(shape=shape, repeats=repeats) for shape in matmul_shapes]
    if "bfloat16" in matmul_dtypes:
        probes += [measure_matmul_flops(shape=shape, repeats=repeats, dtype=jnp.bfloat16) for shape in matmul_shapes]
    if fma:
        probes.append(measure_fma_flops(repeats=repeats))
    if native and jax.default_backend() == "cpu":
        probe = measure_native_fma_flops(repeats=repeats, log=log)
        if probe is not None:
            probes.append(probe)
    for probe in probes:
        log(f"  probe {probe['probe']} {probe['shape']}{_dtype_label(probe)}: "
            f"{probe['flops_per_second'] / 1e9:.1f} GFLOP/s")
    return _peak_of(probes)


def _dtype_label(probe: dict) -> str:
    return "" if probe.get("dtype", "float32") == "float32" else f" {probe['dtype']}"


def _peak_of(probes: list) -> dict:
    """The float32 peak (every float32 probe: matmuls and FMA loops) and, per number format probed, the best probe
    of that format (`peak_by_dtype`: a bfloat16 row's fraction of peak is of the bfloat16 matmul probes)."""
    by_dtype = {}
    for probe in probes:
        name = probe.get("dtype", "float32")
        if name not in by_dtype or probe["flops_per_second"] > by_dtype[name]["flops_per_second"]:
            by_dtype[name] = probe
    best = by_dtype["float32"]
    square = [p for p in probes if p["probe"] == "matmul" and p["shape"] == [2048, 2048, 2048]
              and p.get("dtype", "float32") == "float32"]
    return {"peak_flops_per_second": best["flops_per_second"], "peak_probe": best, "probes": probes,
            "peak_by_dtype": {name: probe["flops_per_second"] for name, probe in by_dtype.items()},
            "matmul_2048_flops_per_second": square[0]["flops_per_second"] if square else None}


def measure_one_device_peak_in_subprocess(repeats: int, tiny: bool, environ: dict, log=print,
                                          matmul_dtypes=("float32",)) -> list:
    """The probes again in a fresh process with one CPU device using every core (XLA's own layout,
    `POSEDIFF_JAX_CPU_DEVICES=1`), so the peak is the machine's best, not only the best of the layout the sampler
    runs in. `environ`: the environment before this tool added the CLI's flags. [] when the run fails."""
    command = [sys.executable, os.path.abspath(__file__), "--probes-only", "--probe-repeats", str(repeats),
               "--matmul-dtype", *matmul_dtypes]
    if tiny:
        command.append("--tiny")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                env={**environ, "POSEDIFF_JAX_CPU_DEVICES": "1"})
        probes = json.loads(result.stdout.strip().splitlines()[-1])["probes"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError) as error:
        log(f"  one-device probes failed ({error}); peak from this process's probes only")
        return []
    for probe in probes:
        log(f"  probe {probe['probe']} {probe['shape']}{_dtype_label(probe)} (1 device): "
            f"{probe['flops_per_second'] / 1e9:.1f} GFLOP/s")
    return probes


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


def jaxpr_matmul_flops(jaxpr) -> float:
    """FLOPs of every `dot_general` in a (closed) jaxpr, sub-jaxprs included: 2 x output size x contracted size."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0.0
    for equation in jaxpr.eqns:
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
    """Matmul FLOPs per pose of one network forward as the sampler runs it: `rows` poses at one shared time, so
    the time-embedding path (the same for every hypothesis of a step under `vmap`) is spread over the rows
    instead of counted per pose. Counted from the jaxpr, so it holds where XLA's cost analysis does not."""
    poses = jnp.zeros((rows, 17, 3), jnp.float32)
    jaxpr = jax.make_jaxpr(jax.vmap(lambda pose: prior.denoise(pose, jnp.float32(0.5))))(poses)
    return jaxpr_matmul_flops(jaxpr) / rows


def sampler_flops_per_evaluation(prior, guidance: str, hypotheses: int, chunk_size: int, energy_fn=None,
                                 evidence=None, rows: int = 256) -> tuple[float | None, str]:
    """(FLOPs of one guided step of one hypothesis, how counted) from the compiled sampler (module docstring).

    Counted on one frame of `min(hypotheses, rows)` hypotheses (per-hypothesis work does not depend on the
    batch; the shared time path adds ~10 kFLOP per hypothesis at 256 rows). None when XLA gives no count or an
    incomplete one (below the network's forward matmuls, `network_forward_flops`: XLA's GPU cost analysis misses
    GEMMs it fuses into Triton kernels at large batches).
    """
    from posediff_jax.guidance import make_heatmap_energy
    from posediff_jax.sampling import make_sampler

    rows = min(hypotheses, rows)
    energy_fn = energy_fn or make_heatmap_energy()
    evidence = synthetic_evidence(1) if evidence is None else evidence
    counts = {}
    for steps in (2, 4):
        # One device: XLA's cost analysis of a program split over devices counts one device's share.
        sampler = make_sampler(prior, energy_fn, num_steps=steps, guidance=guidance, chunk_size=chunk_size,
                               guidance_repeats=1, devices=jax.devices()[:1])  # one guided update per step
        counts[steps] = compiled_flops(lambda key, evidence: sampler.sample_batch(key, evidence, rows),
                                       jax.random.PRNGKey(0), evidence)
    if counts[2] is None or counts[4] is None:
        return None, "no XLA count"
    if counts[4] > 1.5 * counts[2]:  # trip counts multiplied: the per-step difference
        flops, how = (counts[4] - counts[2]) / 2 / rows, f"xla cost_analysis, (F(4 steps) - F(2 steps)) / 2 / {rows} rows"
    else:
        flops, how = counts[4] / rows, f"xla cost_analysis of the compiled sampler (loop body once) / {rows} rows"
    if flops < 0.9 * network_forward_flops(prior, rows):
        return None, f"incomplete XLA count ({flops / 1e6:.2f} MFLOP)"
    return flops, how


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


def load_prior(spec: str):
    """'default' (shipped), 'tiny' / 'gaussian' (tests), or a prior folder (`posediff_jax.prior.resolve_prior`)."""
    from posediff_jax.prior import resolve_prior

    return resolve_prior(spec)


class TorchBaseline:
    """The PyTorch eager sampler of tools/torch_baseline.py for one configuration (same noise, same weights)."""

    def __init__(self, prior, config, frames: int, hypotheses: int, evidence, key, chunk=None, device="cpu"):
        module = _torch_baseline_module()
        self.module = module
        self.sampler = module.TorchGuidedSampler.from_config(prior, config, device=device)
        self.noise = module.initial_noise(key, frames, hypotheses)
        self.evidence = evidence
        self.chunk = chunk

    def run(self):
        return self.module.timed_sample(self.sampler, self.noise, self.evidence, self.chunk)


def _torch_baseline_module():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent / "torch_baseline.py"
    spec = importlib.util.spec_from_file_location("posediff_torch_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CompiledCase(NamedTuple):
    """One benchmarked configuration, compiled: `compiled(key, evidence)` -> `[frames, m, 17, 3]` poses."""

    sampler: object
    energy_fn: Callable
    evidence: object
    key: object
    compiled: Callable
    compile_seconds: float


def compile_case(prior, frames: int, hypotheses: int, steps: int, guidance: str, chunk_size: int,
                 matmul_dtype: str = "float32") -> CompiledCase:
    """The sampler every row measures (module docstring: heatmap energy, synthetic evidence, one guided update per
    step), jitted as one program, lowered and compiled (`compile_seconds`)."""
    from posediff_jax.guidance import make_heatmap_energy
    from posediff_jax.sampling import make_sampler

    energy_fn = make_heatmap_energy()
    sampler = make_sampler(prior, energy_fn, num_steps=steps, guidance=guidance, chunk_size=chunk_size,
                           guidance_repeats=1,  # one guided update per step: the unit the table counts
                           matmul_dtype=matmul_dtype)
    evidence = synthetic_evidence(frames)
    key = jax.random.PRNGKey(0)
    function = jax.jit(lambda key, evidence: sampler.sample_batch(key, evidence, hypotheses))
    start = time.perf_counter()
    compiled = function.lower(key, evidence).compile()
    return CompiledCase(sampler, energy_fn, evidence, key, compiled, time.perf_counter() - start)


def bench_case(prior, frames: int, hypotheses: int, steps: int, guidance: str, chunk_size: int,
               peak_flops_per_second: float, repeats: int = 3, baseline: str = "none", torch_chunk=None,
               log=print, matmul_dtype: str = "float32") -> dict:
    """Compiles and times one configuration (and its baseline, interleaved); returns one result row.
    `peak_flops_per_second`: the peak of `matmul_dtype`'s number format (`_peak_of`)."""
    from posediff_jax.sampling import chunking

    sampler, energy_fn, evidence, key, compiled, compile_seconds = compile_case(prior, frames, hypotheses, steps,
                                                                                 guidance, chunk_size, matmul_dtype)
    poses = np.asarray(compiled(key, evidence))  # warm-up; also the reference for the baseline check
    if not np.all(np.isfinite(poses)):
        raise RuntimeError(f"non-finite poses in configuration {frames}x{hypotheses}, {steps} steps, {guidance}")
    torch_run = None
    max_abs_diff = median_abs_diff = fraction_same = None
    if baseline == "torch":
        torch_run = TorchBaseline(prior, sampler.config, frames, hypotheses, evidence, key, torch_chunk,
                                  TORCH_DEVICE).run
        torch_poses, _ = torch_run()  # warm-up and the same-samples check
        reference = poses
        if jax.default_backend() != "cpu":  # GPUs run float32 matmuls as TF32 by default; torch does not
            with jax.default_matmul_precision("highest"):
                reference = np.asarray(jax.jit(lambda key, evidence: sampler.sample_batch(key, evidence, hypotheses))(
                    key, evidence))
        per_hypothesis = np.abs(torch_poses - reference).max(axis=(-2, -1))  # [frames, m]
        max_abs_diff = float(per_hypothesis.max())
        median_abs_diff = float(np.median(per_hypothesis))
        fraction_same = float(np.mean(per_hypothesis <= SAME_SAMPLES_TOLERANCE_MM))
        # In bfloat16 the two round differently (tools/torch_baseline.py) and guided trajectories amplify it, so
        # the differences are reported but not checked: what bfloat16 does to accuracy is measured on real data.
        if matmul_dtype == "float32" and not (median_abs_diff <= 0.1 * SAME_SAMPLES_TOLERANCE_MM
                                              and fraction_same >= SAME_SAMPLES_MIN_FRACTION):
            log(f"  WARNING: torch and JAX samples differ: median {median_abs_diff:.3g} mm, "
                f"{100 * fraction_same:.1f}% within {SAME_SAMPLES_TOLERANCE_MM} mm")
    times, baseline_times = [], []
    for _ in range(repeats):  # interleaved: JAX, baseline, JAX, baseline, ...
        start = time.perf_counter()
        compiled(key, evidence).block_until_ready()
        times.append(time.perf_counter() - start)
        if torch_run is not None:
            baseline_times.append(torch_run()[1])
    seconds = statistics.median(times)
    flops_per_evaluation, flop_source = sampler_flops_per_evaluation(
        prior, guidance, hypotheses, chunk_size, energy_fn, synthetic_evidence(1))
    if flops_per_evaluation is None:
        factor = 2.0 if guidance == "dps" else 1.0
        flops_per_evaluation, flop_source = (factor * network_forward_flops(prior),
                                             f"network matmuls from the jaxpr ({flop_source})")
    evaluations = frames * hypotheses * steps
    achieved = flops_per_evaluation * evaluations / seconds
    memory, memory_source = peak_memory_bytes()
    plan = chunking.plan_chunks(hypotheses, chunk_size)
    baseline_seconds = statistics.median(baseline_times) if baseline_times else None
    return {
        "frames": frames,
        "hypotheses": hypotheses,
        "steps": steps,
        "guidance": guidance,
        "matmul_dtype": matmul_dtype,
        "seconds": seconds,
        "hyps_per_s": frames * hypotheses / seconds,
        "gflops": achieved / 1e9,
        "peak_fraction": achieved / peak_flops_per_second,
        "peak_flops_per_second": peak_flops_per_second,
        "compile_s": compile_seconds,
        "baseline_seconds": baseline_seconds,
        "speedup": baseline_seconds / seconds if baseline_seconds else None,
        "seconds_all": times,
        "baseline_seconds_all": baseline_times or None,
        "baseline": None if baseline == "none" else baseline,
        "max_abs_diff_mm": max_abs_diff,
        "median_abs_diff_mm": median_abs_diff,
        "fraction_within_1mm": fraction_same,
        "network_evaluations_per_second": evaluations / seconds,
        "flops_per_evaluation": flops_per_evaluation,
        "flop_count_source": flop_source,
        "chunk_plan": {"chunk_size": plan.chunk_size, "group_size": plan.group_size, "num_groups": plan.num_groups},
        "peak_memory_bytes": memory,
        "peak_memory_source": memory_source,
        "load_average": load_average(),
    }


def format_table(rows: Sequence[dict]) -> str:
    with_baseline = any(row.get("baseline_seconds") for row in rows)
    with_dtype = any(row.get("matmul_dtype", "float32") != "float32" for row in rows)
    header = ["frames x hyps", "steps", "guidance"] + (["matmuls"] if with_dtype else []) + [
        "compile s", "JAX s", "hyps/s", "MFLOP/eval", "GFLOP/s", "% peak"]
    if with_baseline:
        header += ["torch s", "JAX speed-up", "median diff mm", "same (<1 mm)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [
            f"{row['frames']} x {row['hypotheses']}",
            str(row["steps"]),
            row["guidance"],
            *([row.get("matmul_dtype", "float32")] if with_dtype else []),
            f"{row['compile_s']:.1f}",
            f"{row['seconds']:.2f}",
            f"{row['hyps_per_s']:,.0f}",
            f"{row['flops_per_evaluation'] / 1e6:.2f}",
            f"{row['gflops']:.1f}",
            f"{100 * row['peak_fraction']:.1f}",
        ]
        if with_baseline:
            if row.get("baseline_seconds"):
                cells += [f"{row['baseline_seconds']:.2f}", f"{row['speedup']:.2f}x",
                          f"{row['median_abs_diff_mm']:.1e}", f"{100 * row['fraction_within_1mm']:.1f}%"]
            else:
                cells += ["-", "-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_benchmark(prior, cases: Sequence[tuple[int, int]], steps: Sequence[int], guidance: Sequence[str],
                  chunk_size: int = 256, repeats: int = 3, large_case: str | None = None, large_steps: int = 25,
                  baseline: str = "none", probe_repeats: int = 5, matmul_shapes=None, torch_chunk=None,
                  log=print, matmul_dtypes=("float32",)) -> dict:
    """Measures the peak, runs the grid (smallest first) and the optional large case, each configuration once per
    number format in `matmul_dtypes` (one after the other); returns the JSON payload."""
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine_info(with_torch=baseline == "torch")
    log(f"{info['cpu_model']} ({info['cpu_count']} cores), {info['backend']}, load {info['load_average']}")
    peak = measure_peak_flops(probe_repeats, matmul_shapes, log=log, matmul_dtypes=matmul_dtypes)
    if jax.default_backend() == "cpu" and jax.device_count() > 1:
        peak = _peak_of(peak["probes"] + measure_one_device_peak_in_subprocess(
            probe_repeats, matmul_shapes is not None, ORIGINAL_ENVIRONMENT, log, matmul_dtypes))
    log(f"peak {peak['peak_flops_per_second'] / 1e9:.1f} GFLOP/s ({peak['peak_probe']['probe']} "
        f"{peak['peak_probe']['shape']})" + "".join(
            f"; {name} {value / 1e9:.1f} GFLOP/s" for name, value in peak["peak_by_dtype"].items()
            if name != "float32"))
    configurations = [(frames, hypotheses, num_steps, variant)
                      for frames, hypotheses in sorted(cases, key=lambda case: case[0] * case[1])
                      for num_steps in steps for variant in guidance]
    if large_case:
        frames, hypotheses = parse_case(large_case)
        configurations.append((frames, hypotheses, large_steps, guidance[0]))
    rows = []
    for (frames, hypotheses, num_steps, variant), matmul_dtype in ((case, name) for case in configurations
                                                                   for name in matmul_dtypes):
        row = bench_case(prior, frames, hypotheses, num_steps, variant, chunk_size,
                         peak["peak_by_dtype"][matmul_dtype], repeats, baseline, torch_chunk, log, matmul_dtype)
        label = "" if matmul_dtype == "float32" else f" {matmul_dtype}"
        message = (f"  {frames}x{hypotheses} steps={num_steps} {variant}{label}: {row['seconds']:.2f} s, "
                   f"{row['hyps_per_s']:,.0f} hyps/s, {100 * row['peak_fraction']:.1f}% of peak, "
                   f"compile {row['compile_s']:.1f} s")
        if row["baseline_seconds"]:
            message += (f"; torch {row['baseline_seconds']:.2f} s ({row['speedup']:.2f}x), median diff "
                        f"{row['median_abs_diff_mm']:.1e} mm, {100 * row['fraction_within_1mm']:.1f}% within 1 mm")
        log(message)
        rows.append(row)
    finished = datetime.datetime.now(datetime.timezone.utc)
    return {
        "date": started.isoformat(timespec="seconds"),
        "wall_seconds": (finished - started).total_seconds(),
        "machine": info,
        "load_average_end": load_average(),
        "peak": peak,
        "chunk_size": chunk_size,
        "rows": rows,
    }


def print_table_and_write_json(table: str, results: dict, output: str | None) -> None:
    """Prints a benchmark's table and, with an `output` path, writes its results there as JSON."""
    print(table)
    if output:
        with open(output, "w") as file:
            json.dump(results, file, indent=2)
        print(f"\nwrote {output}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="default", help="'default' (shipped), 'tiny', 'gaussian' or a prior folder")
    parser.add_argument("--grid", nargs="+", default=list(DEFAULT_GRID), help="FRAMESxHYPOTHESES entries")
    parser.add_argument("--steps", nargs="+", type=int, default=list(DEFAULT_STEPS))
    parser.add_argument("--guidance", nargs="+", default=list(DEFAULT_GUIDANCE), choices=["dps", "x0"])
    parser.add_argument("--chunk-size", type=int, default=256, help="hypotheses per vmapped chunk")
    parser.add_argument("--matmul-dtype", nargs="+", default=["float32"], choices=MATMUL_DTYPES,
                        help="the sampler's matmul_dtype (model/precision.py); several: each configuration in "
                             "each, one after the other, bfloat16 rows against the bfloat16 matmul probes' peak "
                             "and a torch baseline with bfloat16 operands")
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
                        help="'cli': the XLA:CPU flags `posediff` adds for this jaxlib (cli.apply_xla_cpu_defaults), "
                             "so rows show what CLI users get; 'none': XLA's own defaults")
    parser.add_argument("--output", default=None, help="write the JSON results here")
    parser.add_argument("--probes-only", action="store_true", help=argparse.SUPPRESS)  # one JSON line of probes
    args = parser.parse_args(argv)
    if args.xla_defaults == "cli":  # before the first computation creates the backend
        from posediff_jax.cli import apply_xla_cpu_defaults

        apply_xla_cpu_defaults(one_device_per_core=True)  # as `posediff estimate` / `evaluate` run
    matmul_shapes = None
    if args.tiny:
        args.prior, args.grid, args.steps, args.guidance = "tiny", ["1x8"], [2], ["dps"]
        args.large_case, args.repeats, args.probe_repeats = "none", 1, 1
        matmul_shapes = ((128, 128, 128),)
    if args.probes_only:
        print(json.dumps(measure_peak_flops(args.probe_repeats, matmul_shapes, native=False, log=lambda *_: None,
                                            matmul_dtypes=args.matmul_dtype)))
        return 0
    if args.baseline == "torch" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    global TORCH_DEVICE
    TORCH_DEVICE = args.torch_device
    if args.target_rows:
        from posediff_jax.sampling import chunking

        chunking.TARGET_ROWS = int(args.target_rows)
    cases = [parse_case(entry) for entry in args.grid]
    large_case = None if str(args.large_case).lower() == "none" else args.large_case
    prior = load_prior(args.prior)
    results = run_benchmark(prior, cases, args.steps, args.guidance, args.chunk_size, args.repeats, large_case,
                            args.large_steps, args.baseline, args.probe_repeats, matmul_shapes, args.torch_chunk,
                            matmul_dtypes=tuple(dict.fromkeys(args.matmul_dtype)))
    results["prior"] = args.prior
    results["command"] = "python tools/bench_sampler.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    machine = results["machine"]
    print(f"\n{results['date']}: {machine['cpu_model']} ({machine['cpu_count']} cores)"
          f"{'; ' + '; '.join(machine['gpus']) if machine['gpus'] else ''}; backend {machine['backend']} "
          f"x {len(machine['devices'])} device(s); "
          f"peak {results['peak']['peak_flops_per_second'] / 1e9:.1f} GFLOP/s; load {machine['load_average']} -> "
          f"{results['load_average_end']}; XLA_FLAGS {machine['xla_flags'] or '(none)'}\n")
    print_table_and_write_json(format_table(results["rows"]), results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
