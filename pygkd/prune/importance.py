r"""First-order Taylor importance (Molchanov et al. 2019; paper Eq. 13-14).

.. math::
    I_m = \sum_{b} (g_{m,b}\, w_{m,b})^2, \qquad I_S = \sum_{s \in S} I_s

The scorer reads ``.grad`` after a backward pass, so whatever loss was back-propagated sets
the scores: ``L_STCD`` with a frozen teacher gives the paper's KDIS (Algorithm 1), the task
loss alone gives the "W/O KD" baseline of Table 8. It never calls ``backward`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pygkd.nn.channels import ChannelGroup

__all__ = ["TaylorImportance"]


class TaylorImportance:
    """Accumulates :math:`(g w)^2` per weight over minibatches.

    Example:
        >>> lin = nn.Linear(2, 1, bias=False)
        >>> with torch.no_grad(): _ = lin.weight.copy_(torch.tensor([[1.0, -2.0]]))
        >>> lin(torch.tensor([[3.0, 1.0]])).sum().backward()   # g = [3, 1]
        >>> scorer = TaylorImportance(lin); scorer.accumulate()
        >>> scorer.average()["weight"].tolist()                  # (g w)^2 = [9, 4]
        [[9.0, 4.0]]
    """

    def __init__(self, model: nn.Module, names: Sequence[str] | None = None) -> None:
        self.params = {n: p for n, p in model.named_parameters()
                       if names is None or n in set(names)}
        self.scores = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in self.params.items()}
        self.count = 0

    @torch.no_grad()
    def accumulate(self) -> None:
        """Add :math:`(g w)^2` of the current gradients (Eq. 13)."""
        for name, p in self.params.items():
            if p.grad is not None:
                self.scores[name] += (p.grad.double() * p.double()) ** 2
        self.count += 1

    def average(self) -> dict[str, Tensor]:
        """Scores divided by the number of minibatches (Algorithm 1, line 15)."""
        return {n: s / max(self.count, 1) for n, s in self.scores.items()}

    def reset(self) -> None:
        for s in self.scores.values():
            s.zero_()
        self.count = 0

    @staticmethod
    def group_scores(scores: dict[str, Tensor], groups: list[ChannelGroup]) -> dict[str, Tensor]:
        """Per-channel importance: the sum over every slice of the channel (Eq. 14)."""
        out = {}
        for g in groups:
            device = scores[g.slices[0].param].device if g.slices else None
            total = torch.zeros(g.size, dtype=torch.float64, device=device)
            for s in g.slices:
                t = scores[s.param].transpose(0, s.dim).narrow(0, s.offset, g.size)
                total += t.reshape(g.size, -1).sum(dim=1)
            out[g.name] = total
        return out
