"""The 'plausibility' evaluator: unconditional samples against real poses.

Reports `plausibility_metrics` against training poses, coverage (MPJPE from real held-out poses to the nearest
sample, beside the same for training poses) and the mean z of the body's up vector (cameras look down: -0.2).
"""

import time

import numpy as np

from posediff_jax.evaluation import report
from posediff_jax.evaluation.evaluators import evaluation_prior, evaluator_workdir, register_evaluator
from posediff_jax.plausibility import plausibility_metrics
from posediff_jax.random_keys import seed_key


def nearest_distances(real, candidates, chunk: int = 64) -> np.ndarray:
    """MPJPE (mm) from each real pose `[R, 17, 3]` to its nearest candidate `[N, 17, 3]` -> `[R]`."""
    real, candidates = np.asarray(real, np.float32), np.asarray(candidates, np.float32)
    nearest = np.empty(len(real), np.float32)
    for start in range(0, len(real), chunk):
        block = real[start:start + chunk]
        nearest[start:start + chunk] = np.linalg.norm(block[:, None] - candidates[None], axis=-1).mean(-1).min(1)
    return nearest


def up_vector_z(poses) -> float:
    """Mean z (optical-axis) component of the body's up vector of poses `[N, 17, 3]`."""
    from posediff_jax.data.augment import body_up_vectors
    return float(body_up_vectors(poses)[:, 2].mean())


@register_evaluator("plausibility")
def evaluate_plausibility(config, checkpoint=None, workdir=None, prior=None, progress=True, log=print):
    from posediff_jax.data.pipeline import load_training_poses
    from posediff_jax.data.videopose3d import read_positions_3d
    from posediff_jax.sampling import make_sampler
    from posediff_jax.sampling.config import from_section
    settings = config.plausibility
    workdir = evaluator_workdir(config, workdir, "posediff_eval_plausibility", create=False)
    prior_label, prior = evaluation_prior(checkpoint, prior)
    sampler_config = from_section(config.sampler)
    start = time.perf_counter()
    samples = np.asarray(make_sampler(prior, None, sampler_config).sample(
        seed_key(int(config.seed)), None, int(settings.num_samples)))
    seconds = time.perf_counter() - start
    positions = read_positions_3d(config.data.manual_dir)  # once for both splits: None entries warn once
    reference = load_training_poses(None, config.data.manual_dir, "train", tuple(settings.reference_subjects),
                                    int(settings.reference_stride), positions=positions)
    rng = np.random.default_rng(int(config.seed))
    real = load_training_poses(None, config.data.manual_dir, "test", tuple(config.data.subjects) or ("S9",),
                               int(config.data.frame_stride), positions=positions)
    real = real[rng.choice(len(real), min(int(settings.num_real), len(real)), replace=False)]
    evaluator_workdir(config, workdir, workdir)
    training_draw = reference[rng.choice(len(reference), min(len(samples), len(reference)), replace=False)]
    metrics = plausibility_metrics(samples, reference)
    sample_distance, training_distance = nearest_distances(real, samples), nearest_distances(real, training_draw)
    metrics.update({
        "coverage_nearest_sample_mean_mm": float(sample_distance.mean()),
        "coverage_nearest_sample_median_mm": float(np.median(sample_distance)),
        "coverage_nearest_training_pose_mean_mm": float(training_distance.mean()),
        "coverage_nearest_training_pose_median_mm": float(np.median(training_distance)),
        "up_vector_z_samples": up_vector_z(samples),
        "up_vector_z_training": up_vector_z(reference),
        "up_vector_z_real": up_vector_z(real),
        "sampling_seconds": seconds,
    })
    title = (f"plausibility: {len(samples)} samples ({sampler_config.num_steps} {sampler_config.method} steps) vs "
             f"{len(reference)} training poses; coverage of {len(real)} real {tuple(config.data.subjects)} poses")
    rows = [[name, value] for name, value in metrics.items()]
    markdown = f"{title}\n\n{report.markdown_table(['metric', 'value'], rows, digits=2)}\n"
    paths = report.write_reports(workdir, {"summary": metrics, "title": title, "config": config.to_dict(),
                                           "checkpoint": prior_label}, markdown)
    log(markdown)
    return {"summary": metrics, "markdown": markdown, "paths": paths, "workdir": workdir, "seconds": seconds}
