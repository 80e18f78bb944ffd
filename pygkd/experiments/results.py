"""Typed results of the comparisons: what a table holds, beside the markdown it prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Row", "Comparison", "Tuning"]

#: One model of a comparison: its label, the test errors of each seed's run (horizon ->
#: metric -> value) and its model summary (parameters, latency; ``None`` for persistence).
Row = tuple[str, list[dict[str, Any]], dict[str, Any] | None]


@dataclass
class Comparison:
    """A comparison the experiments ran: the rows, the markdown text (what ``comparison.md``
    holds and the CLI prints) and the files written."""

    rows: list[Row]
    text: str
    markdown: Path
    json: Path

    def __str__(self) -> str:
        return self.text


@dataclass
class Tuning:
    """A search of a loss's hyper-parameters on the validation split: every trial (its values
    and best validation MAE), the best one and the recipe written from it."""

    loss: str
    best: dict[str, Any]
    trials: list[dict[str, Any]]
    recipe: Path
