"""The benchmark evaluator: dataset frames -> evidence -> m hypotheses per frame -> metrics -> reports.

Frames go in batches of `config.batch_size` (the last padded by repeating its last frame, so one compiled
sampler serves all); batch b samples with `fold_in(seed_key(seed), b)` and is stored in `workdir/batches/`,
so a restarted run skips finished batches. Shards (`config.num_shards`) compute the batches b with
b % num_shards == shard_index on one workdir; the one that finds every batch stored writes the reports.
"""

import hashlib
import sys
import time
from typing import Mapping

import jax
import numpy as np

from posediff_jax.evaluation import evidence_sources, hypothesis_metrics, protocols, report
from posediff_jax.evaluation.evaluators import evaluation_prior, evaluator_workdir, register_evaluator
from posediff_jax.evaluation.results_store import ResultsStore
from posediff_jax.random_keys import seed_key
from posediff_jax.validation import PoseDiffError

LABEL_FIELDS = ("subject", "action", "camera", "frame", "sequence", "scene")


def load_prior_for_evaluation(name):
    """A prior folder or a shipped prior's name (tests replace this loader)."""
    from posediff_jax.prior import resolve_prior
    return resolve_prior(name)


def run_fingerprint(config, prior, num_frames: int) -> dict:
    """What the stored batches depend on; the prior by a short hash (a resumed run refuses a changed checkpoint)."""
    digest = hashlib.sha1()
    for leaf in jax.tree.leaves(prior.params) + jax.tree.leaves(prior.normalization):
        digest.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    # How results are shown or the work split, not what is computed: changing them keeps the batches.
    for key in ("workdir", "progress", "figure", "num_shards", "shard_index"):
        values.pop(key, None)
    return {"config": values, "prior": digest.hexdigest()[:16], "num_frames": int(num_frames)}


def make_batches(num_frames: int, batch_size: int) -> list[np.ndarray]:
    """Frame indices per batch; the last one padded with its last index to `batch_size`."""
    if num_frames < 1:
        raise PoseDiffError("evaluation: no frames selected (check subjects, cameras, stride and max_frames)")
    padded = np.minimum(np.arange(-(-num_frames // batch_size) * batch_size), num_frames - 1)
    return list(padded.reshape(-1, batch_size))


def _title(protocol, summary, config, prior_label, max_hypotheses, sampler_config, skipped) -> str:
    from posediff_jax.sampling.config import matmul_words, scale_schedule_name
    evidence = config.evidence
    noise = (f" ({float(evidence.get('keypoint_noise_px', 0.0)):g} px noise per axis)"
             if evidence.source == "noisy_gt" else "")
    dropout = float(sampler_config.evidence_dropout)
    title = (f"{protocol}: {summary['num_frames']} frames, evidence '{evidence.source}'{noise}, prior '{prior_label}', "
             f"{max_hypotheses} hypotheses, {sampler_config.num_steps} {sampler_config.method} steps x "
             f"{sampler_config.guidance_repeats} guided updates ({scale_schedule_name(sampler_config)} step"
             f"{f', evidence dropout {dropout:g}' if dropout > 0 else ''}), "
             f"aggregation '{config.get('aggregation', 'mean')}', guidance '{sampler_config.guidance}'"
             f"{matmul_words(sampler_config)}")
    if skipped:
        title += (f"; {sum(entry['frames'] for entry in skipped)} frames of {len(skipped)} sequence-cameras skipped "
                  "(no 2D detections, listed in results.json)")
    return title


@register_evaluator("guided_best_of_m")
def evaluate(config, checkpoint=None, workdir=None, prior=None, frames: Mapping[str, np.ndarray] | None = None,
             progress: bool = True, log=print) -> dict:
    """Runs the benchmark of `config`; returns {'summary', 'markdown', 'per_frame', 'workdir', 'paths', 'seconds',
    'batches_computed'} (a shard ending before the others: no results, and 'missing_batches').

    `checkpoint`: a prior folder or name (None: 'auto'); `prior` / `frames`: already loaded ones.
    """
    from posediff_jax.guidance.registry import make_energy
    from posediff_jax.sampling import aggregate as aggregation
    from posediff_jax.sampling import make_sampler
    from posediff_jax.sampling.config import for_views, from_section, resolve_scale_schedule

    protocol = config.dataset
    if protocol not in protocols.PROTOCOLS:
        raise PoseDiffError(f"config.dataset: expected one of {protocols.PROTOCOLS}, got {protocol!r}")
    energy_options = evidence_sources.check_evidence_config(config.evidence)
    workdir = evaluator_workdir(config, workdir, f"posediff_eval_{protocol}", create=False)
    num_hypotheses = sorted({int(k) for k in config.num_hypotheses})
    max_hypotheses = max(num_hypotheses)
    levels = tuple(float(level) for level in config.calibration_levels)
    exact_evidence = config.evidence.source in evidence_sources.EXACT_SOURCES
    prior_label, prior = evaluation_prior(checkpoint, prior, exact_evidence, load=load_prior_for_evaluation)
    if frames is None:
        from posediff_jax.data import evaluation_frames, multiview_frames
        frames = (multiview_frames.load_multiview_frames(config) if int(config.data.get("views", 0))
                  else evaluation_frames.load_frames(config))
    num_frames = len(frames["pose_3d"])
    evaluator_workdir(config, workdir, workdir)
    evidence_config = config.evidence
    heatmap_arrays = (evidence_sources.HeatmapArrays(evidence_config.heatmap_arrays_file)
                      if evidence_config.source == "heatmap_arrays" else None)
    sampler_config = resolve_scale_schedule(from_section(config.sampler), exact_evidence=exact_evidence)
    views = np.shape(frames["world_rotation"])[1] if "world_rotation" in frames else 0
    if views:
        sampler_config = for_views(sampler_config, views)
    energy_fn = make_energy("multiview" if views else "heatmap", **energy_options)
    sampler = make_sampler(prior, energy_fn, sampler_config)
    store = ResultsStore(workdir, run_fingerprint(config, prior, num_frames))
    batches = make_batches(num_frames, int(config.batch_size))
    key = seed_key(int(config.seed))
    label_fields = [field for field in LABEL_FIELDS if field in frames]
    num_shards, shard_index = int(config.get("num_shards", 1)), int(config.get("shard_index", 0))
    shard_words = f" of shard {shard_index} (of {num_shards})" if num_shards > 1 else ""
    own = [index for index in range(len(batches)) if index % num_shards == shard_index]
    todo = [index for index in own if not store.is_done(index)]
    if len(todo) < len(own):
        log(f"resuming: {len(own) - len(todo)} of {len(own)} batches{shard_words} already done in {workdir}")
    batch_indices = todo
    if progress:
        from tqdm import tqdm
        batch_indices = tqdm(todo, desc=f"evaluate {protocol}", unit="batch", file=sys.stderr)
    start = time.perf_counter()
    for batch_index in batch_indices:
        indices = batches[batch_index]
        real = len(np.unique(indices)) if batch_index == len(batches) - 1 else len(indices)
        evidence = evidence_sources.batch_evidence(
            evidence_config.source, frames, indices, sigma=evidence_config.sigma,
            heatmap_size=evidence_config.heatmap_size, use_gt_root=evidence_config.use_gt_root,
            heatmap_arrays=heatmap_arrays, detector_sigma=evidence_config.get("detector_sigma", 0.0),
            keypoint_noise_px=evidence_config.get("keypoint_noise_px", 0.0), seed=int(config.seed),
            undistort=bool(evidence_config.get("undistort", False)),
        )
        hypotheses = sampler.sample_batch(jax.random.fold_in(key, batch_index), evidence, max_hypotheses)
        single = aggregation.aggregate(config.get("aggregation", "mean"), hypotheses, evidence)
        columns = protocols.frame_metrics(protocol, hypotheses, frames["pose_3d"][indices], num_hypotheses, levels,
                                          aggregate=single)
        columns = {name: np.asarray(value)[:real] for name, value in columns.items()}
        for field in label_fields:
            columns[field] = np.asarray(frames[field])[indices][:real]
        columns["frame_index"] = indices[:real]
        if views:
            columns["triangulation_mpjpe"] = evidence_sources.triangulation_errors(frames, indices)[:real]
        if config.get("save_hypotheses", False):
            columns["hypotheses"] = np.asarray(hypotheses, np.float32)[:real]
        store.save(batch_index, columns)
    seconds = time.perf_counter() - start
    missing = [index for index in range(len(batches)) if index % num_shards != shard_index and not store.is_done(index)]
    if missing:
        log(f"shard {shard_index} of {num_shards}: its {len(own)} batches are stored in {workdir}; {len(missing)} of "
            f"the other shards' {len(batches) - len(own)} batches are not yet, so no report was written. The last "
            "shard to finish writes it; or run the command again once they are done (nothing stored is recomputed)")
        return {"summary": None, "markdown": None, "per_frame": None, "workdir": workdir, "paths": {},
                "seconds": seconds, "batches_computed": len(todo), "missing_batches": missing}
    per_frame = store.load_all(range(len(batches)))
    groups, average_over = protocols.grouping(protocol)  # declared per dataset in data/registry.py
    groups = tuple(field for field in groups if field in per_frame)
    labels = protocols.metric_labels(protocol, num_hypotheses, levels)
    if views:
        labels["triangulation_mpjpe"] = f"MPJPE of the detections' DLT triangulation, {views} views (mm)"
    summary = report.summarize(per_frame, list(labels), groups, average_over if average_over in groups else None)
    nominal = {hypothesis_metrics.calibration_key(level): level for level in levels}
    skipped = getattr(frames, "skipped", [])  # frames without detections (data.evaluation_frames)
    title = _title(protocol, summary, config, prior_label, max_hypotheses, sampler_config, skipped)
    headline = protocols.headline_metrics(protocol, num_hypotheses)
    markdown = report.summary_markdown(summary, labels, headline, nominal=nominal, title=title,
                                       digits=config.get("digits", 1), precision=protocols.metric_precision(labels))
    paths = report.write_reports(workdir, {
        "summary": summary, "labels": labels, "nominal": nominal, "title": title,
        "config": store.fingerprint["config"], "checkpoint": prior_label,
        "prior_fingerprint": store.fingerprint["prior"], "seconds_this_run": seconds, "skipped": skipped,
    }, markdown)
    paths["per_frame"] = report.write_per_frame(workdir / "per_frame.npz", per_frame)
    if config.get("figure", True):
        from posediff_jax.evaluation import figures
        figure = figures.write_summary_figure(workdir / "results.png", summary, labels, headline, title)
        if figure is not None:  # None: no metric measured at two or more m
            paths["figure"] = figure
    log(markdown)
    return {"summary": summary, "markdown": markdown, "per_frame": per_frame, "workdir": workdir, "paths": paths,
            "seconds": seconds, "batches_computed": len(todo)}
