"""`posediff train --config configs/x.py[:arg] --workdir DIR [--config.key=value ...]`."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

NAME = "train"
ACCEPTS_CONFIG_OVERRIDES = True
HELP = "train the unconditional pose prior (data-parallel over all devices; resumes from the workdir)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="config file, e.g. configs/h36m_prior.py or file.py:arg")
    parser.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl and the exported prior")
    parser.set_defaults(overrides=[])
    parser.epilog = "Override any config value with --config.KEY=VALUE, e.g. --config.training.num_steps=1000"


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"posediff {NAME}: warning: {message}", file=sys.stderr)


def run(args) -> int:
    from posediff_jax.training.checkpoint import CheckpointWarning
    from posediff_jax.training.config_schema import load_config
    from posediff_jax.training.train import train_and_evaluate

    config = load_config(args.config, args.overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("always", CheckpointWarning)
        default_show = warnings.showwarning
        warnings.showwarning = lambda message, category, *rest, **kw: (
            _one_line_warning(message, category, *rest, **kw) if issubclass(category, CheckpointWarning)
            else default_show(message, category, *rest, **kw))
        metrics = train_and_evaluate(config, args.workdir)
    print(json.dumps(metrics, indent=1))
    return 0
