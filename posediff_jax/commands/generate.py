"""`posediff generate`: unconditional 3D poses from the prior (optionally with bone-length targets).

Output `.npz` (default `generated_poses.npz`): hypotheses `[m, 17, 3]` mm root-relative, bone_lengths `[m, 16]`;
plus a PNG of a few of them. `--bone-lengths file.npz` (key `bone_lengths` `[16]` mm, `skeleton.BONES` order)
guides every sample towards those lengths (`--sigma-mm`). Sampler settings: those registered for the 'none'
and 'bone_lengths' energies (guidance/registry.py), then the flags.
"""

import numpy as np

from posediff_jax.random_keys import seed_key
from posediff_jax.validation import PoseDiffError

NAME = "generate"
HELP = "sample 3D poses from the unconditional prior (optionally towards given bone lengths)"
DEFAULT_OUTPUT = "generated_poses.npz"


def add_arguments(parser):
    from posediff_jax.commands import common

    parser.add_argument("--bone-lengths", default=None, help=".npz with bone_lengths [16] mm to guide towards")
    parser.add_argument("--sigma-mm", type=float, default=10.0, help="bone-length tolerance (mm)")
    common.add_sampling_arguments(parser, "none", default_hypotheses=16,
                                  output_help=f"output .npz (default: {DEFAULT_OUTPUT} in the current folder)")


def run(args) -> int:
    from posediff_jax.commands import common
    from posediff_jax.guidance import bone_lengths
    from posediff_jax.guidance.registry import get_energy, make_energy
    from posediff_jax.sampling import make_sampler
    from posediff_jax.visualization import plot_hypotheses

    common.check_run_arguments(args, DEFAULT_OUTPUT, inputs=(("--bone-lengths", args.bone_lengths),))
    common.check_result_memory(1, args.num_hypotheses)
    if not args.sigma_mm > 0:
        raise PoseDiffError(f"--sigma-mm: expected > 0, got {args.sigma_mm}")
    energy_name = "bone_lengths" if args.bone_lengths else "none"
    evidence = None
    if args.bone_lengths:
        from posediff_jax.guidance.array_inputs import INPUT_ARRAYS
        arrays = common.load_npz(args.bone_lengths, "--bone-lengths", accepted=INPUT_ARRAYS["bone_lengths"])
        evidence = get_energy(energy_name).evidence_from_arrays(arrays)
    energy_fn = make_energy(energy_name, sigma=args.sigma_mm) if args.bone_lengths else None
    config = common.sampler_config(args, energy_name)
    cache = common.export_cache(args, energy_name, **({"sigma": args.sigma_mm} if args.bone_lengths else {}))
    sampler = make_sampler(common.load_prior(args), energy_fn, config, export_cache=cache)
    key = seed_key(args.seed)
    group = max(4 * config.chunk_size, 1)
    poses = []
    with common.progress_bar(args.num_hypotheses, args.quiet, "generate", "pose") as bar:
        for first in range(0, args.num_hypotheses, group):
            count = min(group, args.num_hypotheses - first)
            poses.append(np.asarray(sampler.sample(key, evidence, count, first_hypothesis=first)))
            bar.update(count)
    poses = np.concatenate(poses)
    common.check_finite_results("generate" if args.bone_lengths else "generate_unguided", poses)
    arrays = {"hypotheses": poses.astype(np.float32), "bone_lengths": np.asarray(bone_lengths(poses), np.float32),
              "sampler": common.sampler_record(config)}

    def plot_fn(path):
        plot_hypotheses(path, poses, title=f"posediff generate: {len(poses)} samples")

    npz_path, png_path = common.write_outputs(args.output, arrays, None if args.no_plot else plot_fn)
    print(f"wrote {npz_path} ({len(poses)} poses)" + (f" and {png_path}" if png_path else ""))
    return 0
