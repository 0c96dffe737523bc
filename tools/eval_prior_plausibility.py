"""Plausibility of a prior's unconditional samples: bone lengths vs the Human3.6M training poses.

    PYTHONPATH=. python tools/eval_prior_plausibility.py --checkpoint posediff_jax/assets/prior \
        --manual-dir ../shared/data/h36m --samples 1024

Prints, per sampler (DDIM / DDPM, 50 steps): mean |sample bone length - data bone length| over bones (mm), the
per-sample median absolute deviation, the sample spread of bone lengths vs the data's, and left/right asymmetry.
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from posediff_jax import skeleton
from posediff_jax.data.pipeline import load_training_poses
from posediff_jax.sampling import make_sampler
from posediff_jax.training.checkpoint import load_default_prior, load_prior
from posediff_jax.training.plausibility import plausibility_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="prior export or training workdir (default: shipped)")
    parser.add_argument("--manual-dir", required=True, help="folder with data_3d_h36m.npz")
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    prior = load_prior(args.checkpoint) if args.checkpoint else load_default_prior()
    data = load_training_poses(None, args.manual_dir, "train", None, stride=50)
    data_lengths = np.asarray(skeleton.bone_lengths(data)).mean(0)
    results = {}
    for method in ("ddim", "ddpm"):
        sampler = make_sampler(prior, None, num_steps=args.steps, method=method, chunk_size=1024)
        samples = np.asarray(sampler.sample(jax.random.PRNGKey(0), None, args.samples))
        row = plausibility_metrics(samples, data)
        row["median_abs_bone_deviation_mm"] = float(np.median(np.abs(np.asarray(skeleton.bone_lengths(samples)) - data_lengths)))
        results[method] = row
        print(method, json.dumps({name: round(value, 2) for name, value in row.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
