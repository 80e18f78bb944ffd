"""Matplotlib figures: t-SNE of hidden representations, forecast vs ground truth, training
curves. Each function returns a :class:`matplotlib.figure.Figure` (no global pyplot state);
:func:`save_figure` writes it as PNG and SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pygkd.files import replacing

__all__ = ["tsne_figure", "forecast_figure", "curves_figure", "tuning_figure", "pareto_figure",
           "save_figure"]

TEACHER_COLOR, STUDENT_COLOR = "tab:blue", "tab:red"


def _figure(width: float, height: float):  # type: ignore[no-untyped-def]
    from pygkd.compat import require_extra

    require_extra("matplotlib", "report", "Figures")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def tsne_figure(panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
                teacher_label: str = "Teacher"):  # type: ignore[no-untyped-def]
    """One panel per student: teacher points blue, student points red (paper Sec. 4.2).

    Args:
        panels: ``(student label, teacher_xy [S, 2], student_xy [S, 2])`` per panel.
    """
    if not panels:
        raise ValueError("tsne_figure: expected at least one panel")
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig = _figure(4.2 * cols, 4.0 * rows)
    for i, (label, t_xy, s_xy) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(t_xy[:, 0], t_xy[:, 1], s=18, c=TEACHER_COLOR, label=teacher_label)
        ax.scatter(s_xy[:, 0], s_xy[:, 1], s=18, c=STUDENT_COLOR, label=label)
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_title(f"{label} vs {teacher_label}", fontsize=10)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(f"Hidden representation fed to the output layer, {len(panels[0][1])} test "
                 "samples", fontsize=11)
    return fig


def forecast_figure(hours: np.ndarray, truth: np.ndarray, forecasts: Mapping[str, np.ndarray],
                    sensor: int, ahead: str, units: str = "mph",
                    reference: str = "Teacher", max_lines: int = 4):  # type: ignore[no-untyped-def]
    """Ground truth and each model's forecast for one sensor over a day (paper Fig. 4, 5).

    Up to ``max_lines`` forecasts share one plot; with more, each other model gets its own
    panel with the ground truth and the ``reference`` model (the teacher) overlaid.

    Args:
        hours (ndarray): ``[S]`` time of day of each target; truth (ndarray): ``[S]``.
        forecasts: label -> ``[S]`` forecasts.
    """
    others = [k for k in forecasts if k != reference]
    grouped = len(forecasts) > max_lines and reference in forecasts
    panels = [[reference, k] for k in others] if grouped else [list(forecasts)]
    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig = _figure(9.0 if cols == 1 else 13.0, 4.0 if rows == 1 else 3.2 * rows)
    for i, labels in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(hours, truth, color="black", linewidth=1.8, label="Ground truth")
        for label in labels:
            style = {"color": TEACHER_COLOR} if grouped and label == reference else {}
            if grouped and label != reference:
                style = {"color": STUDENT_COLOR}
            ax.plot(hours, forecasts[label], linewidth=1.1, label=label, **style)
        ax.set_xlabel("Time of day (h)")
        ax.set_ylabel(f"Speed ({units})")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        if grouped:
            ax.set_title(labels[1], fontsize=10)
    fig.suptitle(f"Sensor {sensor}: {ahead}-ahead forecast vs ground truth",
                 fontsize=11)
    return fig


def curves_figure(histories: Mapping[str, list[dict[str, float]]]):  # type: ignore[no-untyped-def]
    """Training loss and validation MAE per epoch, one line per run."""
    if not histories:
        raise ValueError("curves_figure: expected at least one run with a history")
    fig = _figure(10.0, 4.0)
    ax_loss, ax_val = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, history in histories.items():
        epochs = [h["epoch"] for h in history]
        ax_loss.plot(epochs, [h.get("loss", np.nan) for h in history], marker=".", label=label)
        ax_val.plot(epochs, [h["val_mae"] for h in history], marker=".", label=label)
    ax_loss.set_xlabel("Epoch")
    ax_loss.set_ylabel("Training loss")
    ax_loss.set_yscale("log")
    ax_loss.set_title("Training loss")
    ax_val.set_xlabel("Epoch")
    ax_val.set_ylabel("Validation MAE (mean over forecast steps)")
    ax_val.set_title("Validation MAE")
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=7)
    return fig


def tuning_figure(trials: Sequence[Mapping[str, object]],
                  importances: Mapping[str, float]):  # type: ignore[no-untyped-def]
    """A tuning study: each finished trial's validation MAE and the best so far, by trial
    number (pruned trials at their last reported value, hollow), and the parameters'
    importances (bars; left empty when the study is too small to estimate them)."""
    done = [t for t in trials if t.get("val_mae") is not None]
    if not done:
        raise ValueError("tuning_figure: expected at least one finished trial")
    fig = _figure(10.0, 4.0)
    ax_hist, ax_imp = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    numbers = [int(t["trial"]) for t in done]  # type: ignore[call-overload]
    values = [float(t["val_mae"]) for t in done]  # type: ignore[arg-type]
    complete = [t.get("state", "COMPLETE") == "COMPLETE" for t in done]
    ax_hist.scatter([n for n, c in zip(numbers, complete, strict=True) if c],
                    [v for v, c in zip(values, complete, strict=True) if c], s=18,
                    color=STUDENT_COLOR, label="trial")
    if not all(complete):
        ax_hist.scatter([n for n, c in zip(numbers, complete, strict=True) if not c],
                        [v for v, c in zip(values, complete, strict=True) if not c], s=18,
                        facecolors="none", edgecolors="gray", label="pruned (last epoch)")
    order = np.argsort(numbers)
    best = np.minimum.accumulate(np.where(np.array(complete)[order], np.array(values)[order],
                                          np.inf))
    ax_hist.step(np.array(numbers)[order], best, where="post", color=TEACHER_COLOR,
                 label="best so far")
    ax_hist.set_xlabel("Trial")
    ax_hist.ticklabel_format(axis="y", useOffset=False)
    from matplotlib.ticker import MaxNLocator

    ax_hist.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_hist.set_ylabel("Validation MAE (mean over forecast steps)")
    ax_hist.set_title("Optimisation history")
    ax_hist.legend(loc="best", fontsize=7)
    names = list(importances)
    ax_imp.barh(names[::-1], [importances[n] for n in names][::-1], color=TEACHER_COLOR)
    ax_imp.set_xlabel("Importance (share of the validation MAE's variation)")
    ax_imp.set_title("Parameter importances" if names else
                     "Parameter importances (too few trials)")
    for ax in (ax_hist, ax_imp):
        ax.grid(alpha=0.3)
    return fig


def pareto_figure(points: Sequence[Mapping[str, object]], error_label: str,
                  batch: int):  # type: ignore[no-untyped-def]
    """Error against ONNX Runtime latency, one panel for one window and one for a batch:
    each point a model (``label``, ``one_ms``, ``batch_ms``, ``error``, ``front_one``,
    ``front_batch``), the Pareto front joined by a line."""
    if not points:
        raise ValueError("pareto_figure: expected at least one model")
    fig = _figure(11.0, 4.5)
    for k, (key, front_key, title) in enumerate((
            ("one_ms", "front_one", "One window"),
            ("batch_ms", "front_batch", f"Batch of {batch:,} windows"))):
        ax = fig.add_subplot(1, 2, k + 1)
        xs = np.array([float(p[key]) for p in points])  # type: ignore[arg-type]
        ys = np.array([float(p["error"]) for p in points])  # type: ignore[arg-type]
        front = np.array([bool(p[front_key]) for p in points])
        ax.scatter(xs[~front], ys[~front], s=24, color="gray", label="dominated")
        ax.scatter(xs[front], ys[front], s=30, color=STUDENT_COLOR, label="Pareto front")
        order = np.argsort(xs[front])
        ax.step(xs[front][order], ys[front][order], where="post", color=STUDENT_COLOR,
                alpha=0.5)
        for p, x, y in zip(points, xs, ys, strict=True):
            ax.annotate(str(p["label"]), (x, y), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("ONNX Runtime latency (ms, median)")
        ax.set_ylabel(error_label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=7)
    return fig


def save_figure(fig, stem: Path, formats: Sequence[str] = ("png", "svg"),  # type: ignore[no-untyped-def]
                dpi: int = 120) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` (atomically: a partial file is never left)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        with replacing(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
        written.append(path)
    return written
