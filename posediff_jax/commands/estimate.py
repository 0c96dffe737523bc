"""`posediff estimate`: 3D pose hypotheses from 2D evidence (heatmaps or keypoints + intrinsics, or a photo).

Inputs (one of):
- `--input file.npz` with either `heatmaps` `[F?, 17, H, W]` + `image_to_heatmap` `[F?, 2, 3]` + `intrinsics`
  (`[3, 3]` shared or `[F, 3, 3]`; optional `joint_weights`, `keypoints_2d`, `root_translation`), or
  `keypoints_2d` `[F?, 17, 2]` + `intrinsics` (optional `confidence` `[F?, 17]`, `root_translation`). Keypoints
  are rendered into Gaussian heatmaps (`--energy heatmap`, sigma `--sigma` widened by the detector's error
  `--detector-sigma`: `guidance/render.py`; 0 for exact keypoints such as ground-truth projections) or used
  directly by the robust reprojection energy (`--energy keypoints`).
- `--image photo.jpg`: the BlazePose front end (`posediff_jax.detector`, optional extra) finds the person(s).
Dataset splits are evaluated by `posediff evaluate`.

Output `.npz` (leading frames axis always present): hypotheses `[F, m, 17, 3]` mm root-relative, energies `[F, m]`,
mean_pose `[F, 17, 3]`, mode_pose `[F, 17, 3]` (mean-shift mode of the hypotheses: the single estimate to take),
reprojection_weighted `[F, 17, 3]` (per-joint selection), root_translation `[F, 3]` (of
the reprojection-weighted estimate), keypoints_2d `[F, 17, 2]`, intrinsics `[F, 3, 3]`, energy and prior (names:
`--prior auto` is stored as what it chose, e.g. 'wide_proportions (auto)' for exact keypoints); plus a PNG of the
first frame.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.validation import PoseDiffError

NAME = "estimate"
HELP = "estimate 3D pose hypotheses from 2D heatmaps / keypoints (+ intrinsics) or a photo"


def add_arguments(parser):
    from posediff_jax.commands import common
    from posediff_jax.guidance.render import DETECTOR_SIGMA, RENDER_SIGMA

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help=".npz with heatmaps+image_to_heatmap+intrinsics or keypoints_2d+intrinsics")
    source.add_argument("--image", help="a photo; runs the BlazePose detector (needs the detector extra)")
    parser.add_argument("--all-people", action="store_true", help="with --image: every detected person")
    parser.add_argument("--energy", choices=("heatmap", "keypoints"), default="heatmap",
                        help="for keypoint input: render Gaussian heatmaps (default) or robust reprojection")
    parser.add_argument("--sigma", type=float, default=RENDER_SIGMA,
                        help=f"rendered heatmap sigma (heatmap pixels; default {RENDER_SIGMA})")
    parser.add_argument("--detector-sigma", type=float, default=DETECTOR_SIGMA,
                        help="keypoint input: the detector's error in heatmap pixels, widens the rendered heatmaps "
                             f"(default {DETECTOR_SIGMA}; 0 for exact keypoints)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per sampler call")
    common.add_sampling_arguments(parser, "heatmap", default_hypotheses=50,
                                  output_help="output .npz (default: INPUT_hypotheses.npz in the current folder; "
                                              "a .png is written beside it)")


def evidence_from_npz(path, energy: str, sigma: float, detector_sigma: float = 0.0):
    """(evidence with a leading frames axis, energy name, exact) from an .npz (see the module docstring): `exact`
    when the 2D is keypoints declared free of detector error (`--detector-sigma 0`; heatmaps come from a detector).
    It picks the 'auto' guidance schedule."""
    from posediff_jax.commands import common
    from posediff_jax.guidance.registry import get_energy

    data = common.load_npz(path)
    if energy == "keypoints" and "heatmaps" not in data:
        return get_energy("keypoints").evidence_from_arrays(data), "keypoints", detector_sigma == 0
    evidence = get_energy("heatmap").evidence_from_arrays(data, sigma=sigma, detector_sigma=detector_sigma)
    return evidence, "heatmap", "heatmaps" not in data and detector_sigma == 0


def evidence_from_image(image_path, all_people: bool):
    try:
        from posediff_jax.detector import image_to_evidence
    except ImportError as error:
        raise PoseDiffError(
            f"--image needs the detector front end ({error}); install the extra: pip install 'posediff_jax[detector]'"
        ) from None
    from posediff_jax.guidance import evidence as evidence_lib

    people = image_to_evidence(image_path, all_people=all_people, intrinsics=None)
    evidence = evidence_lib.stack_evidence([person for person, _ in people])
    return evidence, [info for _, info in people]


@jax.jit
def summarize_hypotheses(hypotheses, evidence):
    """(mean, mean-shift mode, reprojection-weighted estimate, its root) of `[F, m, 17, 3]` hypotheses: poses
    `[F, 17, 3]`, root `[F, 3]`; one compiled call (op by op it costs ~150 small compilations)."""
    from posediff_jax import geometry
    from posediff_jax.sampling import aggregate

    mean = aggregate.mean_pose(hypotheses)
    mode = aggregate.mean_shift_pose(hypotheses)
    selected = jax.vmap(aggregate.reprojection_weighted_pose)(hypotheses, evidence)
    solved = geometry.solve_root_translation(selected, evidence.keypoints_2d, evidence.intrinsics,
                                             evidence.joint_weights)
    return mean, mode, selected, jnp.where(evidence.use_given_root[:, None], evidence.root_translation, solved)


def default_output(args):
    return f"{pathlib.Path(args.image or args.input).stem}_hypotheses.npz"


def run(args) -> int:
    from posediff_jax.commands import common
    from posediff_jax.guidance import evidence as evidence_lib
    from posediff_jax.guidance.registry import make_energy
    from posediff_jax.sampling import make_sampler
    from posediff_jax.sampling.config import resolve_scale_schedule
    from posediff_jax.sampling.export_cache import call_stored

    common.check_run_arguments(args, default_output(args), inputs=(("--image", args.image), ("--input", args.input)))
    if args.batch_size < 1:
        raise PoseDiffError(f"--batch-size: expected >= 1, got {args.batch_size}")
    if args.image and pathlib.Path(args.image).is_dir():
        raise PoseDiffError(f"--image: {args.image!r} is a folder; expected an image file")
    if args.image and not pathlib.Path(args.image).is_file():
        raise PoseDiffError(f"--image: file {args.image!r} not found")
    infos = None
    if args.image:
        evidence, infos = evidence_from_image(args.image, args.all_people)
        energy_name, exact = "heatmap", False
    else:
        evidence, energy_name, exact = evidence_from_npz(args.input, args.energy, args.sigma, args.detector_sigma)
    common.check_result_memory(evidence_lib.num_frames(evidence), args.num_hypotheses)
    config = resolve_scale_schedule(common.sampler_config(args, energy_name), exact_evidence=exact)
    prior = common.load_prior(args, exact_evidence=exact)
    export_cache = common.export_cache(args, energy_name)
    sampler = make_sampler(prior, make_energy(energy_name), config, export_cache=export_cache)
    hypotheses, energies = common.sample_in_batches(sampler, evidence, args, "estimate", args.batch_size)
    summary = call_stored(export_cache, "summarize_hypotheses", summarize_hypotheses, (hypotheses, evidence))
    mean, mode, selected, root = (np.asarray(value) for value in summary)
    common.check_finite_results("estimate", hypotheses, energies, derived={
        "mean_pose": mean, "mode_pose": mode, "reprojection_weighted": selected, "root_translation": root})
    arrays = {
        "hypotheses": hypotheses.astype(np.float32),
        "energies": energies.astype(np.float32),
        "mean_pose": mean.astype(np.float32),
        "mode_pose": mode.astype(np.float32),
        "reprojection_weighted": selected.astype(np.float32),
        "root_translation": root.astype(np.float32),
        "keypoints_2d": np.asarray(evidence.keypoints_2d, np.float32),
        "joint_weights": np.asarray(evidence.joint_weights, np.float32),
        "intrinsics": np.asarray(evidence.intrinsics, np.float32),
        "energy": np.asarray(energy_name),
        "prior": np.asarray(common.prior_label(args, exact_evidence=exact)),
        "sampler": common.sampler_record(config),
    }
    plot_fn = None
    if not args.no_plot:
        plot_fn = _plot_first_frame(args, evidence, hypotheses, selected, root, infos)
    npz_path, png_path = common.write_outputs(args.output, arrays, plot_fn)
    print(f"wrote {npz_path} ({len(hypotheses)} frame(s) x {args.num_hypotheses} hypotheses)"
          + (f" and {png_path}" if png_path else ""))
    return 0


def _plot_first_frame(args, evidence, hypotheses, selected, root, infos):
    from posediff_jax import geometry
    from posediff_jax.visualization import heatmap_max_projection, plot_hypotheses

    keypoints = np.asarray(evidence.keypoints_2d[0])
    reprojected = np.asarray(geometry.project_to_pixels(jnp.asarray(selected[0] + root[0]), evidence.intrinsics[0]))
    background = None
    if args.image:
        from posediff_jax.detector.image_io import read_image

        background = read_image(args.image)  # as the detector saw it (upright, 16-bit scaled, size checked)
    elif hasattr(evidence, "heatmaps"):
        affine = np.asarray(evidence.image_to_heatmap[0], np.float64)
        background = heatmap_max_projection(evidence.heatmaps[0])
        keypoints = keypoints @ affine[:, :2].T + affine[:, 2]
        reprojected = reprojected @ affine[:, :2].T + affine[:, 2]

    def plot(path):
        plot_hypotheses(path, hypotheses[0], evidence_image=background, keypoints_2d=keypoints,
                        reprojected_2d=reprojected, joint_weights=np.asarray(evidence.joint_weights[0]), title=f"posediff estimate: frame 0, {hypotheses.shape[1]} hypotheses")

    return plot
