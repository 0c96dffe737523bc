"""Exports a training workdir's latest EMA weights as a small prior folder (what ships in assets/prior*).

    PYTHONPATH=. python tools/export_prior.py --workdir runs/h36m_prior --output posediff_jax/assets/prior --float16

`--workdir` may also be a prior folder (re-export in another storage type, e.g. a float16 export as int8:
`--workdir priors/bones05 --output posediff_jax/assets/prior_wide_proportions --int8`).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from posediff_jax import prior as prior_lib
from posediff_jax.training import checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--output", required=True)
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--float16", action="store_true", help="store weights as float16 (half the size)")
    storage.add_argument("--int8", action="store_true",
                         help="store kernels as int8 with a per-column scale (a quarter of the size)")
    args = parser.parse_args(argv)
    prior = prior_lib.load_prior(args.workdir)
    description = json.loads((pathlib.Path(args.workdir) / prior_lib.PRIOR_JSON).read_text())
    path = prior_lib.export_prior(args.output, prior.params, description,
                                   dtype="int8" if args.int8 else np.float16 if args.float16 else np.float32)
    print(f"wrote {path / prior_lib.PARAMS_NPZ} ({(path / prior_lib.PARAMS_NPZ).stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
