"""Figures from checkpoints and runs, written as PNG and SVG: what ``pygkd plot`` and
``pygkd report`` draw. Each function returns ``{"title", "caption", "files"}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pygkd.data.windows import ForecastDataset
from pygkd.report import analysis
from pygkd.report.figures import (
    curves_figure,
    forecast_figure,
    pareto_figure,
    save_figure,
    tsne_figure,
    tuning_figure,
)

logger = logging.getLogger(__name__)

__all__ = ["load_teacher", "load_students", "curves_plot", "forecast_plot", "tsne_plot",
           "tuning_plot", "pareto_plot"]

MAX_CURVES = 10
MAX_FORECAST_PANELS = 10
MAX_TSNE_PANELS = 9
UNITS = {name: "mph" for name in ("synthetic", "los-loop", "pemsd7m", "pems08", "pems04")}

Figure = dict[str, Any]


def load_teacher(path: Path, device: str = "cpu") -> tuple[nn.Module, ForecastDataset]:
    """The teacher checkpoint and the dataset it was trained on, both on ``device``."""
    from pygkd.runtime.device import resolve_device
    from pygkd.train.checkpoint import load_model
    from pygkd.train.runs import build_dataset, checkpoint_data_config
    from pygkd.train.trainer import place_model

    where = resolve_device(device)
    teacher, payload = load_model(path)
    dataset = build_dataset(checkpoint_data_config(payload)).to(where)
    return place_model(teacher, where, dataset.edge_index, dataset.edge_weight), dataset


def load_students(items: Sequence[tuple[str, Path]], dataset: ForecastDataset
                  ) -> list[tuple[str, nn.Module]]:
    """``(label, model)`` for each checkpoint on ``dataset``'s graph (placed on its device);
    others are reported and left out."""
    from pygkd.train.checkpoint import load_model
    from pygkd.train.trainer import place_model

    out: list[tuple[str, nn.Module]] = []
    for label, path in items:
        model, _ = load_model(path)
        if model.num_nodes != dataset.num_nodes:
            logger.warning(f"{label}: {model.num_nodes} nodes but the teacher's data have "
                        f"{dataset.num_nodes}: left out of the figures")
            continue
        out.append((label, place_model(model, dataset.device, dataset.edge_index,
                                       dataset.edge_weight)))
    return out


def curves_plot(histories: Mapping[str, list[dict[str, float]]], fig_dir: Path) -> Figure:
    """Training loss and validation MAE per epoch (``training-curves.png/svg``)."""
    shown = dict(list(histories.items())[:MAX_CURVES])
    more = len(histories) - len(shown)
    return {"title": "Training curves",
            "files": save_figure(curves_figure(shown), Path(fig_dir) / "training-curves"),
            "caption": "Training loss and validation MAE per epoch, one run (the lowest seed) "
                       "per configuration." + (f" {more} more left out." if more > 0 else "")}


def tuning_plot(tuning: Mapping[str, Any], fig_dir: Path, stem: str = "tuning") -> Figure:
    """A ``pygkd tune`` study (its ``tuning.json``): optimisation history and parameter
    importances (``<stem>.png/svg``)."""
    best = tuning.get("best") or {}
    return {"title": f"Tuning: {tuning.get('study', '')}",
            "files": save_figure(tuning_figure(tuning.get("trials", []),
                                               tuning.get("importances") or {}),
                                 Path(fig_dir) / stem),
            "caption": f"{len(tuning.get('trials', []))} trial(s) scored on the validation "
                       f"split; best: trial {best.get('trial')}, validation MAE "
                       f"{best.get('val_mae', float('nan')):.4f}."}


def pareto_plot(rows: Sequence[Any], fig_dir: Path) -> Figure:
    """Test MAE at the first horizon against ONNX Runtime latency (``pareto.png/svg``) for
    :class:`~pygkd.report.pareto.ParetoRow` rows."""
    first = next(iter(rows[0].mae))
    points = [{"label": r.label, "one_ms": r.one_ms, "batch_ms": r.batch_ms,
               "error": r.mae[first], "front_one": r.front_one, "front_batch": r.front_batch}
              for r in rows]
    return {"title": "Accuracy against serving latency",
            "files": save_figure(pareto_figure(points, f"Test MAE {first} (mean over seeds)",
                                               rows[0].batch), Path(fig_dir) / "pareto"),
            "caption": "Each model exported with its rollout and timed in ONNX Runtime; red: "
                       "no other model is both faster and more accurate. Pick the lowest "
                       "error within your latency budget."}


def forecast_plot(teacher: nn.Module, students: Sequence[tuple[str, nn.Module]],
                  dataset: ForecastDataset, fig_dir: Path, sensor: int | None = None,
                  step: int = 3, day: int = 0) -> Figure:
    """One sensor's forecast vs ground truth over a test day (``forecast.png/svg``).

    ``sensor`` defaults to :func:`~pygkd.report.analysis.busiest_sensor`.
    """
    sensor = analysis.busiest_sensor(dataset) if sensor is None else sensor
    shown = list(students)[:MAX_FORECAST_PANELS]
    hours, truth, preds = analysis.sensor_forecast({"Teacher": teacher, **dict(shown)}, dataset,
                                                   sensor, step, day=day)
    from pygkd.data.timing import horizon_label

    ahead = horizon_label(step, dataset.minutes_per_step)
    fig = forecast_figure(hours, truth, preds, sensor, ahead,
                          UNITS.get(dataset.name, "speed units"))
    more = len(students) - len(shown)
    return {"title": "Forecast vs ground truth",
            "files": save_figure(fig, Path(fig_dir) / "forecast"),
            "caption": f"Sensor {sensor} on test day {day + 1}, {ahead}-ahead "
                       "autoregressive forecasts." + (f" {more} more model(s) left out."
                                                      if more > 0 else "")}


def tsne_plot(teacher: nn.Module, students: Sequence[tuple[str, nn.Module]],
              dataset: ForecastDataset, fig_dir: Path, samples: int = 50,
              seed: int = 0, fit_windows: int = 256) -> Figure:
    """t-SNE of the hidden representation, teacher blue vs each student red (``tsne.png/svg``).

    Each student's channels are mapped into the teacher's by
    :func:`~pygkd.report.analysis.fit_channel_map`, fitted on ``fit_windows`` training windows
    (never the plotted test windows).
    """
    if samples < 2:
        raise ValueError(f"samples: expected at least 2 test windows, got {samples}")
    gen = torch.Generator().manual_seed(seed)
    n_test, n_train = dataset.num_samples("test"), dataset.num_samples("train")
    test_index = torch.randperm(n_test, generator=gen)[:min(samples, n_test)].sort().values
    fit_index = torch.randperm(n_train, generator=gen)[:min(fit_windows, n_train)]
    t_test = analysis.hidden_features(teacher, dataset, "test", test_index)
    t_fit = analysis.hidden_features(teacher, dataset, "train", fit_index)
    panels = []
    for label, model in list(students)[:MAX_TSNE_PANELS]:
        mapping = analysis.fit_channel_map(
            analysis.hidden_features(model, dataset, "train", fit_index), t_fit)
        s_test = analysis.hidden_features(model, dataset, "test", test_index)
        panels.append((label, *analysis.tsne_embedding(t_test, s_test, mapping, seed)))
    return {"title": "t-SNE of the hidden representation",
            "files": save_figure(tsne_figure(panels), Path(fig_dir) / "tsne"),
            "caption": f"{test_index.numel()} test windows; teacher blue, student red. Each "
                       "student's channels are mapped into the teacher's by a least-squares "
                       "map fitted on training windows, then both are embedded in one t-SNE map "
                       "(paper Sec. 4.2)."}
