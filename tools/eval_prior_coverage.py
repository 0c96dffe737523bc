"""Coverage of real held-out poses by priors and by the training data, raw and augmented.

    PYTHONPATH=. python tools/eval_prior_coverage.py --manual-dir ../shared/data/h36m \
        --checkpoint posediff_jax/assets/prior --baseline /tmp/old_prior --output coverage.json

For real Human3.6M S9 poses (camera frame, root-relative; every 16th frame, `--real` of them at random) it
reports, for each candidate set of `--num` poses (random training poses S1/S5/S6/S7/S8, the same poses
augmented the new way (about each camera's view of the world vertical) and the old way (about the camera's y
axis), and unconditional samples of each prior, DDPM, `--steps` steps):

- nearest-of-N distance: for each real pose, the MPJPE (mm) to its nearest candidate; mean and median over the
  real poses, and the mean over `--repeats` independent draws of candidates (the spread shows the noise);
- the mean z component (along the optical axis) of the body's up vector (pelvis -> thorax,
  `data.augment.body_up_vectors`): about -0.2 for real Human3.6M poses because the cameras look down;
- bone-length plausibility (`posediff_jax.plausibility.plausibility_metrics` against the training poses);
- for priors, the held-out S9 denoising loss (mean over `--loss-keys` random keys of the training loss on
  every held-out pose).

Everything is computed by `coverage_report`, importable for evaluation configs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Mapping

import numpy as np

from posediff_jax.data.augment import augment_poses, body_up_vectors
from posediff_jax.evaluation.plausibility_benchmark import nearest_distances
from posediff_jax.plausibility import plausibility_metrics


def prior_samples(prior, count: int, steps: int = 50, seed: int = 0, method: str = "ddpm") -> np.ndarray:
    """`count` unconditional samples `[count, 17, 3]` mm of `prior` (no guidance)."""
    import jax

    from posediff_jax.sampling import make_sampler

    sampler = make_sampler(prior, None, num_steps=steps, method=method, chunk_size=1024)
    return np.asarray(sampler.sample(jax.random.PRNGKey(seed), None, count))


def held_out_loss(prior, poses: np.ndarray, num_keys: int = 8, seed: int = 0, batch: int = 4096) -> float:
    """The training objective (epsilon MSE at random continuous times) of `prior` on poses `[M, 17, 3]` mm,
    averaged over `num_keys` keys: the held-out denoising loss with less noise than one key on 4096 poses."""
    import jax
    import jax.numpy as jnp

    from posediff_jax.diffusion.losses import make_denoising_loss

    loss_fn = jax.jit(lambda params, x, key: make_denoising_loss(prior.schedule, prior.prediction_type)(
        params, prior.apply_fn, x, key))
    x0 = prior.normalization.normalize(jnp.asarray(poses, jnp.float32))
    values, weights = [], []
    for index in range(num_keys):
        for start in range(0, len(poses), batch):
            key = jax.random.fold_in(jax.random.PRNGKey(seed), index * 100_000 + start)
            part = x0[start:start + batch]
            values.append(float(loss_fn(prior.params, part, key)))
            weights.append(len(part))
    return float(np.average(values, weights=weights))


def set_figures(real: np.ndarray, candidates: np.ndarray, reference: np.ndarray) -> dict:
    """Nearest-of-N (mean/median mm), mean body-up z and bone plausibility of one candidate set."""
    nearest = nearest_distances(real, candidates)
    figures = {"nearest_mean_mm": float(nearest.mean()), "nearest_median_mm": float(np.median(nearest)),
               "up_z_mean": float(body_up_vectors(candidates)[:, 2].mean())}
    figures.update({name: float(value) for name, value in plausibility_metrics(candidates, reference).items()
                    if not name.startswith("data_")})
    return figures


def coverage_report(real: np.ndarray, train: np.ndarray, train_up: np.ndarray, priors: Mapping[str, object],
                    num: int = 1000, repeats: int = 3, steps: int = 50, seed: int = 0,
                    held_out: np.ndarray | None = None, loss_keys: int = 8) -> dict:
    """Coverage of `real` `[R, 17, 3]` by N=`num` poses of each set, `repeats` independent draws.

    Args:
      real: held-out real poses (mm, camera frame, root-relative).
      train / train_up: training poses `[T, 17, 3]` and their up vectors `[T, 3]` (camera frame).
      priors: name -> `Prior`; each contributes `num` samples per repeat.
      held_out: poses for `held_out_loss` (None: skipped).
    Returns {'sets': {name: {figure: mean over repeats, figure + '_std': spread}}, 'real': {...}, 'num': ...}.
    """
    rng = np.random.default_rng(seed)
    reference = train[:: max(1, len(train) // 20_000)]
    per_set: dict = {}
    for repeat in range(repeats):
        pick = rng.choice(len(train), num, replace=False)
        raw, up = train[pick], train_up[pick]
        sets = {
            "training (raw)": raw,
            "training, augmented (world vertical, new)": augment_poses(raw, np.random.default_rng([seed, repeat]), up=up),
            "training, augmented (camera y, old)": augment_poses(raw, np.random.default_rng([seed, repeat]), up=up,
                                                                 rotation_axis="camera_y"),
        }
        for name, prior in priors.items():
            sets[f"prior samples: {name}"] = prior_samples(prior, num, steps, seed=seed * 1000 + repeat)
        for name, candidates in sets.items():
            per_set.setdefault(name, []).append(set_figures(real, candidates, reference))
    report = {"num": num, "repeats": repeats, "real_poses": len(real), "sampler_steps": steps, "sets": {},
              "real": {"up_z_mean": float(body_up_vectors(real)[:, 2].mean()),
                       "training_up_z_mean": float(body_up_vectors(train)[:, 2].mean()),
                       "camera_up_z_mean": float(np.mean(train_up[:, 2]))}}
    for name, rows in per_set.items():
        entry = {}
        for figure in rows[0]:
            values = np.array([row[figure] for row in rows])
            entry[figure] = float(values.mean())
            entry[figure + "_std"] = float(values.std())
        report["sets"][name] = entry
    if held_out is not None:
        report["held_out_loss"] = {name: held_out_loss(prior, held_out, loss_keys, seed) for name, prior in priors.items()}
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manual-dir", required=True, help="folder with data_3d_h36m.npz")
    parser.add_argument("--checkpoint", default="default", help="the prior to evaluate ('default' = shipped, or PATH)")
    parser.add_argument("--baseline", action="append", default=[], metavar="NAME=PATH",
                        help="another prior to compare (repeatable), e.g. old=/tmp/old_prior")
    parser.add_argument("--num", type=int, default=1000, help="poses per candidate set (N of nearest-of-N)")
    parser.add_argument("--real", type=int, default=1000, help="real S9 poses to cover")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--loss-keys", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    from posediff_jax.data.pipeline import load_training_poses
    from posediff_jax.data.videopose3d import read_positions_3d
    from posediff_jax.prior import resolve_prior

    priors = {}
    for spec in args.baseline:
        name, _, path = spec.rpartition("=")
        priors[name or path] = resolve_prior(path)
    priors["evaluated" if args.baseline else args.checkpoint] = resolve_prior(args.checkpoint)
    positions = read_positions_3d(args.manual_dir)  # once for both splits: None entries warn once
    train, train_up = load_training_poses(None, args.manual_dir, "train", None, stride=1, with_up=True,
                                          positions=positions)
    held_out = load_training_poses(None, args.manual_dir, "test", ("S9",), stride=16, positions=positions)
    real = held_out[np.random.default_rng(args.seed + 1).choice(len(held_out), min(args.real, len(held_out)),
                                                               replace=False)]
    report = coverage_report(real, train, train_up, priors, args.num, args.repeats, args.steps, args.seed,
                             held_out=held_out, loss_keys=args.loss_keys)
    print(f"real S9 poses: {len(real)}; body up z: real {report['real']['up_z_mean']:.3f}, training "
          f"{report['real']['training_up_z_mean']:.3f} (camera up z {report['real']['camera_up_z_mean']:.3f})")
    print(f"{'set (N=%d, %d draws)' % (args.num, args.repeats):<48} {'nearest mm':>12} {'median':>7} {'up z':>6} "
          f"{'bone dev':>8} {'bone err':>8} {'asym':>6}")
    for name, row in report["sets"].items():
        print(f"{name:<48} {row['nearest_mean_mm']:>7.1f} ±{row['nearest_mean_mm_std']:<4.1f} "
              f"{row['nearest_median_mm']:>7.1f} {row['up_z_mean']:>6.3f} {row['bone_length_deviation_mm']:>8.1f} "
              f"{row['bone_length_error_mm']:>8.1f} {row['asymmetry_mm']:>6.1f}")
    for name, value in report.get("held_out_loss", {}).items():
        print(f"held-out S9 denoising loss ({len(held_out)} poses x {args.loss_keys} keys), {name}: {value:.4f}")
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
