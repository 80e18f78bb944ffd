r"""Distillation losses as pure functions (paper Sec. 3.2).

Response losses take the student output ``y_s``, teacher output ``y_t`` and target ``T``, each
``[B, N]`` (one step) or ``[B, ..., N]``; feature losses take ``[B, T, N, C]`` features whose
channel widths may differ between student and teacher. The teacher side is always detached.
``||a - b||_2`` on a scalar is read as the squared error; every loss is a mean over its index
set (``reduction="mean"``), ``"sum"`` sums the same terms and ``"none"`` returns them.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor

from pygkd.typing import Reduction

__all__ = [
    "response_l2",
    "response_kl",
    "overseen_response",
    "temporal_correlation",
    "spatial_correlation",
    "spatio_temporal_correlation",
    "structural_kd",
    "pairwise_l1",
    "pairwise_euclidean",
    "sample_nodes",
    "check_unit",
    "scale_free",
    "mix_windows",
    "function_matching",
]

#: Elements of one ``[chunk, N, N]`` temporary of :func:`spatial_correlation` (4 Mi: 16 MB in
#: float32), which sets the default chunk for any ``N``.
SCD_CHUNK_ELEMENTS = 2**22

_REDUCTIONS = ("mean", "sum", "none")


def check_unit(name: str, value: float) -> float:
    """Raise ``ValueError`` unless ``0 <= value <= 1``."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"Expected '{name}' in [0, 1] (got {value})")
    return float(value)


def _reduce(terms: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return terms.mean()
    if reduction == "sum":
        return terms.sum()
    if reduction == "none":
        return terms
    raise ValueError(f"Expected reduction in {_REDUCTIONS} (got {reduction!r})")


def _check_same(a: Tensor, b: Tensor, names: tuple[str, str], dims: int | None = None) -> None:
    sa, sb = tuple(a.shape), tuple(b.shape)
    if dims is None:
        ok = sa == sb
        what = "the same shape"
    else:
        ok = a.dim() == b.dim() == 4 and sa[:dims] == sb[:dims]
        what = "[batch, time, nodes, channels] with equal batch, time and nodes"
    if not ok:
        raise ValueError(f"Expected '{names[0]}' and '{names[1]}' as {what} (got {sa} and {sb})")


def response_l2(y_s: Tensor, y_t: Tensor, target: Tensor, beta: float,
                reduction: Reduction = "mean") -> Tensor:
    r"""Response distillation with L2 (Eq. 3):
    :math:`\beta (y^s - y^t)^2 + (1 - \beta)(y^s - T)^2`, per entry.

    Example:
        >>> response_l2(torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([0.0]), 0.25)
        tensor(1.7500)
    """
    _check_same(y_s, y_t, ("student", "teacher"))
    _check_same(y_s, target, ("student", "target"))
    beta = check_unit("beta", beta)
    terms = beta * (y_s - y_t.detach()) ** 2 + (1 - beta) * (y_s - target) ** 2
    return _reduce(terms, reduction)


def response_kl(y_s: Tensor, y_t: Tensor, target: Tensor, beta: float, tau: float = 1.0,
                reduction: Reduction = "mean") -> Tensor:
    r"""Response distillation with KL divergence (Eq. 1-2).

    Z-scored speeds are not distributions, so both outputs pass through a softmax over the
    node axis (last dimension) at temperature :math:`\tau`; per entry,

    .. math::
        \beta\, p^t_{bi} \log\frac{p^t_{bi}}{p^s_{bi}} + (1 - \beta)(y^s_{bi} - T_{bi})^2,
        \qquad p = \mathrm{softmax}_i(y / \tau).

    Example:
        >>> y = torch.tensor([[0.0, 1.0]])
        >>> float(response_kl(y, y, y, beta=1.0))
        0.0
    """
    _check_same(y_s, y_t, ("student", "teacher"))
    _check_same(y_s, target, ("student", "target"))
    beta = check_unit("beta", beta)
    if tau <= 0:
        raise ValueError(f"Expected temperature 'tau' > 0 (got {tau})")
    log_p_s = F.log_softmax(y_s / tau, dim=-1)
    log_p_t = F.log_softmax(y_t.detach() / tau, dim=-1)
    kl = log_p_t.exp() * (log_p_t - log_p_s)
    terms = beta * kl + (1 - beta) * (y_s - target) ** 2
    return _reduce(terms, reduction)


@overload
def overseen_response(y_s: Tensor, y_t: Tensor, target: Tensor, alpha1: float,
                      reduction: Reduction = ..., return_share: Literal[False] = ...
                      ) -> Tensor: ...


@overload
def overseen_response(y_s: Tensor, y_t: Tensor, target: Tensor, alpha1: float,
                      reduction: Reduction = ..., *, return_share: Literal[True]
                      ) -> tuple[Tensor, Tensor]: ...


def overseen_response(y_s: Tensor, y_t: Tensor, target: Tensor, alpha1: float,
                      reduction: Reduction = "mean", return_share: bool = False
                      ) -> Tensor | tuple[Tensor, Tensor]:
    r"""Overseen response distillation :math:`L_{ORD}` (Eq. 4-6).

    :math:`D = |y^t - T|`, min-max normalised over nodes within each sample (``D = 0`` where
    max = min). Entries with :math:`D \le \alpha_1` learn from the target, the others from the
    teacher.

    Returns:
        The loss; with ``return_share``, ``(loss, teacher_share)``, the share of entries that
        used the teacher (paper Table 3).

    Example:
        >>> y_s = torch.zeros(1, 3); y_t = torch.tensor([[1.0, 2.0, 5.0]]); T = torch.ones(1, 3)
        >>> float(overseen_response(y_s, y_t, T, alpha1=0.5))
        9.0
        >>> loss, share = overseen_response(y_s, y_t, T, alpha1=0.5, return_share=True)
        >>> float(loss), float(share)  # D = [0, 0.25, 1]: target, target, teacher
        (9.0, 0.3333333432674408)
    """
    _check_same(y_s, y_t, ("student", "teacher"))
    _check_same(y_s, target, ("student", "target"))
    alpha1 = check_unit("alpha1", alpha1)
    y_t = y_t.detach()
    d = (y_t - target).abs()
    low = d.amin(dim=-1, keepdim=True)
    span = d.amax(dim=-1, keepdim=True) - low
    d = torch.where(span > 0, (d - low) / torch.where(span > 0, span, torch.ones_like(span)),
                    torch.zeros_like(d))
    use_teacher = d > alpha1
    terms = torch.where(use_teacher, (y_s - y_t) ** 2, (y_s - target) ** 2)
    loss = _reduce(terms, reduction)
    return (loss, use_teacher.float().mean()) if return_share else loss


def _distance_dtype(x: Tensor) -> Tensor:
    """Half-precision features (autocast) are compared in float32; float64 stays float64."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def sample_nodes(num_nodes: int, sample: int | None, generator: torch.Generator | None
                 = None, device: torch.device | None = None) -> Tensor | None:
    """A sorted random subset of ``sample`` node indices for the sampled :math:`L_{SCD}`, or
    ``None`` (all nodes: the exact loss) when ``sample`` is ``None`` or at least ``num_nodes``.

    Example:
        >>> sample_nodes(5, 10) is None
        True
        >>> sample_nodes(5, 3, torch.Generator().manual_seed(0)).tolist()
        [0, 1, 4]
    """
    if sample is None or sample >= num_nodes:
        return None
    if sample < 2:
        raise ValueError(f"Expected at least 2 sampled nodes (got {sample})")
    subset = torch.randperm(num_nodes, generator=generator)[:sample].sort().values
    return subset if device is None else subset.to(device)


def pairwise_l1(x: Tensor) -> Tensor:
    r"""Mean absolute difference between all pairs of rows: ``[..., M, C] -> [..., M, M]``,
    :math:`D_{ij} = \frac{1}{C} \sum_c |x_{ic} - x_{jc}|`, never building ``[..., M, M, C]``.

    Example:
        >>> pairwise_l1(torch.tensor([[0.0, 0.0], [1.0, 3.0]]))
        tensor([[0., 2.],
                [2., 0.]])
    """
    lead = x.shape[:-2]
    flat = _distance_dtype(x).reshape(-1, x.size(-2), x.size(-1))
    dist = torch.cdist(flat, flat, p=1.0) / x.size(-1)
    return dist.reshape(*lead, x.size(-2), x.size(-2))


def _upper_pairs_mse(d_s: Tensor, d_t: Tensor) -> Tensor:
    """Mean over ``i < j`` of ``(d_s - d_t)^2`` for ``[..., M, M]`` symmetric matrices."""
    m = d_s.size(-1)
    sq = (d_s - d_t) ** 2
    # symmetric with a zero diagonal: the i<j mean is the full sum / (M (M - 1))
    return sq.sum(dim=(-1, -2)) / max(m * (m - 1), 1)


def temporal_correlation(f_s: Tensor, f_t: Tensor | None = None,
                         reduction: Reduction = "mean",
                         teacher_distances: Tensor | None = None) -> Tensor:
    r"""Temporal correlation distillation :math:`L_{TCD}` (Eq. 7-8).

    .. math::
        TCD_{bnij} = \frac{1}{C}\sum_c |F_{binc} - F_{bjnc}|, \quad
        L = \operatorname{mean}_{b, n, i<j} (TCD^s_{bnij} - TCD^t_{bnij})^2

    Args:
        f_s (Tensor): student features ``[B, T, N, C_s]``.
        f_t (Tensor, optional): teacher features ``[B, T, N, C_t]`` (``C_t`` may differ).
        reduction: ``"none"`` returns ``[B, N]``.
        teacher_distances (Tensor, optional): the teacher's ``TCD^t`` ``[B, N, T, T]`` (e.g.
            cached from :func:`pairwise_l1` of ``f_t.transpose(1, 2)``) instead of ``f_t``.

    Example:
        >>> f = torch.randn(2, 4, 3, 5)
        >>> temporal_correlation(f, torch.cat([f, f], -1)).item() < 1e-10
        True
    """
    d_s = pairwise_l1(f_s.transpose(1, 2))  # [B, N, T, T]
    if teacher_distances is None:
        if f_t is None:
            raise ValueError("Expected teacher features 'f_t' or 'teacher_distances'")
        _check_same(f_s, f_t, ("student", "teacher"), dims=3)
        d_t = pairwise_l1(f_t.detach().transpose(1, 2))
    else:
        if teacher_distances.shape != d_s.shape:
            raise ValueError(f"Expected 'teacher_distances' of shape {tuple(d_s.shape)} "
                             f"(got {tuple(teacher_distances.shape)})")
        d_t = teacher_distances.detach().to(d_s.dtype)
    return _reduce(_upper_pairs_mse(d_s, d_t), reduction)


class _PairwiseL1Match(torch.autograd.Function):
    """Per slice ``m``: ``sum_{i,j} (D^s_mij - D^t_mij)^2`` with ``D = mean_c |x_i - x_j|``.

    Works through the slices in chunks, so no ``[M, N, N, C]`` tensor exists and each chunk's
    ``[chunk, N, N]`` work stays in cache; keeps only the ``[M, N, N]`` residual for backward,
    where ``dL/dx_ic = (4 / C) sum_j R_ij sign(x_ic - x_jc)`` (R is symmetric).
    """

    @staticmethod
    def forward(ctx, x_s: Tensor, x_t: Tensor | None, d_t: Tensor | None,  # type: ignore[override]
                chunk: int) -> Tensor:
        m, n, _ = x_s.shape
        residual = x_s.new_empty(m, n, n)
        out = x_s.new_empty(m)
        for a in range(0, m, chunk):
            xs = x_s[a : a + chunk]
            if d_t is None:
                xt = x_t[a : a + chunk]  # type: ignore[index]
                target = torch.cdist(xt, xt, p=1.0) / xt.size(-1)
            else:
                target = d_t[a : a + chunk]
            r = torch.cdist(xs, xs, p=1.0).div_(xs.size(-1)).sub_(target)
            residual[a : a + chunk] = r
            out[a : a + chunk] = (r * r).sum(dim=(1, 2))
        ctx.save_for_backward(x_s, residual)
        ctx.chunk = chunk
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        x_s, residual = ctx.saved_tensors
        c = x_s.size(-1)
        grad = torch.empty_like(x_s)
        for a in range(0, x_s.size(0), ctx.chunk):
            xs, r = x_s[a : a + ctx.chunk], residual[a : a + ctx.chunk]
            r = r * (grad_out[a : a + ctx.chunk] * (4.0 / c))[:, None, None]
            for k in range(c):
                col = xs[..., k]
                sign = torch.sign(col[:, :, None] - col[:, None, :])
                grad[a : a + ctx.chunk, :, k] = (sign * r).sum(-1)
        return grad, None, None, None


def spatial_correlation(f_s: Tensor, f_t: Tensor | None = None,
                        reduction: Reduction = "mean", teacher_distances: Tensor | None = None,
                        chunk: int | None = None, nodes: Tensor | None = None) -> Tensor:
    r"""Spatial correlation distillation :math:`L_{SCD}` (Eq. 9-10), exact or on a node sample.

    .. math::
        SCD_{btij} = \frac{1}{C}\sum_c |F_{btic} - F_{btjc}|, \quad
        L = \operatorname{mean}_{b, t, i<j} (SCD^s_{btij} - SCD^t_{btij})^2

    No ``[B, T, N, N, C]`` tensor is built: distances come from ``torch.cdist(p=1)`` on chunks
    of ``chunk`` (b, t) slices, and the backward pass is a hand-written chunked kernel that
    keeps one ``[B, T, N, N]`` residual (at B=50, T=10, N=228, C=32 the whole loss peaks near
    0.5 GB above its inputs). Distances are computed in float32 for half-precision features.

    Being quadratic in nodes, the exact loss does not scale to thousands of sensors. With
    ``nodes`` (e.g. from :func:`sample_nodes`: one random subset of ``M`` nodes per batch, the
    same for teacher and student) it is computed on that subset only: an unbiased estimate of
    the mean over pairs at ``O(M^2)`` cost (not in the paper).

    Args:
        f_s (Tensor): student features ``[B, T, N, C_s]``.
        f_t (Tensor, optional): teacher features ``[B, T, N, C_t]``.
        reduction: ``"none"`` returns ``[B, T]``.
        teacher_distances (Tensor, optional): the teacher's ``SCD^t`` ``[B, T, N, N]``, e.g.
            cached from :func:`pairwise_l1`, instead of ``f_t``.
        chunk (int, optional): ``(b, t)`` slices per chunk (default: as many as keep one
            ``[chunk, N, N]`` temporary within 4 Mi elements, at most 64).
        nodes (Tensor, optional): indices ``[M]`` of the nodes to compare (default: all).

    Example:
        >>> f = torch.randn(2, 4, 3, 5)
        >>> spatial_correlation(f, f + 1.0, reduction="none").abs().max().item() < 1e-6
        True
    """
    if teacher_distances is None:
        if f_t is None:
            raise ValueError("Expected teacher features 'f_t' or 'teacher_distances'")
        _check_same(f_s, f_t, ("student", "teacher"), dims=3)
    else:
        shape = tuple(f_s.shape[:3]) + (f_s.size(2),)
        if tuple(teacher_distances.shape) != shape:
            raise ValueError(f"Expected 'teacher_distances' of shape {shape} "
                             f"(got {tuple(teacher_distances.shape)})")
    if nodes is not None:
        f_s = f_s.index_select(2, nodes)
        if teacher_distances is None:
            f_t = f_t.index_select(2, nodes)  # type: ignore[union-attr]
        else:
            teacher_distances = teacher_distances.index_select(2, nodes).index_select(3, nodes)
    b, t, n = f_s.shape[:3]
    f_s = _distance_dtype(f_s)
    if teacher_distances is None:
        x_t = _distance_dtype(f_t.detach()).reshape(-1, n, f_t.size(3))  # type: ignore[union-attr]
        x_t, d_t = x_t.to(f_s.dtype), None
    else:
        x_t, d_t = None, teacher_distances.detach().to(f_s.dtype).reshape(-1, n, n)
    if chunk is None:
        chunk = max(1, min(64, SCD_CHUNK_ELEMENTS // max(n * n, 1)))
    x_s = f_s.reshape(b * t, n, f_s.size(3))
    sums = _PairwiseL1Match.apply(x_s, x_t, d_t, chunk)
    return _reduce(sums.reshape(b, t) / max(n * (n - 1), 1), reduction)


def scale_free(features: Tensor, eps: float = 1e-6) -> Tensor:
    """Features ``[B, ...]`` divided by their standard deviation over each window (all
    dimensions but the first): distances between them no longer depend on the features'
    scale (``distill.normalize_features``; not in the paper).

    Example:
        >>> f = torch.randn(2, 3, 4, 5)
        >>> bool(torch.allclose(scale_free(7.0 * f), scale_free(f), atol=1e-5))
        True
    """
    std = features.flatten(1).std(dim=1).clamp_min(eps)
    return features / std.view(-1, *([1] * (features.dim() - 1)))


def mix_windows(x: Tensor, lam: Tensor, partner: Tensor) -> Tensor:
    r"""Mixed windows :math:`\tilde x_b = \lambda_b x_b + (1 - \lambda_b) x_{p_b}` (mixup of
    the inputs only, Zhang et al. 2018), on which :func:`function_matching` compares student
    and teacher (not in the paper).

    Args:
        x (Tensor): windows ``[B, T, N, C]``.
        lam (Tensor): ``[B]`` mixing weights in [0, 1].
        partner (Tensor): ``[B]`` indices into the batch of each window's partner.

    Example:
        >>> x = torch.tensor([0.0, 10.0]).view(2, 1, 1, 1)
        >>> mix_windows(x, torch.tensor([0.25, 1.0]), torch.tensor([1, 0])).flatten().tolist()
        [7.5, 10.0]
    """
    if lam.shape != x.shape[:1] or partner.shape != x.shape[:1]:
        raise ValueError(f"Expected lam and partner of shape [{x.size(0)}] for windows "
                         f"{list(x.shape)} (got {list(lam.shape)} and {list(partner.shape)})")
    w = lam.to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return w * x + (1 - w) * x[partner.to(x.device)]


def function_matching(y_s: Tensor, y_t: Tensor, reduction: Reduction = "mean") -> Tensor:
    r"""Function matching (Beyer et al. 2022, "A good teacher is patient and consistent"):
    :math:`(y^s - y^t)^2` of student and teacher on the same (mixed) windows, no ground truth
    (not in the paper).

    Shapes: ``y_s``, ``y_t`` of one shape, e.g. ``[B, N]``; a scalar, or that shape with
    ``reduction='none'``.

    Example:
        >>> float(function_matching(torch.zeros(1, 2), torch.tensor([[1.0, 3.0]])))
        5.0
    """
    _check_same(y_s, y_t, ("student", "teacher"))
    return _reduce((y_s - y_t.detach()) ** 2, reduction)


def spatio_temporal_correlation(ord_loss: Tensor, scd: Tensor, tcd: Tensor, alpha2: float,
                                alpha3: float) -> Tensor:
    r""":math:`L_{STCD} = L_{ORD} + \alpha_3 (\alpha_2 L_{SCD} + (1 - \alpha_2) L_{TCD})` (Eq. 11).

    Example:
        >>> spatio_temporal_correlation(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0),
        ...                             alpha2=0.25, alpha3=0.5)
        tensor(2.7500)
    """
    alpha2, alpha3 = check_unit("alpha2", alpha2), check_unit("alpha3", alpha3)
    return ord_loss + alpha3 * (alpha2 * scd + (1 - alpha2) * tcd)


#: Elements of one ``[chunk, M, M]`` distance temporary of :func:`structural_kd` (1 Mi: 4 MB
#: in float32, one sample of ``M`` = 828 points at a time, so it stays in cache).
SKD_CHUNK_ELEMENTS = 2**20


def _gram_distances(x: Tensor) -> tuple[Tensor, Tensor]:
    """``[b, M, C] -> [b, M, M]`` Euclidean distances and the mask of the non-zero ones."""
    squared = x.pow(2).sum(dim=-1)
    norms = squared.unsqueeze(-1) + squared.unsqueeze(-2)
    d2 = torch.baddbmm(norms, x, x.transpose(1, 2), alpha=-2.0)
    # below the Gram identity's rounding the points coincide (the diagonal among them)
    nonzero = d2 > norms.mul_(4 * torch.finfo(x.dtype).eps)
    nonzero.diagonal(dim1=-2, dim2=-1).fill_(False)
    return d2.clamp_min_(0).sqrt_().mul_(nonzero), nonzero


def pairwise_euclidean(x: Tensor) -> Tensor:
    r"""Euclidean distances between all pairs of rows, ``[B, M, C] -> [B, M, M]``, from the
    Gram matrix :math:`\lVert x_i \rVert^2 + \lVert x_j \rVert^2 - 2 x_i \cdot x_j` (one
    batched GEMM). Pairs closer than that identity's rounding (about ``2 * sqrt(eps)`` of the
    rows' norm: 7e-4 in float32) and the diagonal are exactly 0. No gradient; see
    :func:`structural_kd` for the loss built on it.

    Example:
        >>> pairwise_euclidean(torch.tensor([[[0.0, 0.0], [3.0, 4.0]]]))
        tensor([[[0., 5.],
                 [5., 0.]]])
    """
    with torch.no_grad():
        return _gram_distances(_distance_dtype(x))[0]


class _GraphMatching(torch.autograd.Function):
    r"""Per sample ``b``: :math:`\operatorname{mean}_{ij} \operatorname{smoothL1}(S^s_{bij} -
    S^t_{bij})` with :math:`S = D / \bar D` (:math:`\bar D`: the mean of the non-zero
    distances), for ``[B, M, C]`` points.

    The gradient is computed with the loss, one chunk of samples at a time, and kept as
    ``[B, M, C]`` (never a ``[B, M, M]`` tensor): with :math:`g = \operatorname{clamp}(S^s -
    S^t, -1, 1) / M^2`, :math:`\partial L / \partial D_{ij} = g_{ij} / \bar D - [D_{ij} > 0]
    \sum_{kl} g_{kl} D_{kl} / (\bar D^2 \lvert D > 0 \rvert)`, then :math:`G = (\partial
    L / \partial D) / (2D)` on the non-zero distances and :math:`\partial L / \partial x =
    4 (\operatorname{rowsum}(G) \, x - G x)` (:math:`G` is symmetric).
    """

    @staticmethod
    def forward(ctx, x_s: Tensor, x_t: Tensor, chunk: int,  # type: ignore[override]
                with_grad: bool) -> Tensor:
        # the Gram identity needs float32 at least: no autocast to half precision in here
        with torch.autocast(x_s.device.type, enabled=False):
            return _GraphMatching.run(ctx, x_s, x_t, chunk, with_grad)

    @staticmethod
    def run(ctx, x_s: Tensor, x_t: Tensor, chunk: int,  # type: ignore[no-untyped-def]
            with_grad: bool) -> Tensor:
        batch, points, _ = x_s.shape
        out = x_s.new_empty(batch)
        # the gradient is made here only when the caller records one (see structural_kd)
        grad = torch.empty_like(x_s) if with_grad else None
        for a in range(0, batch, chunk):
            xs = x_s[a : a + chunk]
            d_s, nz_s = _gram_distances(xs)
            d_t, nz_t = _gram_distances(x_t[a : a + chunk])
            count = nz_s.sum(dim=(1, 2)).clamp_min(1)
            mean_s = (d_s.sum(dim=(1, 2)) / count).clamp_min(1e-12)[:, None, None]
            mean_t = (d_t.sum(dim=(1, 2)) / nz_t.sum(dim=(1, 2)).clamp_min(1)).clamp_min(
                1e-12)[:, None, None]
            r = (d_s / mean_s).sub_(d_t.div_(mean_t))
            out[a : a + chunk] = F.smooth_l1_loss(r, torch.zeros_like(r), reduction="none"
                                                  ).mean(dim=(1, 2))
            if grad is None:
                continue
            g = r.clamp_(-1.0, 1.0).div_(points * points)  # dL/dS
            shift = (g * d_s).sum(dim=(1, 2))[:, None, None] / (mean_s * mean_s
                                                                * count[:, None, None])
            g = g.div_(mean_s).sub_(shift * nz_s)  # dL/dD
            g = g.div_(d_s.mul_(2).masked_fill_(~nz_s, 1.0)).mul_(nz_s)  # dL/d(D^2)
            grad[a : a + chunk] = 4 * (g.sum(dim=-1, keepdim=True) * xs - torch.bmm(g, xs))
        ctx.save_for_backward(grad)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_out[:, None, None], None, None, None


def structural_kd(h_s: Tensor, h_t: Tensor, y_s: Tensor, target: Tensor, alpha: float,
                  reduction: Reduction = "mean") -> Tensor:
    r"""Structural KD baseline :math:`L_{SKD}` (Bian et al. 2021, graph matching).

    Per sample, the features ``[T, N, C]`` are flattened to ``[T*N, C]``; pairwise Euclidean
    distances are divided by their mean over non-zero entries, and student and teacher are
    compared with smooth-L1:
    :math:`L = (1-\alpha) \operatorname{mean}(y^s - T)^2 + \alpha L_{GM}`.

    :math:`L_{GM}` and its gradient are computed a few samples at a time
    (:data:`SKD_CHUNK_ELEMENTS`), from Gram matrices (:func:`pairwise_euclidean`), so no
    ``[B, T*N, T*N]`` tensor is kept for the backward pass (at a Los-loop student's
    ``[50, 4, 207, C]`` each is 137 MB); distances of (nearly) coincident points, the
    diagonal included, are 0.

    Args:
        h_s, h_t (Tensor): last ST-Conv block outputs ``[B, T, N, C_s]`` and ``[B, T, N, C_t]``.
        y_s, target (Tensor): ``[B, N]``.
        reduction: ``"none"`` returns ``[B]`` (per-sample task MSE and matching loss).

    Example:
        >>> h = torch.randn(2, 3, 4, 5); y = torch.zeros(2, 4)
        >>> float(structural_kd(h, 2 * h, y, y, alpha=0.5))  # distances scale away
        0.0
    """
    _check_same(h_s, h_t, ("student", "teacher"), dims=3)
    _check_same(y_s, target, ("student", "target"))
    alpha = check_unit("alpha", alpha)

    flat_s = _distance_dtype(h_s).reshape(h_s.size(0), -1, h_s.size(-1))
    flat_t = _distance_dtype(h_t.detach()).reshape(h_t.size(0), -1, h_t.size(-1))
    points = flat_s.size(1)
    chunk = max(1, min(64, SKD_CHUNK_ELEMENTS // max(points * points, 1)))
    with_grad = torch.is_grad_enabled() and flat_s.requires_grad
    match = _GraphMatching.apply(flat_s, flat_t.to(flat_s.dtype), chunk, with_grad)
    task = ((y_s - target) ** 2).reshape(y_s.size(0), -1).mean(dim=1)
    return _reduce((1 - alpha) * task + alpha * match, reduction)
