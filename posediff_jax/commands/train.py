"""`posediff train --config configs/x.py[:arg] --workdir DIR [--config.key=value ...]`."""

import argparse
import json

NAME = "train"
ACCEPTS_CONFIG_OVERRIDES = True
HELP = "train the unconditional pose prior (data-parallel over all devices; resumes from the workdir)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="config file, e.g. configs/h36m_prior.py or file.py:arg")
    parser.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl and the exported prior")
    parser.set_defaults(overrides=[])
    parser.epilog = "Override any config value with --config.KEY=VALUE, e.g. --config.training.num_steps=1000"


def run(args) -> int:
    from posediff_jax.training.config_schema import load_config
    from posediff_jax.training.train import train_and_evaluate

    config = load_config(args.config, args.overrides)
    metrics = train_and_evaluate(config, args.workdir)  # checkpoint warnings: one line each (cli.one_line_warnings)
    print(json.dumps(metrics, indent=1))
    return 0
