"""Metrics to stdout (through the progress bar) and to `workdir/metrics.jsonl` (one JSON object per line)."""

from __future__ import annotations

import json
import pathlib
import time

import jax


class MetricsWriter:
    """Appends `{"step": ..., "time": ..., **metrics}` lines; only process 0 writes."""

    def __init__(self, workdir):
        self.path = pathlib.Path(workdir) / "metrics.jsonl"
        self.enabled = jax.process_index() == 0

    def write(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), "time": time.time()}
        record.update({name: float(value) for name, value in metrics.items()})
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
