"""`posediff demo`: the shipped priors on shipped examples; prints a best-of-m table and writes PNGs.

1. Human3.6M S9 example frames (`assets/examples/h36m_s9_examples.npz`): heatmaps around the Stacked-Hourglass
   detections (or the ground-truth projection, `--evidence gt_heatmaps`), best-of-m errors for m = 1, 10, 50, ...
2. The shipped photo (`assets/images/apollo11_crew.jpg`) through the BlazePose front end, if installed.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from posediff_jax.commands import common
from posediff_jax.guidance import heatmap_evidence_from_keypoints, index_evidence, make_heatmap_energy
from posediff_jax.guidance.render import DETECTOR_SIGMA
from posediff_jax.io_utils import make_writable_folder
from posediff_jax.random_keys import seed_key
from posediff_jax.sampling import aggregate, make_sampler, resolve_scale_schedule
from posediff_jax.sampling.config import add_sampler_arguments, matmul_words
from posediff_jax.validation import PoseDiffError

NAME = "demo"
HELP = "run the shipped prior on shipped examples: print a best-of-m table, write PNGs of the hypotheses"

EXAMPLES_PATH = pathlib.Path(__file__).resolve().parents[1] / "assets" / "examples" / "h36m_s9_examples.npz"
DETECTOR_INSTALL_HINT = 'pip install "posediff_jax[detector]"  (the TFLite runtime, ai-edge-litert)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-dir", default="posediff_demo_output", help="where the PNGs go")
    parser.add_argument("--num-hypotheses", type=int, default=100, help="hypotheses per frame (m)")
    parser.add_argument("--evidence", choices=("detections", "gt_heatmaps"), default="detections",
                        help="heatmaps around the Stacked-Hourglass detections or the ground-truth projection")
    parser.add_argument("--no-image", action="store_true", help="skip the photo (image path)")
    parser.add_argument("--seed", type=int, default=0)
    common.add_prior_argument(parser)
    add_sampler_arguments(parser, "heatmap")


def load_examples(path=EXAMPLES_PATH) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def best_of_m_rows(hypotheses, target, levels) -> list[list]:
    """Rows (m, P-best MPJPE, P-best PA-MPJPE, J-best MPJPE) averaged over frames, for each m in `levels`."""
    from posediff_jax import metrics

    columns = [metrics.best_of_m(hypotheses, target, metric, mode, list(levels))
               for metric, mode in (("mpjpe", "pose"), ("pa_mpjpe", "pose"), ("mpjpe", "joint"))]
    return [[str(k)] + [float(np.mean(column[k])) for column in columns] for k in levels]


def table_levels(num_hypotheses: int) -> list[int]:
    return sorted({k for k in (1, 10, 50, 200) if k <= num_hypotheses} | {num_hypotheses})


def run_examples(prior, args, output_dir: pathlib.Path, log=print) -> dict:
    from posediff_jax.evaluation import hypothesis_metrics, report

    examples = load_examples()
    if args.evidence == "detections":
        evidence = heatmap_evidence_from_keypoints(examples["keypoints_2d_detected"], examples["intrinsics"],
                                                   joint_weights=examples["detection_mask"].astype(np.float32),
                                                   detector_sigma=DETECTOR_SIGMA)
    else:
        evidence = heatmap_evidence_from_keypoints(examples["keypoints_2d_gt"], examples["intrinsics"])
    config = resolve_scale_schedule(args.sampler_config, exact_evidence=args.evidence != "detections")
    sampler = make_sampler(prior, make_heatmap_energy(), config, export_cache=common.export_cache(args, "heatmap"))
    start = time.perf_counter()
    hypotheses = np.asarray(sampler.sample_batch(seed_key(args.seed), evidence, args.num_hypotheses))
    seconds = time.perf_counter() - start
    target = examples["pose_3d"]
    rows = best_of_m_rows(hypotheses, target, table_levels(args.num_hypotheses))
    for label, name in (("single estimate: mean-shift mode", "mean_shift"), ("mean of hypotheses", "mean")):
        estimate = np.asarray(hypothesis_metrics.aggregate(hypotheses, name))
        errors = hypothesis_metrics.aggregate_errors(estimate, target)
        rows.append([label, float(np.mean(errors["mpjpe"])), float(np.mean(errors["pa_mpjpe"])), None])
    diversity = float(np.mean(np.asarray(hypothesis_metrics.diversity(hypotheses))))
    table = report.markdown_table(["m", "MPJPE P-best (mm)", "PA-MPJPE P-best (mm)", "MPJPE J-best (mm)"], rows)
    prior_label = common.prior_label(args, exact_evidence=args.evidence != "detections")
    log(f"\nHuman3.6M S9, {len(target)} example frames, evidence '{args.evidence}', prior {prior_label}, "
        f"{args.num_hypotheses} hypotheses, {config.num_steps} {config.method.upper()} steps x "
        f"{config.guidance_repeats} guided updates, {config.scale_schedule} step{matmul_words(config)} "
        f"(sampling incl. compile: {seconds:.1f} s); diversity {diversity:.1f} mm\n")
    log(table)
    from posediff_jax.visualization import plot_on_evidence

    written = []
    for index in range(len(target)):
        action = str(examples["action"][index]).replace(" ", "_")
        path = output_dir / f"h36m_s9_{index}_{action}.png"
        title = f"S9 {examples['action'][index]}, camera {examples['camera'][index]}, frame {examples['frame'][index]}"
        plot_on_evidence(path, hypotheses[index], index_evidence(evidence, index), ground_truth=target[index],
                         title=title)
        written.append(path)
    return {"table": table, "rows": rows, "hypotheses": hypotheses, "written": written, "seconds": seconds}


def run_image(prior, args, output_dir: pathlib.Path, log=print) -> list[pathlib.Path]:
    from posediff_jax import detector

    image_path = detector.default_image_path()
    try:
        people = detector.image_to_evidence(image_path)
    except detector.DetectorNotInstalledError:
        log(f"\nimage path skipped: the detector runtime is not installed. Install it with\n  {DETECTOR_INSTALL_HINT}")
        return []
    evidence, info = people[0]
    sampler = make_sampler(prior, make_heatmap_energy(), resolve_scale_schedule(args.sampler_config, False),
                           export_cache=common.export_cache(args, "heatmap"))
    hypotheses = np.asarray(sampler.sample(seed_key(args.seed), evidence, args.num_hypotheses))
    from posediff_jax.detector.image_io import read_image
    from posediff_jax.visualization import plot_on_evidence

    path = output_dir / "apollo11_crew_hypotheses.png"
    plot_on_evidence(path, hypotheses, evidence, photo=read_image(image_path),
                     estimate=np.asarray(aggregate.reprojection_weighted_pose(hypotheses, evidence)),
                     title=f"{pathlib.Path(image_path).name}: largest person, {args.num_hypotheses} hypotheses")
    log(f"\nphoto {pathlib.Path(image_path).name}: {len(hypotheses)} hypotheses for the largest person "
        f"(intrinsics: {info.get('intrinsics_source', 'given')})")
    return [path]


def run(args) -> int:
    if args.num_hypotheses < 1:
        raise PoseDiffError(f"--num-hypotheses: expected >= 1, got {args.num_hypotheses}")
    common.check_seed(args.seed)
    common.check_result_memory(len(load_examples()["pose_3d"]), args.num_hypotheses)
    args.sampler_config = common.sampler_config(args, "heatmap")
    start = time.perf_counter()
    from posediff_jax.prior import prior_name

    output_dir = make_writable_folder(args.output_dir, "--output-dir")
    exact = args.evidence != "detections"  # the examples' 2D; the photo's is always the detector's
    prior = common.load_prior(args, exact_evidence=exact)
    result = run_examples(prior, args, output_dir)
    written = list(result["written"])
    if not args.no_image:  # the examples' prior unless 'auto' chose another one for their exact 2D
        same = prior_name(args.prior, exact) == prior_name(args.prior, False)
        written += run_image(prior if same else common.load_prior(args), args, output_dir)
    print(f"\nwrote {len(written)} PNG(s) to {output_dir}/ ({time.perf_counter() - start:.1f} s in total)")
    for path in written:
        print(f"  {path}")
    return 0
