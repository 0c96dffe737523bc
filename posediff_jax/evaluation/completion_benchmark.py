"""The 'completion' evaluator: known 3D joints of held-out Human3.6M poses pinned, the rest sampled.

Per known-joint set (`KNOWN_SETS`): the pinned joints' error, the free joints' best-of-m and mean-pose errors,
and the median absolute bone-length deviation from the poses' mean bone lengths (mm).
"""

import time

import numpy as np

from posediff_jax import skeleton
from posediff_jax.evaluation import report
from posediff_jax.evaluation.evaluators import evaluation_prior, evaluator_workdir, register_evaluator
from posediff_jax.random_keys import seed_key
from posediff_jax.validation import PoseDiffError

KNOWN_SETS = {
    "lower_body_known": (0, 1, 2, 3, 4, 5, 6),
    "upper_body_known": (0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    "right_arm_missing": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13),
}


def held_out_poses(config) -> np.ndarray:
    """`num_poses` random `[N, 17, 3]` mm camera-frame poses of `config.data.subjects`."""
    from posediff_jax.data.pipeline import load_training_poses
    subjects = tuple(config.data.subjects) or ("S9",)
    poses = load_training_poses(None, config.data.manual_dir, "test", subjects, int(config.data.frame_stride))
    count = min(int(config.completion.num_poses), len(poses))
    return poses[np.random.default_rng(int(config.seed)).choice(len(poses), count, replace=False)]


def completion_metrics(hypotheses, poses, known) -> dict:
    """Metrics of completions `[F, m, 17, 3]` of `poses` `[F, 17, 3]` with `known` joint indices."""
    errors = np.linalg.norm(hypotheses - poses[:, None], axis=-1)  # [F, m, 17]
    unknown = [joint for joint in range(17) if joint not in known]
    lengths = np.asarray(skeleton.bone_lengths(hypotheses))
    data_lengths = np.asarray(skeleton.bone_lengths(poses)).mean(0)
    return {
        "known_joint_error_mm": float(errors[..., list(known)].mean()),
        "unknown_best_of_m_mm": float(errors[..., unknown].mean(-1).min(-1).mean()),
        "unknown_mean_hypothesis_mm": float(np.linalg.norm(hypotheses.mean(1) - poses, axis=-1)[:, unknown].mean()),
        "median_abs_bone_deviation_mm": float(np.median(np.abs(lengths - data_lengths))),
    }


@register_evaluator("completion")
def evaluate_completion(config, checkpoint=None, workdir=None, prior=None, poses=None, progress=True, log=print):
    from posediff_jax.guidance import make_completion_evidence, stack_evidence
    from posediff_jax.guidance.registry import make_energy
    from posediff_jax.sampling import make_sampler
    from posediff_jax.sampling.config import from_section, matmul_words
    unknown = sorted(set(config.completion.known_sets) - set(KNOWN_SETS))
    if unknown:
        raise PoseDiffError(f"config.completion.known_sets: unknown {unknown} (known: {sorted(KNOWN_SETS)})")
    workdir = evaluator_workdir(config, workdir, "posediff_eval_completion", create=False)
    prior_label, prior = evaluation_prior(checkpoint, prior)
    poses = held_out_poses(config) if poses is None else np.asarray(poses, np.float32)
    evaluator_workdir(config, workdir, workdir)
    sampler_config = from_section(config.sampler)
    sampler = make_sampler(prior, make_energy("completion", sigma=float(config.completion.sigma_mm)), sampler_config)
    num_hypotheses = max(int(k) for k in config.num_hypotheses)
    start = time.perf_counter()
    rows, summary = [], {}
    for name in config.completion.known_sets:
        known = KNOWN_SETS[name]
        mask = np.zeros((len(poses), 17), np.float32)
        mask[:, list(known)] = 1.0
        evidence = stack_evidence([make_completion_evidence(pose, row) for pose, row in zip(poses, mask)])
        hypotheses = np.asarray(sampler.sample_batch(seed_key(int(config.seed)), evidence, num_hypotheses))
        summary[name] = completion_metrics(hypotheses, poses, known)
        rows.append([name, *summary[name].values()])
    seconds = time.perf_counter() - start
    header = ["known joints", "known-joint error (mm)", f"free joints best-of-{num_hypotheses} (mm)",
              "free joints, mean pose (mm)", "median bone-length deviation (mm)"]
    title = (f"completion: {len(poses)} poses of {tuple(config.data.subjects)}, {num_hypotheses} hypotheses, "
             f"{sampler_config.num_steps} {sampler_config.method} steps, scale {sampler_config.guidance_scale}"
             f"{matmul_words(sampler_config)}")
    markdown = f"{title}\n\n{report.markdown_table(header, rows)}\n"
    paths = report.write_reports(workdir, {"summary": summary, "title": title, "config": config.to_dict(),
                                           "checkpoint": prior_label, "seconds": seconds}, markdown)
    log(markdown)
    return {"summary": summary, "markdown": markdown, "paths": paths, "workdir": workdir, "seconds": seconds}
