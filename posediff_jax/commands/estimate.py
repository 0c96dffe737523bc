"""`posediff estimate`: 3D pose hypotheses from 2D evidence (heatmaps or keypoints + intrinsics, or a photo).

Inputs: `--input file.npz` with `heatmaps [F?, 17, H, W]` + `image_to_heatmap [F?, 2, 3]` + `intrinsics`, or
`keypoints_2d [F?, 17, 2]` + `intrinsics` (`guidance/array_inputs.py`), keypoints rendered into heatmaps widened by
`--detector-sigma` (0 for exact keypoints) or read by the reprojection energy (`--energy keypoints`); a camera rig
(`guidance/multiview.py`: the same arrays per view, `[F?, V, ...]`, plus world -> camera `rotation`,
`translation`; its output adds `hypotheses_world`, `mode_pose_world` and `root_translation` of the reference
view, and its PNG shows every view); or
`--image photo.jpg [photos/ ...]` through the BlazePose front end, a frame per person found (`--all-people`), one
compiled sampler for every photo, unusable photos of several skipped (`detector/photo_set.py`).

Output `.npz` (frames axis first): hypotheses `[F, m, 17, 3]` mm root-relative, energies `[F, m]`, mean_pose,
mode_pose (the mean-shift mode: the single estimate to take), reprojection_weighted `[F, 17, 3]` and its
root_translation `[F, 3]`, keypoints_2d, joint_weights, intrinsics, energy, prior (what `--prior auto` chose) and
sampler; with `--image` also image_files, person_index (0: the largest), intrinsics_source per frame and
skipped_images / skipped_reasons. Plus a PNG of the first frame, and with `--plots-folder DIR` one per frame
(`00007_photo_person1.png`, `frame_00007.png`), written after the .npz.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import numpy as np

from posediff_jax import geometry
from posediff_jax.commands import common
from posediff_jax.guidance import evidence as evidence_lib
from posediff_jax.guidance.array_inputs import INPUT_ARRAYS
from posediff_jax.guidance.registry import get_energy, make_energy
from posediff_jax.guidance.render import DETECTOR_SIGMA, RENDER_SIGMA
from posediff_jax.io_utils import atomic_path, make_writable_folder
from posediff_jax.sampling import aggregate, for_views, make_sampler, resolve_scale_schedule
from posediff_jax.validation import PoseDiffError

# A rendered heatmap is 64 px a side (the person's box x 1.25): a Gaussian wider than that is flat over it and
# localises nothing, so --sigma and --detector-sigma beyond it are no keypoint error (another unit?).
MAX_SIGMA = 64.0

NAME = "estimate"
HELP = "estimate 3D pose hypotheses from 2D heatmaps / keypoints (+ intrinsics) or a photo"


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help=".npz with heatmaps+image_to_heatmap+intrinsics or keypoints_2d+intrinsics")
    source.add_argument("--image", nargs="+", metavar="PHOTO",
                        help="one or more photos or folders of photos; runs the BlazePose detector (needs the "
                             "detector extra). With several, a photo that gives no person is skipped with a warning")
    parser.add_argument("--all-people", action="store_true", help="with --image: every detected person of a photo")
    parser.add_argument("--field-of-view", type=float, default=None, metavar="DEGREES",
                        help="with --image: the angle the photo's longer side spans (default: from the photo's Exif "
                             "35 mm equivalent focal length when recorded, else 50)")
    parser.add_argument("--energy", choices=("heatmap", "keypoints"), default="heatmap",
                        help="for keypoint input: render Gaussian heatmaps (default) or robust reprojection")
    parser.add_argument("--sigma", type=float, default=RENDER_SIGMA,
                        help=f"rendered heatmap sigma (heatmap pixels; default {RENDER_SIGMA})")
    parser.add_argument("--detector-sigma", type=float, default=DETECTOR_SIGMA,
                        help="keypoint input: the detector's error in heatmap pixels, widens the rendered heatmaps "
                             f"(default {DETECTOR_SIGMA}; 0 for exact keypoints)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per sampler call")
    parser.add_argument("--plots-folder", type=pathlib.Path, default=None, metavar="DIR",
                        help="also write one PNG per frame into DIR (created), e.g. one per person "
                             "of a folder of photos")
    common.add_sampling_arguments(parser, "heatmap", default_hypotheses=50,
                                  output_help="output .npz (default: INPUT_hypotheses.npz in the current folder; "
                                              "a .png is written beside it)")


def evidence_from_npz(path, energy: str, sigma: float, detector_sigma: float = 0.0):
    """(evidence with a frames axis, energy name, exact) of an .npz: `exact` for keypoints with `detector_sigma` 0
    (it picks the 'auto' guidance schedule and prior)."""
    data = common.load_npz(path, accepted=INPUT_ARRAYS["2d"] + INPUT_ARRAYS["rig"])
    if "rotation" in data or "translation" in data:
        evidence = get_energy("multiview").evidence_from_arrays(data, sigma=sigma, detector_sigma=detector_sigma)
        return evidence, "multiview", "heatmaps" not in data and detector_sigma == 0
    if energy == "keypoints" and "heatmaps" not in data:
        return get_energy("keypoints").evidence_from_arrays(data), "keypoints", detector_sigma == 0
    evidence = get_energy("heatmap").evidence_from_arrays(data, sigma=sigma, detector_sigma=detector_sigma)
    return evidence, "heatmap", "heatmaps" not in data and detector_sigma == 0


def detector_front_end():
    """The `posediff_jax.detector` package, or a `PoseDiffError` saying how to install it."""
    try:
        from posediff_jax import detector
        from posediff_jax.detector import photo_set  # noqa: F401 (imported for `detector.photo_set`)
    except ImportError as error:
        raise PoseDiffError(f"--image needs the detector front end ({error}); install the extra: "
                            "pip install 'posediff_jax[detector]'") from None
    return detector


def evidence_from_images(photos, all_people: bool, quiet: bool = True, field_of_view_degrees=None):
    """(evidence with a frame per person found, `photo_set.PeopleFound`) of a `PhotoSet`, with a progress bar."""
    detector = detector_front_end()

    with common.progress_bar(len(photos.files), quiet or not photos.several, "detect", "photo") as bar:
        front_end = functools.partial(detector.image_to_evidence, field_of_view_degrees=field_of_view_degrees)
        found = detector.photo_set.find_people(photos, all_people, front_end, progress=lambda: bar.update(1))
    return evidence_lib.stack_evidence(found.evidence), found


@jax.jit
def summarize_hypotheses(hypotheses, evidence):
    """(mean, mean-shift mode, reprojection-weighted estimate `[F, 17, 3]`, its root `[F, 3]`) of `[F, m, 17, 3]`
    hypotheses, in one compiled call."""
    selected = jax.vmap(aggregate.reprojection_weighted_pose)(hypotheses, evidence)
    return (aggregate.mean_pose(hypotheses), aggregate.mean_shift_pose(hypotheses), selected,
            geometry.root_translation_for(selected, evidence))


def default_output(args):
    """INPUT_hypotheses.npz: named after the --input file, the one photo or folder given, else 'photos'."""
    if args.image:
        named = pathlib.Path(args.image[0]).resolve().stem if len(args.image) == 1 else ""
        return f"{named or 'photos'}_hypotheses.npz"
    return f"{pathlib.Path(args.input).stem}_hypotheses.npz"


def run(args) -> int:
    from posediff_jax.sampling.export_cache import call_stored

    photos = detector_front_end().photo_set.expand_photo_paths(args.image) if args.image else None
    inputs = [("--image", path) for path in photos.files] if photos else [("--input", args.input)]
    common.check_run_arguments(args, default_output(args), inputs=inputs)
    if args.batch_size < 1:
        raise PoseDiffError(f"--batch-size: expected >= 1, got {args.batch_size}")
    for flag, value in (("--sigma", args.sigma), ("--detector-sigma", args.detector_sigma)):
        if value > MAX_SIGMA:
            raise PoseDiffError(f"{flag}: {value:g} heatmap pixels is wider than the {MAX_SIGMA:g}-px heatmap (it "
                                "would localise nothing); expected a keypoint error in heatmap pixels, e.g. 2")
    if args.field_of_view is not None and not args.image:
        raise PoseDiffError("--field-of-view: applies to --image (an --input file carries its own intrinsics)")
    if args.field_of_view is not None and not 1.0 <= args.field_of_view <= 179.0:
        raise PoseDiffError(f"--field-of-view: expected degrees in [1, 179], got {args.field_of_view:g}")
    if args.plots_folder is not None:
        if any(common.same_file(args.plots_folder, path) for path in args.image or ()):
            raise PoseDiffError(f"--plots-folder: {str(args.plots_folder)!r} is an --image folder; the plots would be "
                                "read as photos by the next run over it, choose another folder")
        make_writable_folder(args.plots_folder, "--plots-folder")  # before any work
    found = None
    if photos:
        evidence, found = evidence_from_images(photos, args.all_people, args.quiet, args.field_of_view)
        energy_name, exact = "heatmap", False
    else:
        evidence, energy_name, exact = evidence_from_npz(args.input, args.energy, args.sigma, args.detector_sigma)
    common.check_result_memory(evidence_lib.num_frames(evidence), args.num_hypotheses)
    plot_paths = None
    if args.plots_folder is not None:  # named once the people are known, checked before sampling
        plot_paths = [args.plots_folder / frame_plot_name(frame, photo_of(found, frame))
                      for frame in range(evidence_lib.num_frames(evidence))]
        common.check_outputs_are_not_inputs([(path, "--plots-folder") for path in plot_paths], inputs)
    config = resolve_scale_schedule(common.sampler_config(args, energy_name), exact_evidence=exact)
    prior = common.load_prior(args, exact_evidence=exact)
    export_cache = common.export_cache(args, energy_name)
    if energy_name == "multiview":
        config = for_views(config, evidence.rotations.shape[1])
    sampler = make_sampler(prior, make_energy(energy_name), config, export_cache=export_cache)
    hypotheses, energies = common.sample_in_batches(sampler, evidence, args, "estimate", args.batch_size)
    if energy_name == "multiview":
        return write_rig_outputs(args, evidence, hypotheses, energies, config, exact)
    summary = call_stored(export_cache, "summarize_hypotheses", summarize_hypotheses, (hypotheses, evidence))
    mean, mode, selected, root = (np.asarray(value) for value in summary)
    common.check_finite_results("estimate", hypotheses, energies, derived={
        "mean_pose": mean, "mode_pose": mode, "reprojection_weighted": selected, "root_translation": root},
        placed=(selected, root, evidence.joint_weights), physical=args.prior != "tiny")
    arrays = {name: np.asarray(value, np.float32) for name, value in {
        "hypotheses": hypotheses, "energies": energies, "mean_pose": mean, "mode_pose": mode,
        "reprojection_weighted": selected, "root_translation": root, "keypoints_2d": evidence.keypoints_2d,
        "joint_weights": evidence.joint_weights, "intrinsics": evidence.intrinsics}.items()}
    arrays.update(energy=np.asarray(energy_name), prior=np.asarray(common.prior_label(args, exact_evidence=exact)),
                  sampler=common.sampler_record(config))
    if found is not None:
        arrays.update(image_files=np.asarray(found.image_files, dtype=str),
                      person_index=np.asarray(found.person_index, np.int32),
                      intrinsics_source=np.asarray(found.intrinsics_source, dtype=str),
                      skipped_images=np.asarray([path for path, _ in found.skipped], dtype=str),
                      skipped_reasons=np.asarray([reason for _, reason in found.skipped], dtype=str))
    plot = functools.partial(_plot_frame, evidence, hypotheses, selected, root, found)
    npz_path, png_path = common.write_outputs(args.output, arrays, None if args.no_plot else plot(0))
    if plot_paths is not None:  # each written atomically
        with common.progress_bar(len(plot_paths), args.quiet, "plot", "frame") as bar:
            for frame, path in enumerate(plot_paths):
                with atomic_path(path) as temporary:
                    plot(frame)(str(temporary))
                bar.update(1)
    from_photos = ""
    if found is not None and photos.several:
        from_photos = f" from {len(set(found.image_files))} of {len(photos.files)} photos" + (
            f", {len(found.skipped)} skipped (listed under skipped_images)" if found.skipped else "")
    print(f"wrote {npz_path} ({len(hypotheses)} frame(s) x {args.num_hypotheses} hypotheses{from_photos})"
          + (f" and {png_path}" if png_path else ""))
    if plot_paths is not None:
        print(f"wrote {len(plot_paths)} PNG(s) to {args.plots_folder}")
    return 0


@jax.jit
def summarize_rig(hypotheses, evidence):
    """(mean, mean-shift mode `[F, 17, 3]`, the mode's views `[F, V, 17, 3]` and roots `[F, V, 3]`, hypotheses and
    mode in world coordinates) of a rig's `[F, m, 17, 3]` hypotheses."""
    from posediff_jax.guidance import multiview

    mode = aggregate.mean_shift_pose(hypotheses)
    in_views, roots = jax.vmap(multiview.in_views)(mode, evidence)
    world = jax.vmap(jax.vmap(multiview.world_pose, (0, None)))(hypotheses, evidence)
    return aggregate.mean_pose(hypotheses), mode, in_views, roots, world, jax.vmap(multiview.world_pose)(mode, evidence)


def write_rig_outputs(args, evidence, hypotheses, energies, config, exact) -> int:
    """The rig's .npz and PNG (module docstring); refused like one camera's when the person is behind a camera
    that sees them."""
    from posediff_jax.visualization import plot_rig

    mean, mode, in_views, roots, world, mode_world = (np.asarray(value) for value in summarize_rig(hypotheses, evidence))
    weights = np.asarray(evidence.views.joint_weights) * np.asarray(evidence.view_weights)[..., None]
    seeing = weights.any(-1).reshape(-1)  # only a camera that sees the person must have it in front
    common.check_finite_results("estimate", hypotheses, energies, derived={"mode_pose_world": mode_world},
                                placed=(in_views.reshape(-1, 17, 3)[seeing], roots.reshape(-1, 3)[seeing],
                                        weights.reshape(-1, 17)[seeing]), physical=args.prior != "tiny")
    arrays = {name: np.asarray(value, np.float32) for name, value in {
        "hypotheses": hypotheses, "energies": energies, "mean_pose": mean, "mode_pose": mode,
        "root_translation": roots[:, 0], "hypotheses_world": world, "mode_pose_world": mode_world,
        "keypoints_2d": evidence.views.keypoints_2d, "joint_weights": weights,
        "intrinsics": evidence.views.intrinsics}.items()}
    arrays.update(energy=np.asarray("multiview"), prior=np.asarray(common.prior_label(args, exact_evidence=exact)),
                  sampler=common.sampler_record(config))
    plot = None if args.no_plot else functools.partial(
        plot_rig, hypotheses=hypotheses[0], evidence=evidence_lib.index_evidence(evidence, 0), estimate=mode[0],
        title=f"posediff estimate: frame 0, {hypotheses.shape[1]} hypotheses, {weights.shape[1]} views")
    npz_path, png_path = common.write_outputs(args.output, arrays, plot)
    print(f"wrote {npz_path} ({len(hypotheses)} frame(s) x {args.num_hypotheses} hypotheses, {weights.shape[1]} views)"
          + (f" and {png_path}" if png_path else ""))
    return 0


def photo_of(found, frame: int):
    """(photo path, person index) of `frame` when the evidence came from photos (`found`), else None."""
    return None if found is None else (found.image_files[frame], found.person_index[frame])


def frame_plot_name(frame: int, photo) -> str:
    """The --plots-folder file name of `frame`: sortable by frame, and naming the photo and person when there is one."""
    if photo is None:
        return f"frame_{frame:05d}.png"
    path, person = photo
    return f"{frame:05d}_{pathlib.Path(path).stem}_person{person}.png"


def _plot_frame(evidence, hypotheses, selected, root, found, frame: int):
    """A function writing the PNG of `frame` (on its photo when the evidence came from photos, `found`)."""
    from posediff_jax.visualization import plot_on_evidence

    photo = photo_of(found, frame)
    background, named = None, ""
    if photo is not None:
        from posediff_jax.detector.image_io import read_image

        background = read_image(photo[0])  # as the detector saw it (upright, 16-bit scaled, size checked)
        named = f" ({pathlib.Path(photo[0]).name}, person {photo[1]})"
    return functools.partial(plot_on_evidence, hypotheses=hypotheses[frame],
                             evidence=evidence_lib.index_evidence(evidence, frame), photo=background,
                             estimate=selected[frame], root=root[frame],
                             title=f"posediff estimate: frame {frame}{named}, {hypotheses.shape[1]} hypotheses")
