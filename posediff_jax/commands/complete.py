"""`posediff complete`: fill in missing 3D joints given the known ones.

Input `--input file.npz` with `known_joints` `[F?, 17, 3]` mm (root-relative, camera frame; unknown entries may be
NaN) and `mask` `[F?, 17]` (1 = known). Guidance: the completion energy `sum_known ||x_j - known_j||^2 / (2 s^2)`
(`--sigma-mm`), with the sampler settings the completion energy registers (guidance/registry.py). Output `.npz`
(default `INPUT_completed.npz`): hypotheses `[F, m, 17, 3]`, energies `[F, m]`, mean_pose `[F, 17, 3]`,
known_joint_error_mm `[F, m]` (mean distance of the known joints), and a PNG of the first frame.
"""

import pathlib

import numpy as np

from posediff_jax.validation import PoseDiffError

NAME = "complete"
HELP = "complete a 3D pose from a subset of known joints (known_joints + mask in an .npz)"


def add_arguments(parser):
    from posediff_jax.commands import common

    parser.add_argument("--input", required=True, help=".npz with known_joints [F?, 17, 3] mm and mask [F?, 17]")
    parser.add_argument("--sigma-mm", type=float, default=10.0, help="how tightly known joints are pinned (mm)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per sampler call")
    common.add_sampling_arguments(parser, "completion", default_hypotheses=20,
                                  output_help="output .npz (default: INPUT_completed.npz in the current folder)")


def run(args) -> int:
    import jax.numpy as jnp

    from posediff_jax.commands import common
    from posediff_jax.guidance.registry import get_energy, make_energy
    from posediff_jax.sampling import aggregate, make_sampler
    from posediff_jax.visualization import plot_hypotheses

    common.check_run_arguments(args, f"{pathlib.Path(args.input).stem}_completed.npz",
                               inputs=(("--input", args.input),))
    if not args.sigma_mm > 0:
        raise PoseDiffError(f"--sigma-mm: expected > 0, got {args.sigma_mm}")
    if args.batch_size < 1:
        raise PoseDiffError(f"--batch-size: expected >= 1, got {args.batch_size}")
    from posediff_jax.guidance.array_inputs import INPUT_ARRAYS

    data = common.load_npz(args.input, accepted=INPUT_ARRAYS["completion"])
    evidence = get_energy("completion").evidence_from_arrays(data)
    common.check_result_memory(len(np.asarray(evidence.mask)), args.num_hypotheses)
    config = common.sampler_config(args, "completion")
    prior = common.load_prior(args)
    sampler = make_sampler(prior, make_energy("completion", sigma=args.sigma_mm), config,
                           export_cache=common.export_cache(args, "completion", sigma=args.sigma_mm))
    hypotheses, energies = common.sample_in_batches(sampler, evidence, args, "complete", args.batch_size)
    common.check_finite_results("complete", hypotheses, energies, physical=args.prior != "tiny")
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
        "sampler": common.sampler_record(config),
    }

    def plot_fn(path):
        plot_hypotheses(path, hypotheses[0], title=f"posediff complete: {int(mask_values[0].sum())} known joints, "
                        f"known-joint error {known_error[0].mean():.1f} mm")

    npz_path, png_path = common.write_outputs(args.output, arrays, None if args.no_plot else plot_fn)
    print(f"wrote {npz_path} ({len(hypotheses)} frame(s) x {args.num_hypotheses} hypotheses; mean known-joint error "
          f"{known_error.mean():.1f} mm)" + (f" and {png_path}" if png_path else ""))
    return 0
