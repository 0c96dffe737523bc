"""The `posediff` command line: one subcommand per module in `posediff_jax.commands`.

Each command module exports `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`; one that sets
`ACCEPTS_CONFIG_OVERRIDES = True` receives ml_collections-style `--config.key=value` arguments in `args.overrides`. User errors
(`PoseDiffError`) print one line to stderr and exit with code 2; nothing is half-written (commands write to a
temporary file and rename).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from posediff_jax import __version__
from posediff_jax.validation import PoseDiffError

COMMAND_MODULES = ("demo", "train", "estimate", "complete", "generate", "evaluate")


def _load_commands():
    commands, missing = [], []
    for name in COMMAND_MODULES:
        try:
            commands.append(importlib.import_module(f"posediff_jax.commands.{name}"))
        except ModuleNotFoundError as error:
            if error.name and error.name.startswith("posediff_jax.commands"):
                missing.append(name)
            else:
                raise
    return commands, missing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posediff",
        description="Probabilistic 3D human pose estimation with guided diffusion (JAX).",
    )
    parser.add_argument("--version", action="version", version=f"posediff_jax {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands, _ = _load_commands()
    for module in commands:
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run, _accepts_overrides=getattr(module, "ACCEPTS_CONFIG_OVERRIDES", False))
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        if not getattr(args, "_accepts_overrides", False) or any(not e.startswith("--config.") for e in extras):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.overrides = list(getattr(args, "overrides", None) or []) + extras
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except PoseDiffError as error:
        print(f"posediff {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"posediff {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
