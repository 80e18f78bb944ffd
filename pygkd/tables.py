"""Result tables in markdown, shaped like the paper's (MAPE / MAE / RMSE at each horizon; the
paper's are 15, 30, 45 min). The horizons are the keys of the results (``15min``, ``2wk``,
``step3``) unless given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["results_table", "mean_std_table", "horizons_of", "latency_head"]

Row = tuple[str, dict[str, dict[str, float]], dict[str, Any] | None]


def _fmt_int(value: Any) -> str:
    return f"{int(value):,}" if value is not None else "-"


def _params(summary: dict[str, Any] | None) -> str:
    """Parameter count; masked models show their nonzero weights as ``N nonzero``."""
    if not summary:
        return "-"
    total, nonzero = summary.get("parameters"), summary.get("nonzero_parameters")
    if nonzero is not None and total is not None and nonzero < 0.99 * total:
        return f"{int(nonzero):,} nonzero"
    return _fmt_int(total)


def _model_cells(summary: dict[str, Any] | None, shared: int | None = None) -> list[str]:
    """The parameter and latency cells of a row (the latency's batch in the cell when the
    rows were timed on different batches)."""
    latency = "-"
    if summary and summary.get("latency"):
        latency = f"{1000 * summary['latency']['mean_s']:.1f}"
        batch = summary["latency"].get("batch")
        if shared is None and batch is not None:
            latency += f" (batch {batch:,})"
    return [_params(summary), latency]


def latency_head(summaries: Sequence[dict[str, Any] | None]) -> tuple[str, int | None]:
    """The latency column's title, naming the batch when every timed row shares it, and that
    batch (``None`` when the rows differ or none was timed).

    Example:
        >>> latency_head([{"latency": {"batch": 1140, "mean_s": 0.1}}, None])
        ('Latency (ms, batch 1,140)', 1140)
    """
    batches = {s["latency"].get("batch") for s in summaries if s and s.get("latency")}
    if len(batches) == 1 and None not in batches:
        batch = int(next(iter(batches)))
        return f"Latency (ms, batch {batch:,})", batch
    return "Latency (ms)", None


def horizons_of(results: Sequence[dict[str, Any]]) -> list[str]:
    """The horizon keys of results, in their order (the first results that have any).

    Example:
        >>> horizons_of([{}, {"1wk": {}, "2wk": {}}])
        ['1wk', '2wk']
    """
    for result in results:
        if result:
            return list(result)
    return []


def results_table(rows: Sequence[Row], horizons: Sequence[str] | None = None) -> str:
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
    horizons = list(horizons) if horizons is not None else horizons_of([r[1] for r in rows])
    title, shared = latency_head([r[2] for r in rows])
    head = ["Model", "Params", title] + [f"{m} {h}" for m in metrics for h in horizons]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, result, summary in rows:
        cells = [name, *_model_cells(summary, shared)]
        cells += [f"{result[h][m]:.3f}" if h in result else "-" for m in metrics for h in horizons]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return mean, std


def mean_std_table(rows: Sequence[tuple[str, Sequence[dict[str, dict[str, float]]],
                                        dict[str, Any] | None]],
                   horizons: Sequence[str] | None = None,
                   extra: dict[str, str] | None = None) -> str:
    """Like :func:`results_table`, with ``mean ± std`` over runs (seeds) in every cell.

    Args:
        rows: ``(name, [horizon metrics per run], summary or None)``.
        extra: optional last column per row name (e.g. the teacher-attention share).

    Example:
        >>> runs = [{"15min": {"MAPE": 5.0, "MAE": 2.0, "RMSE": 4.0}},
        ...         {"15min": {"MAPE": 7.0, "MAE": 2.0, "RMSE": 4.0}}]
        >>> print(mean_std_table([("Student", runs, None)], horizons=["15min"]).splitlines()[2])
        | Student | - | - | 6.000 ± 1.414 | 2.000 ± 0.000 | 4.000 ± 0.000 |
    """
    metrics = ("MAPE", "MAE", "RMSE")
    horizons = list(horizons) if horizons is not None else \
        horizons_of([run for _, runs, _ in rows for run in runs])
    title, shared = latency_head([summary for _, _, summary in rows])
    head = ["Model", "Params", title] + [f"{m} {h}" for m in metrics for h in horizons]
    if extra is not None:
        head.append("Teacher share")
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, runs, summary in rows:
        cells = [name, *_model_cells(summary, shared)]
        for m in metrics:
            for h in horizons:
                mean, std = _mean_std([run[h][m] for run in runs])
                cells.append(f"{mean:.3f} ± {std:.3f}")
        if extra is not None:
            cells.append(extra.get(name, "-"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
