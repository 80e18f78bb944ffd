"""Result tables in markdown, shaped like the paper's (MAPE / MAE / RMSE at 15, 30, 45 min)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

__all__ = ["results_table"]

Row = Tuple[str, Dict[str, Dict[str, float]], Optional[Dict[str, Any]]]


def _fmt_int(value: Any) -> str:
    return f"{int(value):,}" if value is not None else "-"


def results_table(rows: Sequence[Row], horizons: Sequence[str] = ("15min", "30min", "45min")) -> str:
    """A markdown table: one row per model, columns parameters, latency, then each metric at
    each horizon.

    Args:
        rows: ``(name, horizon metrics, summary or None)``; ``summary`` is a
            :func:`~pygkd.train.runs.model_summary` dict (parameters, latency).

    Example:
        >>> m = {"15min": {"MAPE": 5.0, "MAE": 2.0, "RMSE": 4.0}}
        >>> print(results_table([("Persistence", m, None)], horizons=["15min"]))
        | Model | Params | Latency (ms) | MAPE 15min | MAE 15min | RMSE 15min |
        |---|---:|---:|---:|---:|---:|
        | Persistence | - | - | 5.000 | 2.000 | 4.000 |
    """
    metrics = ("MAPE", "MAE", "RMSE")
    head = ["Model", "Params", "Latency (ms)"] + [f"{m} {h}" for m in metrics for h in horizons]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, result, summary in rows:
        params = _fmt_int(summary.get("parameters")) if summary else "-"
        latency = "-"
        if summary and summary.get("latency"):
            latency = f"{1000 * summary['latency']['mean_s']:.1f}"
        cells = [name, params, latency]
        cells += [f"{result[h][m]:.3f}" if h in result else "-" for m in metrics for h in horizons]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
