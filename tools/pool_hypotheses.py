"""Pools the saved hypotheses of several evaluation runs on the same frames: how low can best-of-m go?

Each run is a `posediff evaluate` workdir written with `--set save_hypotheses=True` (its `per_frame.npz` holds the
`[frames, m, 17, 3]` hypotheses, its `run.json` the config). The ground truth is read again with the first run's
data config (`--manual-dir` overrides the data folder). Prints, per run, its own best-of-m P-best MPJPE (equal to
its results.md: a check that the frames line up) and then best-of-(all pooled hypotheses): a ceiling for any
sampler that draws its hypotheses from among these settings, whatever its m.

    python tools/pool_hypotheses.py /tmp/acc/default /tmp/acc/heun /tmp/acc/k1 [--output pooled.json]

Averages are means over actions of per-frame values (as `posediff evaluate` reports).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np


def load_run(workdir: pathlib.Path) -> dict:
    """`{'config': dict, 'hypotheses': [F, m, 17, 3], 'frame_index': [F], 'action': [F]}` of one workdir."""
    per_frame, run = workdir / "per_frame.npz", workdir / "run.json"
    for path in (per_frame, run):
        if not path.is_file():
            raise SystemExit(f"error: {path} not found: run `posediff evaluate ... --workdir {workdir} "
                             f"--set save_hypotheses=True` first")
    with np.load(per_frame) as saved:
        if "hypotheses" not in saved.files:
            raise SystemExit(f"error: {per_frame} has no hypotheses: the run was made without "
                             f"`--set save_hypotheses=True`")
        return {"config": json.loads(run.read_text())["config"], "hypotheses": saved["hypotheses"],
                "frame_index": saved["frame_index"], "action": saved["action"]}


def ground_truth(config: dict, frame_index: np.ndarray, manual_dir: str | None) -> np.ndarray:
    """`[F, 17, 3]` root-relative ground truth (mm) of the run's frames, read with its data config."""
    import ml_collections

    from posediff_jax.data import evaluation_frames

    config = ml_collections.ConfigDict(config)
    if manual_dir:
        config.data.manual_dir = manual_dir
    frames = evaluation_frames.load_frames(config)
    target = np.asarray(frames["pose_3d"], np.float32)[frame_index]
    return target - target[:, :1]


def best_of_m_by_action(errors: np.ndarray, actions: np.ndarray, levels) -> dict:
    """`errors [F, m]` per-hypothesis MPJPE -> `{k: mean over actions of the best of the first k}`."""
    from posediff_jax.metrics import per_action_mean

    return {k: per_action_mean(errors[:, :k].min(axis=1), actions)["average"]
            for k in levels if k <= errors.shape[1]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdirs", nargs="+", type=pathlib.Path)
    parser.add_argument("--manual-dir", default=None, help="data folder (default: the first run's data.manual_dir)")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50, 200])
    parser.add_argument("--output", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    runs = [load_run(workdir) for workdir in args.workdirs]
    first = runs[0]
    for workdir, run in zip(args.workdirs[1:], runs[1:]):
        if not np.array_equal(run["frame_index"], first["frame_index"]) or run["config"]["data"] != first["config"]["data"]:
            raise SystemExit(f"error: {workdir} was evaluated on other frames than {args.workdirs[0]}")
    target = ground_truth(first["config"], first["frame_index"], args.manual_dir)
    actions = np.asarray(first["action"]).astype(str)
    errors = [np.linalg.norm(run["hypotheses"] - target[:, None], axis=-1).mean(axis=-1) for run in runs]
    result = {"frames": int(len(target)), "runs": []}
    for workdir, error in zip(args.workdirs, errors):
        row = best_of_m_by_action(error, actions, args.levels)
        result["runs"].append({"workdir": str(workdir), "hypotheses": int(error.shape[1]), "best_of_m": row})
        print(f"{workdir}: m={error.shape[1]}  " + "  ".join(f"best-of-{k} {v:.1f}" for k, v in row.items()))
    pooled = np.concatenate(errors, axis=1)
    result["pooled"] = {"hypotheses": int(pooled.shape[1]),
                        "best": best_of_m_by_action(pooled, actions, [pooled.shape[1]])[pooled.shape[1]]}
    print(f"pooled: {len(runs)} runs, {pooled.shape[1]} hypotheses per frame, best {result['pooled']['best']:.1f} mm "
          f"(P-best MPJPE, {len(target)} frames)")
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
