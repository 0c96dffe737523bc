"""`posediff evaluate --config configs/eval_h36m.py [--checkpoint DIR] [--workdir DIR] [--set KEY=VALUE ...]`.

Runs `posediff_jax.evaluation.evaluate` on the config's benchmark: prints the Markdown table and writes
`results.json`, `results.md` and `per_frame.npz` to the workdir; interrupted runs resume there.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import pathlib

from posediff_jax.validation import PoseDiffError

NAME = "evaluate"
HELP = "evaluate the prior on a benchmark (best-of-m MPJPE / PA-MPJPE, PCK, diversity, calibration)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="an evaluation config file, e.g. configs/eval_h36m.py")
    parser.add_argument("--checkpoint", default=None, help="prior checkpoint directory (default: the shipped prior)")
    parser.add_argument("--workdir", default=None, help="output / resume folder (default: config.workdir)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set data.max_frames=0 --set sampler.num_steps=50")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_config(path):
    """`get_config()` of a Python config file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise PoseDiffError(f"--config: file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"posediff_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise PoseDiffError(f"--config: {path} defines no get_config()")
    return module.get_config()


def apply_override(config, text: str) -> None:
    """'a.b=value' sets config.a.b (value read as a Python literal, else as a string)."""
    if "=" not in text:
        raise PoseDiffError(f"--set: expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    *parents, leaf = key.strip().split(".")
    node = config
    for name in parents:
        if name not in node:
            raise PoseDiffError(f"--set: unknown config key {key!r}")
        node = node[name]
    if leaf not in node:
        raise PoseDiffError(f"--set: unknown config key {key!r}")
    current = node[leaf]
    if isinstance(current, tuple) and isinstance(value, (list, int, float, str)):
        value = tuple(value) if isinstance(value, list) else (value,)
    try:
        node[leaf] = value
    except TypeError as error:
        raise PoseDiffError(f"--set {key}: {error}") from None


def run(args) -> int:
    from posediff_jax.evaluation.evaluate import evaluate

    config = load_config(args.config)
    for override in args.overrides:
        apply_override(config, override)
    result = evaluate(config, checkpoint=args.checkpoint, workdir=args.workdir, progress=not args.no_progress)
    print(f"wrote {result['paths']['json']}, {result['paths']['markdown']} and {result['paths']['per_frame']}")
    return 0
