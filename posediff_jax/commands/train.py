"""`posediff train --config configs/x.py[:arg] --workdir DIR [--config.key=value ...]`.

Exit codes: 0 trained (or already finished); 2 an error, in one line (a bad config, a workdir another trainer
holds, a full disk); 128 + the signal (143 SIGTERM, 130 SIGINT) when one stopped it early, after its checkpoint,
so that a scheduler tells a pre-empted run from a finished one: the same command resumes it.
"""

import argparse
import json
import signal
import sys

NAME = "train"
ACCEPTS_CONFIG_OVERRIDES = True
HELP = "train the unconditional pose prior (data-parallel over all devices; resumes from the workdir)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="config file, e.g. configs/h36m_prior.py or file.py:arg")
    parser.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl and the exported prior")
    parser.set_defaults(overrides=[])
    parser.epilog = ("Override any config value with --config.KEY=VALUE, e.g. --config.training.num_steps=1000. "
                     "Exit code 143 (SIGTERM) or 130 (SIGINT): stopped early after saving a checkpoint; run the same "
                     "command again to resume. 2: an error, said in one line.")


def run(args) -> int:
    from posediff_jax.training.config_schema import load_config
    from posediff_jax.training.train import train_and_evaluate

    config = load_config(args.config, args.overrides)
    metrics = train_and_evaluate(config, args.workdir)  # checkpoint warnings: one line each (cli.one_line_warnings)
    print(json.dumps(metrics, indent=1))
    if "stopped_by" not in metrics:
        return 0
    print(f"posediff {NAME}: stopped early by {metrics['stopped_by']} at step {metrics['step']} of "
          f"{config.training.num_steps}, checkpoint saved; run the same command again to resume", file=sys.stderr)
    return 128 + signal.Signals[metrics["stopped_by"]]
