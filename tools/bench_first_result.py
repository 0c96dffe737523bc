"""Process start to first result of `posediff estimate`, with and without the stored samplers.

    python tools/bench_first_result.py [--rounds 3] [--guidance-repeats 3 1] [--hypotheses 200] [--steps 50] \
        [--output first_result.json]

Writes one shipped S9 example frame (real Stacked-Hourglass detections, `posediff_jax/assets/examples`) as a
keypoint `.npz`, then times `posediff estimate --input frame.npz --num-hypotheses H --steps S --guidance-repeats K
--quiet --no-plot` in fresh processes, from start to exit (the output written), with
`POSEDIFF_JAX_EXPORT_CACHE=0` (the sampler traced in every process, as before stored samplers) and `=1`, the two
interleaved in every round. Both use one private cache folder (`POSEDIFF_JAX_CACHE_DIR`, a temporary folder unless
`--cache-dir`) warmed by one untimed run per setting, so every timed run finds its compiled program (and, with
export on, its stored sampler). Prints the table and, with `--output`, writes the rows, medians, command and the
machine record (lscpu / nvidia-smi, load, versions, date) as JSON. Times depend on the machine's load: compare
only the two columns of one run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench_sampler import load_average, machine_info  # tools/ is sys.path[0]


def write_example_frame(path, index: int = 0) -> pathlib.Path:
    """One shipped example frame's detections and intrinsics as a `posediff estimate` keypoint input."""
    from posediff_jax.commands.demo import load_examples

    examples = load_examples()
    np.savez(path, keypoints_2d=examples["keypoints_2d_detected"][index], intrinsics=examples["intrinsics"][index],
             confidence=examples["detection_mask"][index].astype(np.float32))
    return pathlib.Path(path)


def estimate_command(frame, output, hypotheses: int, steps: int, guidance_repeats: int) -> list[str]:
    return [sys.executable, "-m", "posediff_jax", "estimate", "--input", str(frame), "--num-hypotheses",
            str(hypotheses), "--steps", str(steps), "--guidance-repeats", str(guidance_repeats), "--quiet",
            "--no-plot", "--output", str(output)]


def timed_run(command, cache_dir, export: bool) -> float:
    """Seconds from process start to exit; raises with the command's stderr when it fails."""
    environment = dict(os.environ, POSEDIFF_JAX_CACHE_DIR=str(cache_dir), POSEDIFF_JAX_EXPORT_CACHE=str(int(export)))
    start = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return seconds


def run_benchmark(repeats_per_level, rounds: int, hypotheses: int, steps: int, cache_dir, workdir, log=print):
    frame = write_example_frame(pathlib.Path(workdir) / "frame.npz")
    rows = []
    for repeats in repeats_per_level:
        command = estimate_command(frame, pathlib.Path(workdir) / "out.npz", hypotheses, steps, repeats)
        for export in (False, True):  # warm-up: compiled programs (and the stored sampler) in the cache
            timed_run(command, cache_dir, export)
        times = {False: [], True: []}
        for round_index in range(rounds):
            for export in (False, True):
                times[export].append(timed_run(command, cache_dir, export))
                log(f"guidance_repeats={repeats} export={int(export)} round {round_index + 1}: "
                    f"{times[export][-1]:.2f} s (load {load_average()})")
        rows.append({"guidance_repeats": repeats, "hypotheses": hypotheses, "steps": steps,
                     "traced_seconds": times[False], "stored_seconds": times[True],
                     "traced_median": statistics.median(times[False]),
                     "stored_median": statistics.median(times[True])})
    return rows


def format_table(rows) -> str:
    lines = ["| updates per level | traced (export off): s | stored (export on): s | median off -> on |",
             "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['guidance_repeats']} | {' / '.join(f'{t:.2f}' for t in row['traced_seconds'])} | "
                     f"{' / '.join(f'{t:.2f}' for t in row['stored_seconds'])} | "
                     f"{row['traced_median']:.2f} -> {row['stored_median']:.2f} s |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--guidance-repeats", type=int, nargs="+", default=[3, 1])
    parser.add_argument("--hypotheses", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--cache-dir", default=None, help="cache folder to use (default: a new temporary one)")
    parser.add_argument("--output", default=None, help="write the rows and the machine record as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.hypotheses < 1 or args.steps < 2 or min(args.guidance_repeats) < 1:
        parser.error("--rounds, --hypotheses and --guidance-repeats must be >= 1, --steps >= 2")

    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="posediff_first_result_") as workdir:
        cache_dir = pathlib.Path(args.cache_dir) if args.cache_dir else pathlib.Path(workdir) / "cache"
        rows = run_benchmark(args.guidance_repeats, args.rounds, args.hypotheses, args.steps, cache_dir, workdir)
    table = format_table(rows)
    print(table)
    record = {
        "date_utc": started,
        "command": " ".join(["python", "tools/bench_first_result.py", *(argv if argv is not None else sys.argv[1:])]),
        "timed_command": "posediff estimate --input frame.npz --num-hypotheses H --steps S --guidance-repeats K "
                         "--quiet --no-plot",
        "machine": machine_info(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "rows": rows,
    }
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(record, indent=2))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
