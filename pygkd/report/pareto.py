"""Accuracy against serving latency: which model to serve for a latency budget.

For every configuration among the runs (the teacher, each student family, pruned students;
one row per configuration, its test MAE averaged over its seeds) the exported forecaster
(normalisation and rollout inside, as ``pygkd export``) is timed in ONNX Runtime on one
window and on a batch of windows; a configuration is on the Pareto front when no other is at
least as fast *and* at least as accurate with one of the two strictly better. ``pygkd report
--pareto`` writes the table and the figure (``pareto.png`` / ``pareto.svg``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pygkd.errors import InputError
from pygkd.report.page import RunRecord, group_label

logger = logging.getLogger(__name__)

__all__ = ["ParetoRow", "pareto_front", "onnx_latency", "pareto_rows", "pareto_table"]


@dataclass
class ParetoRow:
    """One configuration: its label, parameters, mean test MAE per horizon over ``seeds``
    runs, and ONNX Runtime latency (ms, median) of one window and of ``batch`` windows."""

    label: str
    parameters: int
    mae: dict[str, float]
    seeds: int
    one_ms: float
    batch_ms: float
    batch: int
    front_one: bool = False
    front_batch: bool = False


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each ``(latency, error)``, whether no other point is at least as good in both and
    strictly better in one.

    Example:
        >>> pareto_front([(1.0, 3.0), (2.0, 2.0), (3.0, 2.5), (0.5, 4.0), (1.0, 3.0)])
        [True, True, False, True, True]
    """
    return [not any(lo <= la and eo <= ea and (lo < la or eo < ea) for lo, eo in points)
            for la, ea in points]


def onnx_latency(model_path: Path, batch: int = 1140, repeats: int = 20,
                 single_repeats: int = 100) -> tuple[float, float]:
    """Median ms of ONNX Runtime (this process's PyTorch thread count) on one test window and
    on ``batch`` windows, for the forecaster exported from ``model_path``."""
    from pygkd.bench.serve import latency_percentiles
    from pygkd.deploy.export import export_forecaster, onnx_session
    from pygkd.deploy.module import load_forecast_module
    from pygkd.train.checkpoint import load_checkpoint
    from pygkd.train.runs import build_dataset, checkpoint_data_config

    module, _ = load_forecast_module(model_path)
    dataset = build_dataset(checkpoint_data_config(load_checkpoint(model_path)))
    x, _ = dataset.batch("test", torch.arange(dataset.num_samples("test")))
    windows = dataset.scaler.inverse(x).numpy()
    big, one = windows[np.arange(batch) % len(windows)], windows[:1]
    with tempfile.TemporaryDirectory() as tmp:
        session = onnx_session(export_forecaster(module, "onnx", Path(tmp) / "model.onnx"),
                               torch.get_num_threads())
        one_ms, _ = latency_percentiles(lambda: session.run(None, {"readings": one}),
                                        single_repeats)
        batch_ms, _ = latency_percentiles(lambda: session.run(None, {"readings": big}),
                                          repeats, warmup=1)
    return one_ms, batch_ms


def pareto_rows(runs: Sequence[RunRecord], batch: int = 1140, repeats: int = 20
                ) -> tuple[list[ParetoRow], list[str]]:
    """One row per configuration among ``runs`` (mean MAE over its seeds, latency of its
    lowest seed's model), and the configurations left out with their reason."""
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        if run.metrics.get("test") and run.model_path.is_file():
            groups.setdefault(group_label(run), []).append(run)
    rows, left_out = [], []
    for label, members in groups.items():
        members.sort(key=lambda r: r.path.name)
        horizons = list(members[0].metrics["test"])
        mae = {h: float(np.mean([m.metrics["test"][h]["MAE"] for m in members
                                 if h in m.metrics["test"]])) for h in horizons}
        logger.info(f"timing {label} in ONNX Runtime (export, then one window and {batch})")
        try:
            one_ms, batch_ms = onnx_latency(members[0].model_path, batch, repeats)
        except InputError as err:
            left_out.append(f"{label}: {err}")
            continue
        params = int(members[0].metrics.get("model", {}).get("parameters", 0))
        rows.append(ParetoRow(label, params, mae, len(members), one_ms, batch_ms, batch))
    for attr, flag in (("one_ms", "front_one"), ("batch_ms", "front_batch")):
        front = pareto_front([(getattr(r, attr), _first(r.mae)) for r in rows])
        for row, on in zip(rows, front, strict=True):
            setattr(row, flag, on)
    return rows, left_out


def _first(mae: dict[str, float]) -> float:
    return next(iter(mae.values()))


def pareto_table(rows: Sequence[ParetoRow]) -> str:
    """Markdown: the rows by single-window latency, front membership marked (``front``)."""
    if not rows:
        return ""
    horizons = list(rows[0].mae)
    head = ["Model", "Params", "Seeds", *[f"MAE {h}" for h in horizons],
            "ONNX 1 window (ms)", f"ONNX batch of {rows[0].batch} (ms)", "Pareto front"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
    for r in sorted(rows, key=lambda r: r.one_ms):
        front = ", ".join(n for n, on in (("1 window", r.front_one), ("batch", r.front_batch))
                          if on) or "-"
        lines.append("| " + " | ".join([
            r.label, f"{r.parameters:,}", str(r.seeds),
            *[f"{r.mae.get(h, float('nan')):.3f}" for h in horizons],
            f"{r.one_ms:.2f}", f"{r.batch_ms:.1f}", front]) + " |")
    return "\n".join(lines)
