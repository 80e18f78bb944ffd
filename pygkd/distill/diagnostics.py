r"""What each term of a distillation loss does to the student: its share of the gradient.

A loss :math:`L = \sum_k L_k` (the weighted terms: ``task``, ``ord``, ``tcd``, ``scd``,
``skd``, ``rd``) moves the student along :math:`\sum_k \nabla_\theta L_k`. The share of term
:math:`k` is :math:`\lVert \nabla_\theta L_k \rVert_2 / \sum_j \lVert \nabla_\theta L_j
\rVert_2`: a term whose share stays near zero does not train the student, whatever its value
(a feature term at 0.02 % is inert; raise its weight or drop it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["gradient_shares", "inert_terms", "GRADIENT_SHARE_PREFIX", "INERT_SHARE"]

#: The history key of term ``k``'s gradient share: ``grad_share_<k>``.
GRADIENT_SHARE_PREFIX = "grad_share_"
#: Below this gradient share in every epoch a term counts as inert (1 %).
INERT_SHARE = 0.01


def gradient_shares(terms: Mapping[str, Tensor], params: Iterable[nn.Parameter]
                    ) -> dict[str, float]:
    r"""Each term's share of the summed gradient norms over ``params`` (the graphs are kept).

    Example:
        >>> w = nn.Parameter(torch.tensor([1.0, 2.0]))
        >>> terms = {"a": (3 * w).sum(), "b": w[0]}   # gradients [3, 3] and [1, 0]
        >>> {k: round(v, 4) for k, v in gradient_shares(terms, [w]).items()}
        {'a': 0.8093, 'b': 0.1907}
    """
    params = [p for p in params if p.requires_grad]
    norms: dict[str, float] = {}
    for name, term in terms.items():
        if not term.requires_grad:
            norms[name] = 0.0
            continue
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        norms[name] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads
                                           if g is not None) or torch.zeros(())))
    total = sum(norms.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in norms.items()}


def inert_terms(history: Sequence[Mapping[str, Any]], threshold: float = INERT_SHARE
                ) -> dict[str, float]:
    """Terms whose gradient share stayed below ``threshold`` in every epoch that measured
    it: term -> its largest share.

    Example:
        >>> inert_terms([{"grad_share_ord": 0.99, "grad_share_scd": 0.0002},
        ...              {"grad_share_ord": 0.98, "grad_share_scd": 0.004}])
        {'scd': 0.004}
    """
    best: dict[str, float] = {}
    for row in history:
        for key, value in row.items():
            if key.startswith(GRADIENT_SHARE_PREFIX):
                name = key[len(GRADIENT_SHARE_PREFIX):]
                best[name] = max(best.get(name, 0.0), float(value))
    return {k: v for k, v in best.items() if v < threshold}
