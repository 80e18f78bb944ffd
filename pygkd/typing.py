"""Type aliases shared across pygkd (after ``torch_geometric.typing``)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

__all__ = ["OptTensor", "Reduction"]

#: A tensor or ``None``.
OptTensor = Tensor | None
#: How a loss reduces its per-sample values.
Reduction = Literal["mean", "sum", "none"]
