"""`posediff complete`: fill in missing 3D joints given the known ones.

Input `--input file.npz` with `known_joints` `[F?, 17, 3]` mm (root-relative, camera frame; unknown entries may be
NaN) and `mask` `[F?, 17]` (1 = known). Guidance: the completion energy `sum_known ||x_j - known_j||^2 / (2 s^2)`
(`--sigma-mm`). Output `.npz`: hypotheses `[F, m, 17, 3]`, energies `[F, m]`, mean_pose `[F, 17, 3]`,
known_joint_error_mm `[F, m]` (mean distance of the known joints), and a PNG of the first frame.
"""

from __future__ import annotations

import numpy as np

from posediff_jax.validation import PoseDiffError

NAME = "complete"
COMPLETION_MAX_GRAD_NORM = 5000.0  # effectively unclipped: the completion energy is a well-behaved quadratic
HELP = "complete a 3D pose from a subset of known joints (known_joints + mask in an .npz)"


def add_arguments(parser):
    from posediff_jax.sampling import cli_support

    parser.add_argument("--input", required=True, help=".npz with known_joints [F?, 17, 3] mm and mask [F?, 17]")
    parser.add_argument("--sigma-mm", type=float, default=10.0, help="how tightly known joints are pinned (mm)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per sampler call")
    # Completion's curvature in model space is ~(pose std / sigma)^2, much steeper than the heatmap energy's:
    # the stable step is ~0.02 (see posediff_jax/sampling/guided.py).
    # Completion pins joints with a stiff quadratic (sigma 10 mm): a small, preconditioned, unclipped step keeps
    # the known joints within a few mm (tools/eval_completion_h36m.py: 1.9-5.0 mm on real S9 poses).
    cli_support.add_sampling_arguments(parser, default_hypotheses=20, default_scale=0.006)


def run(args) -> int:
    import jax.numpy as jnp

    from posediff_jax.guidance import evidence as evidence_lib
    from posediff_jax.guidance import make_completion_energy
    from posediff_jax.sampling import aggregate, cli_support, make_sampler
    from posediff_jax.visualization import plot_hypotheses

    cli_support.check_common_arguments(args)
    if not args.sigma_mm > 0:
        raise PoseDiffError(f"--sigma-mm: expected > 0, got {args.sigma_mm}")
    data = cli_support.load_npz(args.input)
    for name in ("known_joints", "mask"):
        if name not in data:
            raise PoseDiffError(f"--input {args.input}: missing '{name}'")
    known = np.asarray(data["known_joints"], np.float64)
    mask = np.asarray(data["mask"])
    if known.ndim == 2:
        known, mask = known[None], mask[None]
    evidence = evidence_lib.make_completion_evidence(known, mask)
    if not np.all(np.asarray(evidence.mask).sum(-1) > 0):
        raise PoseDiffError("mask: every frame needs at least one known joint (use `posediff generate` otherwise)")
    prior = cli_support.load_prior(args)
    sampler = make_sampler(prior, make_completion_energy(args.sigma_mm), num_steps=args.steps, method=args.method,
                           guidance=args.guidance, guidance_scale=args.guidance_scale,
                           scale_schedule=args.scale_schedule, chunk_size=args.chunk_size,
                           precondition=True, max_grad_norm=COMPLETION_MAX_GRAD_NORM)
    hypotheses, energies = cli_support.sample_in_batches(sampler, evidence, args, "complete")
    mask_values = np.asarray(evidence.mask)
    distances = np.linalg.norm(hypotheses - np.asarray(evidence.known_joints)[:, None], axis=-1)
    known_error = (distances * mask_values[:, None]).sum(-1) / mask_values.sum(-1)[:, None]
    arrays = {
        "hypotheses": hypotheses.astype(np.float32),
        "energies": energies.astype(np.float32),
        "mean_pose": np.asarray(aggregate.mean_pose(jnp.asarray(hypotheses)), np.float32),
        "known_joint_error_mm": known_error.astype(np.float32),
        "known_joints": np.asarray(evidence.known_joints, np.float32),
        "mask": mask_values.astype(np.float32),
    }
    def plot_fn(path):
        plot_hypotheses(path, hypotheses[0], title=f"posediff complete: {int(mask_values[0].sum())} known joints, "
                        f"known-joint error {known_error[0].mean():.1f} mm")

    npz_path, png_path = cli_support.write_outputs(args.output, arrays, None if args.no_plot else plot_fn)
    print(f"wrote {npz_path} ({len(hypotheses)} frame(s) x {args.num_hypotheses} hypotheses; mean known-joint error "
          f"{known_error.mean():.1f} mm)" + (f" and {png_path}" if png_path else ""))
    return 0
