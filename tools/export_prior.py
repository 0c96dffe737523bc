"""Exports a training workdir's latest EMA weights as a small prior folder (what ships in assets/prior*).

    PYTHONPATH=. python tools/export_prior.py --workdir runs/h36m_prior --output posediff_jax/assets/prior --float16

`--workdir` may also be a prior folder (re-export in another storage type, e.g. a float16 export as int8:
`--workdir priors/bones05 --output posediff_jax/assets/prior_wide_proportions --int8`). Prints the checkpoint
step it exported. User mistakes (no finished checkpoint, a folder without prior.json, an unwritable --output)
are one `export_prior.py: error: ...` line and exit code 2, as in the `posediff` commands.
"""

from __future__ import annotations

import argparse
import os
import pathlib

import numpy as np

from posediff_jax import prior as prior_lib
from posediff_jax.cli import run_with_one_line_messages
from posediff_jax.io_utils import check_folder_can_be_made
from posediff_jax.validation import PoseDiffError


def check_output_folder(output: pathlib.Path, source: pathlib.Path) -> None:
    """Raises `PoseDiffError` unless `output` is (or can be made) a writable folder other than `source`: checked
    before the weights are read, and so that re-exporting a prior onto itself cannot replace its own weights
    (e.g. float32 ones by float16). Nothing is created here: a failed read must leave no empty --output."""
    if output.is_dir() and source.is_dir() and os.path.samefile(output, source):
        raise PoseDiffError(f"--output: {str(output)!r} is the --workdir folder; writing there would replace the "
                            "weights being exported, choose another folder")
    check_folder_can_be_made(output, "--output")


def load_weights(workdir: pathlib.Path):
    """(prior, description, what was exported): a training workdir's newest restorable checkpoint (its step
    named) or a prior folder's params.npz."""
    if not workdir.is_dir():
        raise PoseDiffError(f"--workdir: {str(workdir)!r} is not a folder (expected a training workdir or a prior "
                            "folder)")
    description = prior_lib.read_prior_description(workdir)
    if (workdir / prior_lib.PARAMS_NPZ).is_file():
        return prior_lib.load_prior(workdir), description, f"the prior folder {workdir}"
    from posediff_jax.prior.format import prior_from_description
    from posediff_jax.prior.loading import CHECKPOINT_DIR
    from posediff_jax.prior.workdir import restore_ema_params

    if not (workdir / CHECKPOINT_DIR).is_dir():
        raise PoseDiffError(f"--workdir {workdir}: neither {prior_lib.PARAMS_NPZ} nor {CHECKPOINT_DIR}/ found")
    params, source = restore_ema_params(workdir)
    return prior_from_description(description, params, source), description, f"checkpoint step {source.name}"


def run(args) -> int:
    workdir, output = pathlib.Path(args.workdir), pathlib.Path(args.output)
    check_output_folder(output, workdir)
    prior, description, what = load_weights(workdir)
    try:
        path = prior_lib.export_prior(output, prior.params, description,
                                      dtype="int8" if args.int8 else np.float16 if args.float16 else np.float32)
    except OSError as error:
        raise PoseDiffError(f"--output: cannot write {str(output)!r} ({error.strerror or error})") from None
    print(f"wrote {path / prior_lib.PARAMS_NPZ} ({(path / prior_lib.PARAMS_NPZ).stat().st_size / 1e6:.1f} MB) "
          f"from {what}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=pathlib.Path(__file__).name, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--output", required=True)
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--float16", action="store_true", help="store weights as float16 (half the size)")
    storage.add_argument("--int8", action="store_true",
                         help="store kernels as int8 with a per-column scale (a quarter of the size)")
    args = parser.parse_args(argv)
    return run_with_one_line_messages(parser.prog, lambda: run(args))  # as the posediff commands report


if __name__ == "__main__":
    raise SystemExit(main())
