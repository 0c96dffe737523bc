"""Where a guided-sampling step's CPU time goes: `perf` samples of the real sampler, grouped by kind of code.

    python tools/profile_sampler.py --case 8x512 --steps 25 --seconds 8 --output profile.json
    python tools/profile_sampler.py --tiny          # seconds; for tests (needs `perf`)

The configuration is `tools/bench_sampler.py`'s, with the XLA:CPU flags and device layout `posediff` uses. It is
compiled and run once; then Linux `perf record` samples every thread of this process for `--seconds` while the
sampler is called again and again, and `perf report`'s per-symbol shares are grouped (`CATEGORY_RULES`, the first
match wins) into matmul kernels, the matmul operand packing those libraries redo on every call, XLA-generated code
(perf's `[JIT]` entries: fusions, reductions, loop bodies) and the runtime and the rest. `perf` must be allowed to
attach to this process (`kernel.perf_event_paranoid` <= 2); otherwise the tool says so and exits with status 2.
The JSON (`--output`) has the machine, command, load, the calls timed while perf ran, the groups and top symbols.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# tools/ is on the path when this runs as a script (and in tests, via load_tool)
import bench_sampler
from bench_common import command_line, load_average, machine_info, summary_line, tool_parser, utc_now, write_json

CATEGORIES = ("matmul kernels", "matmul operand packing", "XLA-generated code", "runtime and other")
CATEGORY_RULES = (  # (category, test on (shared object, symbol))
    ("matmul operand packing", lambda dso, symbol: bool(re.search(r"(ynn|xnn)\S*(transpose|pack|interleave)|"
                                                                  r"gemm_pack|pack_(lhs|rhs)", symbol))),
    ("matmul kernels", lambda dso, symbol: bool(re.search(r"(ynn|xnn)\w*::\w*(dot|gemm)_|"
                                                          r"ynn::run_dot|gebp|dnnl|sgemm|xnn_f32_gemm", symbol))),
    ("XLA-generated code", lambda dso, symbol: dso.startswith("[JIT]")),
)
PERF_MISSING = "perf not found on PATH (Linux `perf`, e.g. the linux-tools package)"
REPORT_LINE = re.compile(r"^\s*(?P<percent>\d+(?:\.\d+)?)%\s+(?P<dso>\[JIT\] tid \d+|\S+)\s+\[(?P<kind>.)\]\s+"
                         r"(?P<symbol>.*?)\s*$")


def parse_perf_report(text: str) -> list[dict]:
    """`perf report --sort dso,sym --stdio` text -> `[{percent, dso, symbol}]` (comment and blank lines skipped)."""
    matches = (REPORT_LINE.match(line) for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [{"percent": float(match["percent"]), "dso": match["dso"], "symbol": match["symbol"]}
            for match in matches if match]


def category_of(dso: str, symbol: str) -> str:
    """The group of one perf symbol: the first rule of `CATEGORY_RULES` it matches, else the last category."""
    return next((name for name, rule in CATEGORY_RULES if rule(dso, symbol)), CATEGORIES[-1])


def group_samples(rows: list[dict]) -> dict:
    """`{category: percent of samples}` over `parse_perf_report` rows, every category present."""
    shares = dict.fromkeys(CATEGORIES, 0.0)
    for row in rows:
        shares[category_of(row["dso"], row["symbol"])] += row["percent"]
    return shares


def perf_command():
    """The `perf` executable, or None."""
    return shutil.which("perf")


def record_while_sampling(run, seconds: float, frequency: int, data_path: str, log=print) -> dict:
    """Calls `run()` back to back (at least once) while `perf record` samples this process for `seconds`; returns
    the calls' times. Raises RuntimeError with perf's own message when perf cannot attach."""
    perf = perf_command()
    if perf is None:
        raise RuntimeError(PERF_MISSING)
    process = subprocess.Popen([perf, "record", "-F", str(int(frequency)), "-p", str(os.getpid()), "-o", data_path,
                                "--", "sleep", str(float(seconds))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(0.5)  # perf attaches to the running threads; the first call after it is sampled whole
    call_seconds = []
    while not call_seconds or process.poll() is None:
        start = time.perf_counter()
        run()
        call_seconds.append(time.perf_counter() - start)
    _, error = process.communicate()
    if process.returncode != 0 or not os.path.exists(data_path):
        raise RuntimeError(f"perf record failed (exit {process.returncode}): {error.strip()[-500:]}")
    log(f"  {len(call_seconds)} calls while perf ran, {min(call_seconds):.3f}-{max(call_seconds):.3f} s each")
    return {"calls": len(call_seconds), "call_seconds": call_seconds}


def perf_report_rows(data_path: str) -> list[dict]:
    """The per-symbol shares of a `perf record` file."""
    result = subprocess.run([perf_command(), "report", "-i", data_path, "--sort", "dso,sym", "--stdio",
                             "--percent-limit", "0"], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"perf report failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    return parse_perf_report(result.stdout)


def format_table(shares: dict, rows: list[dict], top: int) -> str:
    lines = ["| where | % of samples |", "|---|---|", *(f"| {name} | {shares[name]:.1f} |" for name in CATEGORIES),
             "", "| % | shared object | symbol | group |", "|---|---|---|---|"]
    for row in sorted(rows, key=lambda row: -row["percent"])[:top]:
        symbol = row["symbol"] if len(row["symbol"]) <= 80 else row["symbol"][:77] + "..."
        lines.append(f"| {row['percent']:.2f} | {row['dso']} | `{symbol}` | {category_of(row['dso'], row['symbol'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = tool_parser(__doc__)
    parser.add_argument("--prior", default="default", help="'default' (shipped), 'tiny' or a prior folder")
    parser.add_argument("--case", default="8x512", help="FRAMESxHYPOTHESES")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", default="dps", choices=["dps", "x0"])
    parser.add_argument("--chunk-size", type=int, default=256, help="hypotheses per vmapped chunk")
    parser.add_argument("--matmul-dtype", default="float32", choices=bench_sampler.MATMUL_DTYPES,
                        help="the sampler's matmul_dtype (posediff_jax/model/precision.py)")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long perf samples")
    parser.add_argument("--frequency", type=int, default=999, help="perf samples per second per thread")
    parser.add_argument("--top", type=int, default=12, help="symbols listed")
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny prior, 1x8, 2 steps, 1 s")
    parser.add_argument("--output", default=None, help="write the JSON results here")
    args = parser.parse_args(argv)
    from posediff_jax.cli import apply_xla_cpu_defaults
    from posediff_jax.prior import resolve_prior

    apply_xla_cpu_defaults(one_device_per_core=True)  # before the first computation; as `posediff` runs
    if args.tiny:
        args.prior, args.case, args.steps, args.seconds = "tiny", "1x8", 2, 1.0
    if perf_command() is None:
        print(f"profile_sampler: {PERF_MISSING}", file=sys.stderr)
        return 2
    frames, hypotheses = bench_sampler.parse_case(args.case)
    load_start = load_average()
    case = bench_sampler.compile_case(resolve_prior(args.prior), frames, hypotheses, args.steps, args.guidance,
                                      args.chunk_size, args.matmul_dtype)

    def run():
        case.compiled(case.key, case.evidence).block_until_ready()

    run()  # warm-up
    with tempfile.TemporaryDirectory() as folder:
        data_path = os.path.join(folder, "perf.data")
        try:
            calls = record_while_sampling(run, args.seconds, args.frequency, data_path)
            rows = perf_report_rows(data_path)
        except RuntimeError as error:
            print(f"profile_sampler: {error}", file=sys.stderr)
            return 2
    shares, machine = group_samples(rows), machine_info()
    results = {
        "date": utc_now(), "command": command_line(__file__, argv), "machine": machine, "load_average": load_start,
        "load_average_end": load_average(), "prior": args.prior, "frames": frames, "hypotheses": hypotheses,
        "steps": args.steps, "guidance": args.guidance, "chunk_size": args.chunk_size,
        "matmul_dtype": args.matmul_dtype, "seconds": args.seconds, "frequency": args.frequency, **calls,
        "groups": shares, "symbols": sorted(rows, key=lambda row: -row["percent"])[:200],
    }
    details = f"{args.case} x {args.steps} steps {args.guidance}, {args.matmul_dtype} matmuls"
    print("\n" + summary_line(results["date"], {**machine, "load_average": load_start}, details,
                              results["load_average_end"]) + "\n")
    print(format_table(shares, rows, args.top))
    write_json(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
