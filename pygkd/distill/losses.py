"""Distillation losses as ``nn.Module`` s with ``reduction``, thin wrappers of
:mod:`pygkd.distill.functional` (after tsl's metrics). Each forward takes tensors; the caller
(trainer, recipe) decides which layers feed which loss."""

from __future__ import annotations

import torch  # noqa: F401  (doctests)
from torch import Tensor, nn

from pygkd.distill import functional as Fd
from pygkd.typing import Reduction

__all__ = [
    "ResponseL2Loss",
    "ResponseKLLoss",
    "OverseenResponseLoss",
    "TemporalCorrelationLoss",
    "SpatialCorrelationLoss",
    "StructuralKDLoss",
]


def _check_reduction(reduction: str) -> Reduction:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"Expected reduction in ('mean', 'sum', 'none') (got {reduction!r})")
    return reduction  # type: ignore[return-value]


class _HyperparameterRepr(nn.Module):
    """``repr`` shows the loss's hyper-parameters, e.g. ``ResponseL2Loss(beta=0.045, ...)``."""

    hyperparameters: tuple[str, ...] = ()

    def extra_repr(self) -> str:
        names = (*self.hyperparameters, "reduction")
        return ", ".join(f"{n}={getattr(self, n)!r}" for n in names)


class ResponseL2Loss(_HyperparameterRepr):
    r""":math:`L_{RD(L2)}` (Eq. 3): :math:`\beta (y^s-y^t)^2 + (1-\beta)(y^s-T)^2`.

    Recipe: ``{loss: rd-l2, beta: 0.045}`` (paper Table 6, PeMSD7).

    Shapes:
        - **input:** ``y_s``, ``y_t``, ``target`` of one shape, e.g. :math:`(B, N)`
        - **output:** scalar, or the input shape with ``reduction='none'``

    Example:
        >>> y = torch.zeros(2, 3)
        >>> ResponseL2Loss(beta=0.5)(y, y + 2, y + 1)
        tensor(2.5000)
    """

    hyperparameters = ("beta",)

    def __init__(self, beta: float, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.beta = Fd.check_unit("beta", beta)
        self.reduction = _check_reduction(reduction)

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor) -> Tensor:
        return Fd.response_l2(y_s, y_t, target, self.beta, self.reduction)


class ResponseKLLoss(_HyperparameterRepr):
    r""":math:`L_{RD(KL)}` (Eq. 1-2) with a softmax over nodes at temperature ``tau``.

    Recipe: ``{loss: rd-kl, beta: 0.007, tau: 1.0}``.

    Shapes:
        - **input:** ``y_s``, ``y_t``, ``target`` :math:`(B, N)` (softmax over the last axis)
        - **output:** scalar, or :math:`(B, N)` with ``reduction='none'``
    """

    hyperparameters = ("beta", "tau")

    def __init__(self, beta: float, tau: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.beta = Fd.check_unit("beta", beta)
        if tau <= 0:
            raise ValueError(f"Expected temperature 'tau' > 0 (got {tau})")
        self.tau, self.reduction = float(tau), _check_reduction(reduction)

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor) -> Tensor:
        return Fd.response_kl(y_s, y_t, target, self.beta, self.tau, self.reduction)


class OverseenResponseLoss(_HyperparameterRepr):
    r""":math:`L_{ORD}` (Eq. 4-6). After each call, ``teacher_share`` holds the share of
    entries that learned from the teacher (paper Table 3).

    Recipe: ``{loss: ord, alpha1: 0.593}``.

    Shapes:
        - **input:** ``y_s``, ``y_t``, ``target`` :math:`(B, N)` (min-max over the last axis)
        - **output:** scalar (or :math:`(B, N)` with ``reduction='none'``)

    Example:
        >>> y_s = torch.zeros(1, 3); y_t = torch.tensor([[1.0, 2.0, 5.0]]); T = torch.ones(1, 3)
        >>> loss = OverseenResponseLoss(alpha1=0.5)
        >>> float(loss(y_s, y_t, T)), round(float(loss.teacher_share), 4)
        (9.0, 0.3333)
    """

    hyperparameters = ("alpha1",)

    def __init__(self, alpha1: float, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.alpha1 = Fd.check_unit("alpha1", alpha1)
        self.reduction = _check_reduction(reduction)
        #: share of entries that followed the teacher in the last call
        self.teacher_share: Tensor | None = None

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor) -> Tensor:
        loss, share = Fd.overseen_response(y_s, y_t, target, self.alpha1, self.reduction,
                                           return_share=True)
        self.teacher_share = share.detach()
        return loss


class TemporalCorrelationLoss(_HyperparameterRepr):
    r""":math:`L_{TCD}` (Eq. 7-8); student and teacher widths may differ.

    Shapes:
        - **input:** student :math:`(B, T, N, C_s)`, teacher :math:`(B, T, N, C_t)`
        - **output:** scalar, or :math:`(B, N)` with ``reduction='none'``

    Example:
        >>> h_s = torch.randn(2, 6, 5, 4)
        >>> TemporalCorrelationLoss(reduction="none")(h_s, torch.cat([h_s, h_s], -1)).shape
        torch.Size([2, 5])
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, student: Tensor, teacher: Tensor | None = None,
                teacher_distances: Tensor | None = None) -> Tensor:
        """``teacher`` features, or their distances ``[B, N, T, T]`` precomputed."""
        return Fd.temporal_correlation(student, teacher, self.reduction, teacher_distances)


class SpatialCorrelationLoss(_HyperparameterRepr):
    r""":math:`L_{SCD}` (Eq. 9-10); student and teacher widths may differ.

    Shapes:
        - **input:** student :math:`(B, T, N, C_s)`, teacher :math:`(B, T, N, C_t)`
        - **output:** scalar, or :math:`(B, T)` with ``reduction='none'``

    Example:
        >>> h_s = torch.randn(2, 6, 5, 4)
        >>> SpatialCorrelationLoss(reduction="none")(h_s, torch.randn(2, 6, 5, 16)).shape
        torch.Size([2, 6])
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, student: Tensor, teacher: Tensor | None = None,
                teacher_distances: Tensor | None = None, nodes: Tensor | None = None) -> Tensor:
        """``teacher`` features, or their distances ``[B, T, N, N]`` precomputed; ``nodes``:
        a node sample (the sampled loss)."""
        return Fd.spatial_correlation(student, teacher, self.reduction, teacher_distances,
                                      nodes=nodes)


class StructuralKDLoss(_HyperparameterRepr):
    r""":math:`L_{SKD}` baseline (Bian et al. 2021): task MSE plus graph matching of the last
    block's pairwise distances, weight ``alpha``. Recipe: ``{loss: skd, alpha: 0.333}``.

    Shapes:
        - **input:** ``h_s`` :math:`(B, T, N, C_s)`, ``h_t`` :math:`(B, T, N, C_t)`,
          ``y_s``, ``target`` :math:`(B, N)`
        - **output:** scalar, or :math:`(B)` with ``reduction='none'``
    """

    hyperparameters = ("alpha",)

    def __init__(self, alpha: float, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.alpha = Fd.check_unit("alpha", alpha)
        self.reduction = _check_reduction(reduction)

    def forward(self, h_s: Tensor, h_t: Tensor, y_s: Tensor, target: Tensor) -> Tensor:
        return Fd.structural_kd(h_s, h_t, y_s, target, self.alpha, self.reduction)
