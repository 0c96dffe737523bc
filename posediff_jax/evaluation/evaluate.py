"""The evaluation driver: dataset frames -> evidence -> m hypotheses per frame -> metrics -> reports.

`evaluate(config, checkpoint)` runs one benchmark protocol (configs/eval_*.py):
1. loads the prior (a checkpoint directory or a name; by default 'auto': the shipped prior for the evidence,
   `posediff_jax.prior.prior_name`) and the evaluation frames
   (`data.evaluation_frames.load_frames`: subjects / cameras / frame stride / frame cap from `config.data`;
   frames without the evidence used are skipped and listed under `skipped` in results.json);
2. splits the frames into batches of `config.batch_size` (the last batch is padded by repeating its last
   frame, so one compiled sampler serves every batch; padded rows are dropped);
3. per batch: builds heatmap evidence (`evidence_sources`), samples `max(config.num_hypotheses)`
   hypotheses per frame (key = `fold_in(seed_key(seed), batch_index)`), computes the per-frame metrics of
   `protocols.frame_metrics` and stores them in `workdir/batches/` (`results_store`; finished batches are
   skipped when a run is restarted with the same settings);
4. summarises (overall and per group), prints a Markdown table and writes `workdir/results.json`,
   `workdir/per_frame.npz` and `workdir/results.md`.

Shards (`config.num_shards`, `config.shard_index`): several processes (hosts, GPUs, CPU machines sharing a folder)
run the same command on one workdir, each with its own `shard_index`; shard s computes the batches b with
b % num_shards == s. Batch b's key depends on b alone, so the results equal an unsharded run's on the same device
layout to the bit (with another device count per process, float rounding moves a few trajectories). The shard
that finds every batch stored when it finishes writes the reports; the others say what is missing and exit 0 (run
again with any shard settings to write the report once they are done: nothing stored is computed again).
"""

from __future__ import annotations

import hashlib
import pathlib
import sys
import time
from typing import Mapping

import jax
import numpy as np

from posediff_jax.evaluation import evidence_sources, protocols, report
from posediff_jax.evaluation.evaluators import register_evaluator
from posediff_jax.evaluation.results_store import ResultsStore
from posediff_jax.io_utils import make_writable_folder
from posediff_jax.random_keys import seed_key
from posediff_jax.validation import PoseDiffError

LABEL_FIELDS = ("subject", "action", "camera", "frame", "sequence", "scene")


def load_prior_for_evaluation(name):
    """A prior folder or a shipped prior's name (`posediff_jax.prior.resolve_prior`)."""
    from posediff_jax.prior import resolve_prior

    return resolve_prior(name)


def params_fingerprint(prior) -> str:
    """A short hash of the prior's parameters (guards a resumed run against a changed checkpoint)."""
    digest = hashlib.sha1()
    for leaf in jax.tree.leaves(prior.params) + jax.tree.leaves(prior.normalization):
        digest.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    return digest.hexdigest()[:16]


def run_fingerprint(config, prior, num_frames: int) -> dict:
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    values.pop("workdir", None)
    values.pop("progress", None)
    values.pop("figure", None)  # how results are shown, not what is computed: toggling it keeps the batches
    values.pop("num_shards", None)  # how the work is split: every shard of a run shares its workdir
    values.pop("shard_index", None)
    return {"config": values, "prior": params_fingerprint(prior), "num_frames": int(num_frames)}


def make_batches(num_frames: int, batch_size: int) -> list[np.ndarray]:
    """Frame indices per batch; the last one padded with its last index to `batch_size`."""
    if num_frames < 1:
        raise PoseDiffError("evaluation: no frames selected (check subjects, cameras, stride and max_frames)")
    batches = []
    for start in range(0, num_frames, batch_size):
        indices = np.arange(start, min(start + batch_size, num_frames))
        batches.append(np.concatenate([indices, np.full(batch_size - len(indices), indices[-1])]))
    return batches


def _aggregation_name(config) -> str:
    return config.get("aggregation", "mean")


def _dropout_words(sampler_config) -> str:
    rate = float(sampler_config.evidence_dropout)
    return f", evidence dropout {rate:g}" if rate > 0 else ""


def _aggregate(config, hypotheses, evidence):
    from posediff_jax.sampling import aggregate as aggregation

    return aggregation.aggregate(_aggregation_name(config), hypotheses, evidence)


def _progress(iterable, total: int, enabled: bool, description: str):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=description, unit="batch", file=sys.stderr)


def _noise_words(evidence_config) -> str:
    if evidence_config.source != "noisy_gt":
        return ""
    return f" ({float(evidence_config.get('keypoint_noise_px', 0.0)):g} px noise per axis)"


@register_evaluator("guided_best_of_m")
def evaluate(config, checkpoint=None, workdir=None, prior=None, frames: Mapping[str, np.ndarray] | None = None,
             progress: bool = True, log=print) -> dict:
    """Runs the evaluation of `config` (see the module docstring).

    Args:
      config: an `ml_collections.ConfigDict` from configs/eval_*.py.
      checkpoint: a prior folder or name (`resolve_prior`; None / 'auto': the shipped prior for the evidence,
        'wide_proportions' for exact 2D, 'default' for a detector's); ignored when `prior` is given.
      workdir: output folder (default `config.workdir`).
      prior: an already loaded `Prior` (tests, notebooks).
      frames: already loaded frames (tests); default `data.evaluation_frames.load_frames(config)`.
      progress: show a tqdm progress bar.
      log: where the final table goes.
    Returns:
      {'summary', 'markdown', 'per_frame', 'workdir', 'paths', 'seconds', 'batches_computed'}; a shard that ends
      before the others (module docstring) returns no summary, markdown, per_frame or paths, and the indices of
      the batches still missing under 'missing_batches'.
    """
    from posediff_jax.guidance.registry import make_energy
    from posediff_jax.sampling import make_sampler
    from posediff_jax.sampling.config import (from_section, matmul_words, resolve_scale_schedule,
                                             scale_schedule_name)

    protocol = config.dataset
    if protocol not in protocols.PROTOCOLS:
        raise PoseDiffError(f"config.dataset: expected one of {protocols.PROTOCOLS}, got {protocol!r}")
    energy_options = evidence_sources.check_evidence_config(config.evidence)
    workdir = pathlib.Path(workdir or config.get("workdir") or f"posediff_eval_{protocol}")
    make_writable_folder(workdir, "--workdir")  # before the data and the prior are read
    num_hypotheses = sorted({int(k) for k in config.num_hypotheses})
    max_hypotheses = max(num_hypotheses)
    levels = tuple(float(level) for level in config.calibration_levels)
    exact_evidence = config.evidence.source in evidence_sources.EXACT_SOURCES
    prior_label = "given"
    if prior is None:
        from posediff_jax.prior import prior_name

        prior_label = prior_name("auto" if checkpoint is None else checkpoint, exact_evidence)
        prior = load_prior_for_evaluation(prior_label)
    if frames is None:
        from posediff_jax.data import evaluation_frames

        frames = evaluation_frames.load_frames(config)
    num_frames = len(frames["pose_3d"])
    evidence_config = config.evidence
    heatmap_arrays = None
    if evidence_config.source == "heatmap_arrays":
        heatmap_arrays = evidence_sources.HeatmapArrays(evidence_config.heatmap_arrays_file)
    sampler_config = resolve_scale_schedule(from_section(config.sampler), exact_evidence=exact_evidence)
    energy_fn = make_energy("heatmap", **energy_options)
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
    start = time.perf_counter()
    for batch_index in _progress(todo, len(todo), progress, f"evaluate {protocol}"):
        indices = batches[batch_index]
        real = len(np.unique(indices)) if batch_index == len(batches) - 1 else len(indices)
        evidence = evidence_sources.batch_evidence(
            evidence_config.source, frames, indices, sigma=evidence_config.sigma,
            heatmap_size=evidence_config.heatmap_size, use_gt_root=evidence_config.use_gt_root,
            heatmap_arrays=heatmap_arrays, detector_sigma=evidence_config.get("detector_sigma", 0.0),
            keypoint_noise_px=evidence_config.get("keypoint_noise_px", 0.0), seed=int(config.seed),
        )
        hypotheses = sampler.sample_batch(jax.random.fold_in(key, batch_index), evidence, max_hypotheses)
        target = frames["pose_3d"][indices]
        columns = protocols.frame_metrics(
            protocol, hypotheses, target, num_hypotheses, levels, aggregate=_aggregate(config, hypotheses, evidence)
        )
        columns = {name: np.asarray(value)[:real] for name, value in columns.items()}
        for field in label_fields:
            columns[field] = np.asarray(frames[field])[indices][:real]
        columns["frame_index"] = indices[:real]
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
    summary = report.summarize(per_frame, list(labels), groups, average_over if average_over in groups else None)
    nominal = {f"coverage_q{int(round(100 * level)):02d}": level for level in levels}
    title = (
        f"{protocol}: {summary['num_frames']} frames, evidence '{evidence_config.source}'"
        f"{_noise_words(evidence_config)}, prior '{prior_label}', "
        f"{max_hypotheses} hypotheses, {sampler_config.num_steps} {sampler_config.method} steps x "
        f"{sampler_config.guidance_repeats} guided updates ({scale_schedule_name(sampler_config)} step"
        f"{_dropout_words(sampler_config)}), "
        f"aggregation '{_aggregation_name(config)}', "
        f"guidance '{sampler_config.guidance}'"
        f"{matmul_words(sampler_config)}"
    )
    skipped = getattr(frames, "skipped", [])  # frames without detections (data.evaluation_frames)
    if skipped:
        title += (f"; {sum(entry['frames'] for entry in skipped)} frames of {len(skipped)} sequence-cameras skipped "
                  "(no 2D detections, listed in results.json)")
    markdown = report.summary_markdown(
        summary, labels, protocols.headline_metrics(protocol, num_hypotheses), nominal=nominal, title=title,
        digits=config.get("digits", 1), precision=protocols.metric_precision(labels),
    )
    paths = {
        "json": report.write_json(workdir / "results.json", {
            "summary": summary, "labels": labels, "nominal": nominal, "title": title,
            "config": store.fingerprint["config"], "checkpoint": prior_label,
            "prior_fingerprint": store.fingerprint["prior"], "seconds_this_run": seconds,
            "skipped": skipped,
        }),
        "per_frame": report.write_per_frame(workdir / "per_frame.npz", per_frame),
    }
    paths["markdown"] = report.write_markdown(workdir / "results.md", markdown)
    if config.get("figure", True):
        from posediff_jax.evaluation import figures

        figure = figures.write_summary_figure(
            workdir / "results.png", summary, labels, protocols.headline_metrics(protocol, num_hypotheses), title)
        if figure is not None:  # None: no metric measured at two or more m
            paths["figure"] = figure
    log(markdown)
    return {
        "summary": summary, "markdown": markdown, "per_frame": per_frame, "workdir": workdir, "paths": paths,
        "seconds": seconds, "batches_computed": len(todo),
    }
