"""`posediff evaluate --config configs/eval_h36m.py [--prior DIR] [--workdir DIR] [--set KEY=VALUE ...]`.

Runs the evaluator `config.evaluator` names (evaluation/evaluators.py: guided best-of-m on a benchmark,
completion, plausibility): prints the Markdown table and writes `results.json`, `results.md` (and, for
benchmarks, `per_frame.npz` and `results.png`: best-of-m curves and the per-group breakdown) to the workdir;
interrupted benchmark runs resume there.
"""

import argparse

NAME = "evaluate"
ACCEPTS_CONFIG_OVERRIDES = True
HELP = "evaluate the prior on a benchmark (best-of-m MPJPE / PA-MPJPE, PCK, diversity, calibration)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="an evaluation config file, e.g. configs/eval_h36m.py")
    from posediff_jax.commands.common import add_prior_argument

    add_prior_argument(parser)
    parser.add_argument("--workdir", default=None, help="output / resume folder (default: config.workdir)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set data.max_frames=0 (or --config.data.max_frames=0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from posediff_jax.config_files import load_config_file
    from posediff_jax.evaluation.config_schema import default_eval_config
    from posediff_jax.evaluation.evaluators import run_evaluator

    config = load_config_file(args.config, args.overrides, reference=default_eval_config)
    result = run_evaluator(config, checkpoint=args.prior, workdir=args.workdir, progress=not args.no_progress)
    if result["paths"]:  # none: a shard whose companions have not finished (it said so)
        print("wrote " + ", ".join(str(path) for path in result["paths"].values()))
    return 0
