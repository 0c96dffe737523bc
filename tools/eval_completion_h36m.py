"""Pose completion on held-out Human3.6M S9 poses: known joints pinned, the rest sampled from the prior.

    PYTHONPATH=. python tools/eval_completion_h36m.py --manual-dir ../shared/data/h36m --frames 30 --hypotheses 50

For each known-joint set (lower body, upper body, one arm missing) prints the known joints' mean error (mm),
the unknown joints' best-of-m and mean-hypothesis errors, and the samples' bone-length deviation from the data.
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from posediff_jax import skeleton
from posediff_jax.data.pipeline import load_training_poses
from posediff_jax.guidance import make_completion_energy, make_completion_evidence, stack_evidence
from posediff_jax.sampling import make_sampler
from posediff_jax.prior import load_default_prior, load_prior

KNOWN_SETS = {
    "lower body known": [0, 1, 2, 3, 4, 5, 6],
    "upper body known": [0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
    "right arm missing": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--manual-dir", required=True)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--hypotheses", type=int, default=50)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance-scale", type=float, default=0.006)
    parser.add_argument("--sigma-mm", type=float, default=10.0, help="completion energy sigma (mm)")
    parser.add_argument("--guidance", default="dps")
    parser.add_argument("--no-precondition", dest="precondition", action="store_false")
    parser.add_argument("--max-grad-norm", type=float, default=5000.0)
    args = parser.parse_args(argv)
    prior = load_prior(args.checkpoint) if args.checkpoint else load_default_prior()
    poses = load_training_poses(None, args.manual_dir, "test", ("S9",), stride=64)
    poses = poses[np.random.default_rng(0).choice(len(poses), args.frames, replace=False)]
    data_lengths = np.asarray(skeleton.bone_lengths(poses)).mean(0)
    sampler = make_sampler(prior, make_completion_energy(args.sigma_mm), num_steps=args.steps, guidance=args.guidance,
                           guidance_scale=args.guidance_scale, precondition=args.precondition,
                           max_grad_norm=args.max_grad_norm)
    results = {}
    for name, known in KNOWN_SETS.items():
        mask = np.zeros((len(poses), 17), np.float32)
        mask[:, known] = 1.0
        evidence = stack_evidence([make_completion_evidence(pose, row) for pose, row in zip(poses, mask)])
        hypotheses = np.asarray(sampler.sample_batch(jax.random.PRNGKey(0), evidence, args.hypotheses))
        errors = np.linalg.norm(hypotheses - poses[:, None], axis=-1)  # [F, m, 17]
        unknown = [j for j in range(17) if j not in known]
        lengths = np.asarray(skeleton.bone_lengths(hypotheses))
        results[name] = {
            "known_joint_error_mm": float(errors[..., known].mean()),
            "unknown_best_of_m_mm": float(errors[..., unknown].mean(-1).min(-1).mean()),
            "unknown_mean_hypothesis_mm": float(np.linalg.norm(hypotheses.mean(1) - poses, axis=-1)[:, unknown].mean()),
            "median_abs_bone_deviation_mm": float(np.median(np.abs(lengths - data_lengths))),
        }
        print(name, json.dumps({key: round(value, 1) for key, value in results[name].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
