"""Guided sampling on held-out Human3.6M S9 poses with heatmaps rendered from their ground-truth 2D projections.

For `--frames` S9 frames (spread over actions and the 4 cameras): ground-truth 17-joint pose in the camera frame
(mm), projected with the camera's intrinsics (no distortion) -> Gaussian heatmaps (`heatmap_evidence_from_keypoints`,
sigma in heatmap pixels) -> `m` guided hypotheses; best-of-m MPJPE / PA-MPJPE for m = 1, 10, 50, 200 (the first m
hypotheses), against unguided sampling from the same prior, plus the mean and the reprojection-weighted
per-joint aggregates.

Usage (CPU, a few minutes):
  PYTHONPATH=. python tools/eval_guidance_h36m.py --frames 30 --steps 50 --checkpoint /work/runs/h36m_prior
Without --checkpoint it uses `load_default_prior()` when available, else an analytic Gaussian prior fitted to
S1-S8 (a baseline that knows only the average pose and per-coordinate spread).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax import geometry, metrics
from posediff_jax.data.cameras import CAMERA_IDS
from posediff_jax.data.videopose3d import TRAIN_SUBJECTS, camera_frames, read_camera_frame_poses, read_positions_3d
from posediff_jax.guidance import compose, heatmap_energy, heatmap_evidence_from_keypoints, keypoint_energy
from posediff_jax.sampling import aggregate, make_sampler
from posediff_jax.prior.gaussian import make_gaussian_prior

def load_frames(data_dir, num_frames, seed):
    """S9 frames converted with the project's one Human3.6M conversion (`videopose3d.camera_frames`):
    (absolute camera-frame poses `[N, 17, 3]` mm, intrinsics `[N, 3, 3]`, names)."""
    data = read_positions_3d(data_dir)
    rng = np.random.default_rng(seed)
    actions = sorted(data["S9"].keys())
    poses, intrinsics, names = [], [], []
    for index in range(num_frames):
        action = actions[index % len(actions)]
        camera_id = CAMERA_IDS[(index // len(actions) + index) % 4]
        sequence = data["S9"][action]
        frame = int(rng.integers(0, len(sequence)))
        converted = camera_frames(sequence[frame : frame + 1], "S9", camera_id, pixels=False)
        poses.append(converted["pose_3d"][0] + converted["root_position"][0])
        intrinsics.append(converted["intrinsics"])
        names.append(f"{action}/{camera_id}/{frame}")
    return np.stack(poses), np.stack(intrinsics), names


def training_statistics(data_dir, stride=20):
    poses = read_camera_frame_poses(data_dir, TRAIN_SUBJECTS, stride)
    return poses.mean(0), poses.std(0).mean()


def load_prior(args):
    if args.checkpoint:
        from posediff_jax.prior import load_prior as load

        return load(args.checkpoint), f"checkpoint {args.checkpoint}"
    if not args.gaussian:
        try:
            from posediff_jax.prior import load_default_prior

            return load_default_prior(), "shipped default prior"
        except Exception as error:  # noqa: BLE001 - fall back to the analytic baseline
            print(f"no default prior ({error}); using the Gaussian baseline", file=sys.stderr)
    mean, std = training_statistics(args.data_dir)
    return make_gaussian_prior(mean, std_mm=float(std)), f"Gaussian prior fitted to S1-S8 (std {std:.0f} mm)"


def evaluate(sampler, key, evidence, truth, num_hypotheses, batch):
    hypotheses, energies = [], []
    for start in range(0, truth.shape[0], batch):
        stop = min(start + batch, truth.shape[0])
        chunk = jax.tree.map(lambda leaf: leaf[start:stop], evidence)
        poses, values = sampler.sample_batch_with_energies(jax.random.fold_in(key, start), chunk, num_hypotheses)
        hypotheses.append(np.asarray(poses))
        energies.append(np.asarray(values))
    return np.concatenate(hypotheses), np.concatenate(energies)


def summarise(hypotheses, truth, evidence, m_values):
    truth = jnp.asarray(truth)
    rows = {}
    for m in m_values:
        subset = jnp.asarray(hypotheses[:, :m])
        rows[f"best_of_{m}_mpjpe"] = float(jnp.mean(metrics.best_of_m(subset, truth, metric="mpjpe")))
        rows[f"best_of_{m}_pa_mpjpe"] = float(jnp.mean(metrics.best_of_m(subset, truth, metric="pa_mpjpe")))
    all_hypotheses = jnp.asarray(hypotheses)
    rows["mean_mpjpe"] = float(jnp.mean(metrics.mpjpe(aggregate.mean_pose(all_hypotheses), truth)))
    selected = jax.vmap(lambda h, e: aggregate.reprojection_weighted_pose(h, e, temperature=5.0))(all_hypotheses, evidence)
    rows["reprojection_weighted_mpjpe"] = float(jnp.mean(metrics.mpjpe(selected, truth)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[2] / "shared/data/h36m")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--gaussian", action="store_true", help="use the Gaussian baseline prior")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--hypotheses", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--method", default="ddim")
    parser.add_argument("--guidance", default="dps")
    parser.add_argument("--guidance-scale", type=float, default=0.1)
    parser.add_argument("--scale-schedule", default="constant")
    parser.add_argument("--sigma", type=float, default=2.0, help="rendered heatmap sigma (heatmap pixels)")
    parser.add_argument("--keypoint-weight", type=float, default=0.0,
                        help="add this weight x the robust keypoint energy (argmax keypoints) to the heatmap energy")
    parser.add_argument("--given-root", action="store_true", help="use the GT root translation")
    parser.add_argument("--batch", type=int, default=10, help="frames per sampler call")
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-unguided", action="store_true")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="JSON with the figures")
    args = parser.parse_args(argv)

    poses, intrinsics, names = load_frames(args.data_dir, args.frames, args.seed)
    prior, prior_name = load_prior(args)
    truth = (poses - poses[:, :1]).astype(np.float32)
    keypoints = np.asarray(geometry.project_to_pixels(jnp.asarray(poses, jnp.float32), jnp.asarray(intrinsics, jnp.float32)))
    evidence = heatmap_evidence_from_keypoints(
        keypoints, intrinsics, sigma=args.sigma, root_translation=poses[:, 0] if args.given_root else None
    )
    m_values = [m for m in (1, 10, 50, 200) if m <= args.hypotheses]
    results = {"prior": prior_name, "frames": args.frames, "config": {k: str(v) for k, v in vars(args).items()}}
    key = jax.random.PRNGKey(args.seed)
    energy_fn = heatmap_energy
    if args.keypoint_weight > 0:
        energy_fn = compose([(1.0, heatmap_energy), (args.keypoint_weight, keypoint_energy)])
    settings = [("guided", args.guidance_scale)] + ([] if args.skip_unguided else [("unguided", 0.0)])
    for label, scale in settings:
        sampler = make_sampler(prior, energy_fn, num_steps=args.steps, method=args.method, guidance=args.guidance,
                               guidance_scale=scale, scale_schedule=args.scale_schedule, chunk_size=args.chunk_size)
        start = time.time()
        hypotheses, energies = evaluate(sampler, key, evidence, truth, args.hypotheses, args.batch)
        rows = summarise(hypotheses, truth, evidence, m_values)
        rows["median_energy"] = float(np.median(energies))
        rows["seconds"] = round(time.time() - start, 1)
        results[label] = rows
        print(label, json.dumps(rows, indent=1), flush=True)
    print(f"\nprior: {prior_name}; {args.frames} S9 frames; {args.steps} {args.method} steps; guidance {args.guidance} "
          f"scale {args.guidance_scale}")
    print("| m | " + " | ".join(label for label, _ in settings) + " |")
    print("|---|" + "---|" * len(settings))
    for m in m_values:
        print(f"| {m} | " + " | ".join(f"{results[label][f'best_of_{m}_mpjpe']:.1f}" for label, _ in settings) + " |")
    if args.output:
        args.output.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
