"""Process start to first result of `posediff estimate`, with and without the stored samplers.

    python tools/bench_first_result.py [--rounds 3] [--guidance-repeats 3 1] [--hypotheses 200] [--steps 50] \
        [--output first_result.json] [--baseline-source OTHER_CHECKOUT]

Writes one shipped S9 example frame (real Stacked-Hourglass detections) as a keypoint `.npz`, then times
`posediff estimate --input frame.npz ... --quiet --no-plot` in fresh processes from start to exit, with
`POSEDIFF_JAX_EXPORT_CACHE=0` (the sampler traced in every process) and `=1` (the stored sampler), interleaved in
every round. Both use one private cache folder (`--cache-dir`, else a temporary one) warmed by one untimed run per
setting, so every timed run finds its compiled program. `--baseline-source` adds a third setting, interleaved
with the two: another revision's package (e.g. from `git worktree add /tmp/base REVISION`), run with its own
defaults in its own cache folder, so that a start-up change is measured against what it replaces on the same
machine at the same time. Times depend on the machine's load: compare only the columns of one run.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# tools/ is on the path when this runs as a script (and in tests, via load_tool)
from bench_common import command_line, load_average, machine_info, tool_parser, utc_now, write_json

TIMED_COMMAND = ("posediff estimate --input frame.npz --num-hypotheses H --steps S --guidance-repeats K --quiet "
                 "--no-plot")


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


def timed_run(command, cache_dir, export: bool, source=None, cwd=None) -> float:
    """Seconds from process start to exit; raises with the command's stderr when it fails. `source`: a folder
    holding another checkout's `posediff_jax`, run instead of the installed one (first on PYTHONPATH); `cwd` must
    not hold a `posediff_jax` package of its own (`python -m` puts the working folder before PYTHONPATH)."""
    environment = dict(os.environ, POSEDIFF_JAX_CACHE_DIR=str(cache_dir), POSEDIFF_JAX_EXPORT_CACHE=str(int(export)))
    if source is not None:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return seconds


def run_benchmark(repeats_per_level, rounds: int, hypotheses: int, steps: int, cache_dir, workdir, log=print,
                  baseline_source=None):
    """One row of timings per `--guidance-repeats` value: this package traced (export off) and stored (export on)
    and, with `baseline_source`, another checkout with its defaults in its own cache folder, all interleaved."""
    frame = write_example_frame(pathlib.Path(workdir) / "frame.npz")
    settings = {"traced": (cache_dir, False, None), "stored": (cache_dir, True, None)}
    if baseline_source is not None:
        settings["baseline"] = (pathlib.Path(cache_dir) / "baseline", True, baseline_source)
    rows = []
    for repeats in repeats_per_level:
        command = estimate_command(frame, pathlib.Path(workdir) / "out.npz", hypotheses, steps, repeats)
        for setting in settings.values():  # warm-up: compiled programs (and the stored sampler) in the cache
            timed_run(command, *setting, cwd=workdir)
        times = {name: [] for name in settings}
        for round_index in range(rounds):
            for name, setting in settings.items():
                times[name].append(timed_run(command, *setting, cwd=workdir))
                log(f"guidance_repeats={repeats} {name} round {round_index + 1}: {times[name][-1]:.2f} s "
                    f"(load {load_average()})")
        row = {"guidance_repeats": repeats, "hypotheses": hypotheses, "steps": steps}
        for name, values in times.items():
            row.update({f"{name}_seconds": values, f"{name}_median": statistics.median(values)})
        rows.append(row)
    return rows


def format_table(rows) -> str:
    with_baseline = any("baseline_seconds" in row for row in rows)
    lines = ["| updates per level | traced (export off): s | stored (export on): s | median off -> on |"
             + (" baseline checkout: s | median baseline -> stored |" if with_baseline else ""),
             "|---|---|---|---|" + ("---|---|" if with_baseline else "")]

    def seconds(values):
        return " / ".join(f"{value:.2f}" for value in values)

    for row in rows:
        line = (f"| {row['guidance_repeats']} | {seconds(row['traced_seconds'])} | {seconds(row['stored_seconds'])} | "
                f"{row['traced_median']:.2f} -> {row['stored_median']:.2f} s |")
        if with_baseline:
            line += (f" {seconds(row['baseline_seconds'])} | "
                     f"{row['baseline_median']:.2f} -> {row['stored_median']:.2f} s |")
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = tool_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--guidance-repeats", type=int, nargs="+", default=[3, 1])
    parser.add_argument("--hypotheses", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--cache-dir", default=None, help="cache folder to use (default: a new temporary one)")
    parser.add_argument("--output", default=None, help="write the rows and the machine record as JSON")
    parser.add_argument("--baseline-source", default=None,
                        help="a checkout of another revision (the folder holding its posediff_jax/), timed "
                             "interleaved with this one, e.g. from `git worktree add /tmp/base REVISION`")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.hypotheses < 1 or args.steps < 2 or min(args.guidance_repeats) < 1:
        parser.error("--rounds, --hypotheses and --guidance-repeats must be >= 1, --steps >= 2")
    baseline = pathlib.Path(args.baseline_source).resolve() if args.baseline_source else None
    if baseline is not None and not (baseline / "posediff_jax" / "__init__.py").is_file():
        parser.error(f"--baseline-source: {baseline} holds no posediff_jax package")
    date, load_before = utc_now(), load_average()
    with tempfile.TemporaryDirectory(prefix="posediff_first_result_") as workdir:
        cache_dir = pathlib.Path(args.cache_dir) if args.cache_dir else pathlib.Path(workdir) / "cache"
        rows = run_benchmark(args.guidance_repeats, args.rounds, args.hypotheses, args.steps, cache_dir, workdir,
                             baseline_source=baseline)
    print(format_table(rows))
    write_json({"date_utc": date, "command": command_line(__file__, argv), "timed_command": TIMED_COMMAND,
                "baseline_source": str(baseline) if baseline else None, "machine": machine_info(),
                "load_average_before": load_before, "load_average_after": load_average(), "rows": rows},
               args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
