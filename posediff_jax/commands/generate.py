"""`posediff generate`: unconditional 3D poses from the prior (optionally with bone-length targets).

Output `.npz`: hypotheses `[m, 17, 3]` mm root-relative, bone_lengths `[m, 16]`; plus a PNG of a few of them.
`--bone-lengths file.npz` (key `bone_lengths` `[16]` mm, `skeleton.BONES` order) guides every sample towards
those lengths (`--sigma-mm`).
"""

from __future__ import annotations

import numpy as np

from posediff_jax.validation import PoseDiffError

NAME = "generate"
HELP = "sample 3D poses from the unconditional prior (optionally towards given bone lengths)"


def add_arguments(parser):
    from posediff_jax.sampling import cli_support

    parser.add_argument("--bone-lengths", default=None, help=".npz with bone_lengths [16] mm to guide towards")
    parser.add_argument("--sigma-mm", type=float, default=10.0, help="bone-length tolerance (mm)")
    cli_support.add_sampling_arguments(parser, default_hypotheses=16, default_scale=0.02)


def run(args) -> int:
    import jax

    from posediff_jax.guidance import bone_lengths, make_bone_length_energy, make_bone_length_evidence
    from posediff_jax.sampling import cli_support, make_sampler
    from posediff_jax.visualization import plot_hypotheses

    cli_support.check_common_arguments(args)
    energy_fn, evidence = None, None
    if args.bone_lengths:
        data = cli_support.load_npz(args.bone_lengths)
        if "bone_lengths" not in data:
            raise PoseDiffError(f"--bone-lengths {args.bone_lengths}: missing 'bone_lengths' ([16] mm)")
        evidence = make_bone_length_evidence(data["bone_lengths"])
        if np.ndim(evidence.bone_lengths) != 1:
            raise PoseDiffError("bone_lengths: expected one set of 16 lengths")
        energy_fn = make_bone_length_energy(args.sigma_mm)
    prior = cli_support.load_prior(args)
    sampler = make_sampler(prior, energy_fn, num_steps=args.steps, method=args.method, guidance=args.guidance,
                           guidance_scale=args.guidance_scale, scale_schedule=args.scale_schedule,
                           chunk_size=args.chunk_size)
    chunks = list(range(0, args.num_hypotheses, args.chunk_size))
    key = jax.random.PRNGKey(args.seed)
    poses = []
    for start in cli_support.progress(chunks, len(chunks), args.quiet, "generate"):
        count = min(args.chunk_size, args.num_hypotheses - start)
        poses.append(np.asarray(sampler.sample(jax.random.fold_in(key, start), evidence, count)))
    poses = np.concatenate(poses)
    arrays = {"hypotheses": poses.astype(np.float32), "bone_lengths": np.asarray(bone_lengths(poses), np.float32)}
    def plot_fn(path):
        plot_hypotheses(path, poses, title=f"posediff generate: {len(poses)} samples")

    npz_path, png_path = cli_support.write_outputs(args.output, arrays, None if args.no_plot else plot_fn)
    print(f"wrote {npz_path} ({len(poses)} poses)" + (f" and {png_path}" if png_path else ""))
    return 0
