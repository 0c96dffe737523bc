"""Plausibility of a prior's unconditional samples: bone lengths vs the Human3.6M training poses.

    PYTHONPATH=. python tools/eval_prior_plausibility.py --checkpoint posediff_jax/assets/prior \
        --manual-dir ../shared/data/h36m --samples 1024 --output plausibility.json

For each sampler (DDPM ancestral and DDIM, `--steps` steps, no guidance) prints
`posediff_jax.plausibility.plausibility_metrics` against the training poses (S1, S5, S6, S7, S8):
per-bone mean |sample length - data mean length| (with the data's own value beside it: subjects differ, so
the data is not at 0), the bias of the mean lengths, the spread, and the left/right asymmetry (the data's
skeletons are exactly symmetric). Then a per-bone table for the DDPM sampler. Coverage of real S9 poses (nearest-of-N)
and the camera elevation seen in samples: tools/eval_prior_coverage.py.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax
import numpy as np

from posediff_jax.data.pipeline import load_training_poses
from posediff_jax.sampling import make_sampler
from posediff_jax.prior import load_default_prior, load_prior
from posediff_jax.plausibility import per_bone_deviation, plausibility_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="prior export or training workdir (default: shipped)")
    parser.add_argument("--manual-dir", required=True, help="folder with data_3d_h36m.npz")
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    prior = load_prior(args.checkpoint) if args.checkpoint else load_default_prior()
    data = load_training_poses(None, args.manual_dir, "train", None, stride=50)
    results = {"samples": args.samples, "steps": args.steps, "data_poses": len(data)}
    for method in ("ddpm", "ddim"):
        sampler = make_sampler(prior, None, num_steps=args.steps, method=method, chunk_size=1024)
        samples = np.asarray(sampler.sample(jax.random.PRNGKey(args.seed), None, args.samples))
        row = plausibility_metrics(samples, data)
        if method == "ddpm":
            results["per_bone_deviation_mm"] = per_bone_deviation(samples, data)
            results["data_per_bone_deviation_mm"] = per_bone_deviation(data, data)
        results[method] = row
        print(method, json.dumps({name: round(value, 2) for name, value in row.items()}))
    print(f"\n{'bone (ddpm)':<22} {'samples mm':>10} {'data mm':>8}")
    for bone, value in results["per_bone_deviation_mm"].items():
        print(f"{bone:<22} {value:>10.1f} {results['data_per_bone_deviation_mm'][bone]:>8.1f}")
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
