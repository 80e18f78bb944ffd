"""Paired statistics over seeds: is a student's error lower than its control's?

Seed ``s`` of every row of a comparison shares the data, split and initialisation seed, so the
rows are compared seed by seed: the differences ``d_s = error(row, s) - error(control, s)``
(negative: the row is better) give a mean, its 95 % confidence interval (Student's ``t`` with
``n - 1`` degrees of freedom), the number of seeds where the row wins (``d_s < 0``) and the
two-sided paired ``t``-test p-value. Mean and standard deviation alone hide all of this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats

__all__ = ["PairedDifference", "paired_difference", "paired_table", "describe"]


@dataclass(frozen=True)
class PairedDifference:
    """Row minus control over ``n`` seeds: mean, 95 % interval ``[low, high]``, wins (seeds
    where the row's error is lower) and the paired ``t``-test p-value (``nan`` with one
    seed)."""

    mean: float
    low: float
    high: float
    wins: int
    n: int
    p: float

    @property
    def significant(self) -> bool:
        """p below 0.05."""
        return self.p < 0.05


def paired_difference(control: Sequence[float], other: Sequence[float],
                      level: float = 0.95) -> PairedDifference:
    """Paired difference ``other - control`` over seeds.

    Example:
        >>> d = paired_difference([3.0, 3.2, 3.1], [2.9, 3.0, 3.1])
        >>> round(d.mean, 3), round(d.low, 3), round(d.high, 3), d.wins, d.n, round(d.p, 3)
        (-0.1, -0.348, 0.148, 2, 3, 0.225)
    """
    if len(control) != len(other) or not control:
        raise ValueError(f"Expected the same seeds on both sides (got {len(control)} and "
                         f"{len(other)} values)")
    diffs = [float(b) - float(a) for a, b in zip(control, other, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    wins = sum(d < 0 for d in diffs)
    if n < 2:
        return PairedDifference(mean, math.nan, math.nan, wins, n, math.nan)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    if sd == 0.0:
        return PairedDifference(mean, mean, mean, wins, n, 1.0 if mean == 0.0 else 0.0)
    se = sd / math.sqrt(n)
    t = mean / se
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(t), n - 1))
    return PairedDifference(mean, mean - half, mean + half, wins, n, p)


def paired_table(rows: Sequence[tuple[str, Sequence[dict[str, dict[str, float]]]]],
                 control: str, metric: str = "MAE",
                 horizons: Sequence[str] | None = None) -> str:
    """A markdown table of each row's paired difference to the ``control`` row in ``metric``
    per horizon: ``mean [low, high]``, wins / seeds, p; ``*`` marks p < 0.05.

    Args:
        rows: ``(label, one result per seed)``, a result mapping horizon -> metric -> value
            (seeds in the same order in every row).
        control: the label of the row the others are compared with (W/O KD).

    Example:
        >>> a = [{"15min": {"MAE": v}} for v in (3.0, 3.2, 3.1)]
        >>> b = [{"15min": {"MAE": v}} for v in (2.9, 3.0, 3.1)]
        >>> print(paired_table([("W/O KD", a), ("L_STCD", b)], "W/O KD"))
        | Model (MAE vs W/O KD, 3 seeds) | 15min: mean [95 % CI] | wins | p |
        |---|---:|---:|---:|
        | L_STCD | -0.100 [-0.348, 0.148] | 2/3 | 0.225 |
    """
    table = dict(rows)
    if control not in table:
        raise ValueError(f"Expected the control row {control!r} among {list(table)}")
    base = table[control]
    horizons = list(horizons or base[0])
    head = [f"Model ({metric} vs {control}, {len(base)} seeds)"]
    for h in horizons:
        head += [f"{h}: mean [95 % CI]", "wins", "p"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (3 * len(horizons))]
    for label, runs in rows:
        if label == control:
            continue
        cells = [label]
        for h in horizons:
            d = paired_difference([r[h][metric] for r in base], [r[h][metric] for r in runs])
            star = " *" if d.significant else ""
            cells += [_signed(d) + star, f"{d.wins}/{d.n}", _p(d.p)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _signed(d: PairedDifference) -> str:
    def f(v: float) -> str:
        return "n/a" if math.isnan(v) else f"{v:.3f}"

    return f"{f(d.mean)} [{f(d.low)}, {f(d.high)}]"


def _p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def describe(d: PairedDifference) -> dict[str, Any]:
    """The difference as plain values (for ``comparison.json``)."""
    return {"mean": d.mean, "ci95": [d.low, d.high], "wins": d.wins, "seeds": d.n, "p": d.p,
            "significant": d.significant}
