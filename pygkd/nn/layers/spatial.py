r"""Chebyshev graph convolution applied through an explicit graph operator.

PyG's :class:`~torch_geometric.nn.conv.ChebConv` materialises one message per edge for every
(batch, time) slice, and guesses :math:`\lambda_{max} = 2`. On the 85 %-dense PeMSD7(M) graph
that costs seconds to minutes per batch. :class:`FastChebConv` is a drop-in subclass: same
parameters, state-dict names and outputs (for the same :math:`\lambda_{max}`), but it applies the
scaled Laplacian (:class:`~pygkd.nn.layers.GraphOperator`) with one matrix product per
propagation over all leading dimensions and channels.

On a sparse graph whose features fit the operator's row gather
(:meth:`~pygkd.nn.layers.GraphOperator.gathers_rows`), ``[B, T, N, C]`` features on the CPU
(where it was measured) of at least :data:`ROW_PATH_CHANNELS` channels and at most
:data:`ROW_PATH_BYTES` stay channel-last throughout (:meth:`FastChebConv.forward_rows`): the
propagations gather rows in place of transposing to node-major and back, and the
:math:`\Theta_k` products are 1x1 convolutions over the ``channels_last`` view (oneDNN), which
run these narrow products faster than a BLAS ``[B T N, C] @ [C, C']``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import ChebConv

from pygkd.nn.layers.onednn import onednn_linear, takes_onednn
from pygkd.nn.layers.operator import GraphOperator
from pygkd.nn.layers.tracing import traced
from pygkd.typing import OptTensor

__all__ = ["FastChebConv", "rows_per_group", "grouped_weight", "grouped_products", "row_path"]

#: A narrow product ``[M, C] @ [C, O]`` is regrouped until ``k * max(C, O)`` reaches this
#: (see :func:`rows_per_group`).
GROUPED_WIDTH = 32


#: Both widths of a layer at least this: on a sparse graph the channel-last path
#: (:meth:`FastChebConv.forward_rows`) runs it. Measured on the PeMSD7(M) graph (a layer forward
#: and backward, 1 thread): 1.06-1.49x faster at 16-64 channels, slower at 2-4 (gathering
#: rows a few floats wide costs more than a node-major product over long rows).
ROW_PATH_CHANNELS = 16
#: ... and its widest features at most this many bytes (the 32 MB last-level cache of the
#: measuring machine): on larger ones the 1x1 convolutions ran slower than BLAS products (32
#: channels, 8,600 sensors, batch 8: 0.87-0.94x forward and backward).
ROW_PATH_BYTES = 32 * 2**20

_GROUPED = ContextVar("pygkd_grouped_products", default=True)


@contextmanager
def grouped_products(enabled: bool) -> Iterator[None]:
    """Within this context, :class:`FastChebConv` groups narrow products (see
    :func:`rows_per_group`) only if ``enabled``. FLOP counts use ``False``: a grouped product
    multiplies by the zeros of ``I_k x W`` too, which is not the model's work."""
    token = _GROUPED.set(bool(enabled))
    try:
        yield
    finally:
        _GROUPED.reset(token)


_ROWS = ContextVar("pygkd_row_path", default=True)


@contextmanager
def row_path(enabled: bool) -> Iterator[None]:
    """Within this context, :class:`FastChebConv` takes its channel-last path
    (:meth:`FastChebConv.takes_row_path`) only if ``enabled`` (``False``: the node-major path
    everywhere, e.g. to time one against the other)."""
    token = _ROWS.set(bool(enabled))
    try:
        yield
    finally:
        _ROWS.reset(token)


def rows_per_group(rows: int, in_channels: int, out_channels: int,
                   widest: int = GROUPED_WIDTH) -> int:
    r"""Rows ``k`` taken together in a narrow product ``[M, C] @ [C, O]``: it runs as
    ``[M / k, k C] @ (I_k \otimes W)``, the same numbers, because BLAS and its backward are
    slow on operands two to eight columns wide (a student's 2-channel ``Theta_k`` products on
    8,600 sensors: about 2.5x faster forward and backward with ``k = 8``). The largest power of
    two with ``k * max(C, O) <= widest`` that divides ``M``; ``1`` for wide products.

    Example:
        >>> rows_per_group(688_000, 2, 2), rows_per_group(688_000, 2, 4), rows_per_group(50, 64, 64)
        (16, 8, 1)
        >>> rows_per_group(6, 2, 2)  # 6 rows: pairs at most
        2
    """
    k = 1
    while 2 * k * max(in_channels, out_channels) <= widest and rows % (2 * k) == 0:
        k *= 2
    return k


def grouped_weight(weight_t: Tensor, k: int) -> Tensor:
    r"""``I_k \otimes W^T``, ``[k C, k O]``, for ``weight_t = W^T`` of shape ``[C, O]``
    (itself for ``k = 1``); differentiable, in the weight's dtype and device.

    Example:
        >>> w = torch.arange(4.0).view(2, 2)
        >>> x = torch.randn(6, 2)
        >>> bool(torch.allclose(x.view(3, 4) @ grouped_weight(w, 2), (x @ w).view(3, 4)))
        True
    """
    if k == 1:
        return weight_t
    eye = torch.eye(k, dtype=weight_t.dtype, device=weight_t.device)
    return torch.kron(eye, weight_t.contiguous())


class FastChebConv(ChebConv):
    r"""PyG ``ChebConv`` (Defferrard et al. 2016) applied with an explicit graph operator.

    .. math::
        X' = \sum_{k=0}^{K-1} T_k(\tilde L) X \Theta_k + b, \quad
        T_0 = I,\ T_1 = \tilde L,\ T_k = 2 \tilde L T_{k-1} - T_{k-2}

    Same constructor, parameters (``lins.k.weight``, ``bias``) and state-dict names as
    :class:`~torch_geometric.nn.conv.ChebConv`, so checkpoints move between the two. The operator
    :math:`\tilde L` comes from, in order: the ``operator`` argument of :meth:`forward`; the
    cached operator (with ``cached=True``, PyG's convention for a static graph: built on the
    first call and reused whatever graph is passed later, until :meth:`reset_cache`); or it is
    built from ``edge_index``/``edge_weight`` on this call (exact :math:`\lambda_{max}` unless
    one is given).

    Args:
        in_channels (int), out_channels (int), K (int), normalization (str), bias (bool): as
            ``ChebConv``.
        cached (bool): build the operator once and reuse it (default: ``False``).
        dense_threshold (float): store the operator dense when its density (nonzeros / N^2) is
            at least this, else sparse CSR (default: ``0.05``).

    Shapes:
        - **input:** node features :math:`(*, N, C_{in})` (e.g. ``[B, T, N, C]``),
          ``edge_index`` :math:`(2, E)`, ``edge_weight`` :math:`(E)` *(optional)*
        - **output:** :math:`(*, N, C_{out})`

    Example:
        >>> import torch
        >>> from pygkd.testing import toy_graph
        >>> ei, ew = toy_graph(5)
        >>> conv = FastChebConv(4, 8, K=3)
        >>> conv(torch.randn(2, 10, 5, 4), ei, ew).shape
        torch.Size([2, 10, 5, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, K: int, normalization: str | None
                 = "sym", bias: bool = True, cached: bool = False, dense_threshold: float = 0.05,
                 **kwargs) -> None:
        super().__init__(in_channels, out_channels, K, normalization=normalization, bias=bias,
                         **kwargs)
        self.cached = cached
        self.dense_threshold = dense_threshold
        self.cached_operator: GraphOperator | None = None

    def reset_cache(self) -> None:
        """Forget the cached operator (the next call builds it again)."""
        self.cached_operator = None

    def build_operator(self, x: Tensor, edge_index: Tensor, edge_weight: OptTensor = None,
                       lambda_max: OptTensor = None) -> GraphOperator:
        """The scaled Laplacian of this graph for features ``x`` (its node count, dtype and
        device)."""
        lam = None if lambda_max is None else float(lambda_max)
        op = GraphOperator.from_edges(edge_index, edge_weight, x.size(-2), self.normalization,
                                      lam, x.dtype, self.dense_threshold)
        return op.to(x.device)

    def forward(self, x: Tensor, edge_index: OptTensor = None, edge_weight: OptTensor = None,
                batch: OptTensor = None, lambda_max: OptTensor = None,
                operator: GraphOperator | None = None, residual: OptTensor = None) -> Tensor:
        """``residual`` (optional, ``[C_out, C_in]``): a linear map of the input added to the
        output, folded into :math:`\Theta_0` (STGCN's aligned skip connection at no extra
        pass over the activations)."""
        if batch is not None:
            raise NotImplementedError("FastChebConv serves one static graph; use ChebConv")
        op = operator if operator is not None else self.cached_operator
        if op is None:
            if edge_index is None:
                raise ValueError("Expected 'edge_index' (or an 'operator', or cached=True after "
                                 "a first call with the graph)")
            op = self.build_operator(x, edge_index, edge_weight, lambda_max)
            if self.cached:
                self.cached_operator = op
        n, c_in = x.size(-2), x.size(-1)
        c_out = self.lins[0].weight.size(0)
        lead = x.shape[:-2]
        weight = self.lins[0].weight
        if residual is not None:
            weight = weight + residual.to(weight.dtype)
        if self.takes_row_path(x, op):
            return self.forward_rows(x, op, weight)
        # node-major layout [N, L * C]: one product per propagation over all L = prod(*)
        # slices; each Theta_k product accumulates into the output in place (bias first).
        # Narrow products take k rows together (rows_per_group: same numbers, faster BLAS)
        t0 = x.movedim(-2, 0).reshape(n, -1).contiguous()
        # (not while tracing: the grouping depends on the batch size, which an exported
        # program keeps dynamic)
        k = 1 if traced() or not _GROUPED.get() else rows_per_group(t0.numel() // c_in, c_in,
                                                                      c_out)
        onednn = takes_onednn(t0, weight, t0.numel() // (k * c_in))

        def product(rows: Tensor, w: Tensor, into: OptTensor = None,
                    bias: OptTensor = None) -> Tensor:
            """``into + rows @ (I_k x w.T) (+ bias)``, rows ``[M / k, k C_in]``."""
            rows, w_t = rows.view(-1, k * c_in), grouped_weight(w.t(), k)
            if onednn:  # oneDNN's product, then one add (see pygkd.nn.layers.onednn)
                y = onednn_linear(rows, w_t.t(), bias)
                return y if into is None else into.add_(y)
            if into is None:
                return torch.mm(rows, w_t) if bias is None else torch.addmm(bias, rows, w_t)
            # (in place: autocast leaves addmm_ alone, so the operands follow ``into``)
            return into.addmm_(rows.to(into.dtype), w_t.to(into.dtype))

        out = product(t0, weight, bias=None if self.bias is None else self.bias.repeat(k))
        if len(self.lins) > 1:
            t1 = op.propagate_flat(t0)
            out = product(t1, self.lins[1].weight, out)
            for lin in self.lins[2:]:
                t2 = op.chebyshev_step(t1, t0)  # 2 L~ T_{k-1} - T_{k-2}
                out = product(t2, lin.weight, out)
                t0, t1 = t1, t2
        # back to [*, N, C] in memory too: later layers run on contiguous features
        return out.view(n, *lead, c_out).movedim(0, -2).contiguous()

    def takes_row_path(self, x: Tensor, op: GraphOperator) -> bool:
        """Whether :meth:`forward` runs ``x`` through :meth:`forward_rows`: ``[B, T, N, C]``
        features on the CPU, both widths at least :data:`ROW_PATH_CHANNELS`, the widest
        features at most :data:`ROW_PATH_BYTES`, a sparse operator whose row gather serves
        ``B * T`` slices, not traced, and not switched off (:func:`row_path`)."""
        # (tracing first: a test on the batch size would become a guard on it)
        if traced() or not _ROWS.get() or x.dim() != 4 or x.device.type != "cpu":
            return False
        c_in, c_out = x.size(-1), self.lins[0].weight.size(0)
        widest = x.numel() // max(c_in, 1) * max(c_in, c_out) * x.element_size()
        return (min(c_in, c_out) >= ROW_PATH_CHANNELS and widest <= ROW_PATH_BYTES
                and op.gathers_rows(x.size(0) * x.size(1)))

    def forward_rows(self, x: Tensor, op: GraphOperator, weight: Tensor) -> Tensor:
        r"""The channel-last path of :meth:`forward` for ``x`` of shape ``[B, T, N, C_in]``
        (``weight``: :math:`\Theta_0` with any residual folded in): each
        :math:`T_k X` is ``[B T N, C_in]`` rows from
        :meth:`~pygkd.nn.layers.GraphOperator.propagate_rows`, each :math:`T_k X \Theta_k` a 1x1
        convolution over the ``channels_last`` view ``[B, C, T, N]``; the last order's
        :math:`- T_{K-3} X \Theta_{K-1}` is folded into :math:`\Theta_{K-3}` (by the
        Chebyshev recurrence, :math:`T_k = 2 \tilde L T_{k-1} - T_{k-2}`). Returns
        ``[B, T, N, C_out]`` (contiguous)."""
        b, t, n, c_in = x.shape

        def theta(rows: Tensor, w: Tensor, bias: OptTensor = None) -> Tensor:
            view = rows.view(b, t, n, c_in).permute(0, 3, 1, 2)  # [B, C, T, N], no copy
            return F.conv2d(view, w.to(rows.dtype)[:, :, None, None],
                            None if bias is None else bias.to(rows.dtype))

        thetas = [weight] + [lin.weight for lin in self.lins[1:]]
        last = len(thetas) - 1
        if last >= 2:  # T_last = 2 L~ T_{last-1} - T_{last-2}: the subtraction moves into
            # Theta_{last-2} (one pass less over the rows, forward and backward)
            thetas[last - 2] = thetas[last - 2] - thetas[last]
        t0 = x.contiguous().view(-1, c_in)
        out = theta(t0, thetas[0], self.bias)
        if last >= 1:
            t1 = op.propagate_rows(t0)
            out = out.add_(theta(t1, thetas[1]))
            for k in range(2, last + 1):
                # 2 L~ T_{k-1} - T_{k-2}; for the last order only 2 L~ T_{k-1} (see above)
                t2 = op.propagate_rows(t1, 2.0) if k == last else op.chebyshev_rows(t1, t0)
                out = out.add_(theta(t2, thetas[k]))
                t0, t1 = t1, t2
        return out.permute(0, 2, 3, 1)  # channels_last [B, C, T, N] is [B, T, N, C] in memory
