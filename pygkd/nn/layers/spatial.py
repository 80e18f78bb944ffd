r"""Chebyshev graph convolution with a cached, exactly scaled Laplacian (SPEC section 1).

PyG's :class:`~torch_geometric.nn.conv.ChebConv` materialises one message per edge for every
(batch, time) slice, and guesses :math:`\lambda_{max} = 2`. On the 85 %-dense PeMSD7(M) graph
that costs seconds to minutes per batch. :class:`FastChebConv` is a drop-in subclass: same
parameters, state-dict names and outputs (for the same :math:`\lambda_{max}`), but it builds the
scaled Laplacian once per graph and applies it with one dense or sparse matrix product over all
leading dimensions.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.nn import ChebConv
from torch_geometric.utils import get_laplacian, remove_self_loops

from pygkd.typing import OptTensor

__all__ = ["FastChebConv", "scaled_laplacian", "laplacian_lambda_max"]


def _dense_laplacian(
    edge_index: Tensor, edge_weight: OptTensor, num_nodes: int, normalization: Optional[str],
    dtype: torch.dtype,
) -> Tensor:
    """Dense Laplacian ``M[target, source]`` as PyG's ``get_laplacian`` defines it."""
    edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
    index, weight = get_laplacian(edge_index, edge_weight, normalization, dtype, num_nodes)
    dense = torch.zeros(num_nodes, num_nodes, dtype=dtype, device=index.device)
    dense.index_put_((index[1], index[0]), weight.to(dtype), accumulate=True)
    return dense


def laplacian_lambda_max(laplacian: Tensor) -> float:
    """Exact largest eigenvalue (real part) of a dense Laplacian.

    Example:
        >>> laplacian_lambda_max(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
        2.0
    """
    work = laplacian.double().cpu()
    if torch.allclose(work, work.T):
        return float(torch.linalg.eigvalsh(work).max())
    return float(torch.linalg.eigvals(work).real.max())


def scaled_laplacian(
    edge_index: Tensor,
    edge_weight: OptTensor,
    num_nodes: int,
    normalization: Optional[str] = "sym",
    lambda_max: Optional[float] = None,
    dtype: torch.dtype = torch.float32,
) -> Tuple[Tensor, float]:
    r"""Dense :math:`\tilde L = 2 L / \lambda_{max} - I`, oriented so that ``L @ x`` aggregates
    messages at their targets, and the :math:`\lambda_{max}` used.

    With ``lambda_max=None`` the exact largest eigenvalue of :math:`L` is computed (PyG's
    ``ChebConv`` would guess 2 for the ``sym`` normalisation).

    Example:
        >>> ei = torch.tensor([[0, 1], [1, 0]])
        >>> L, lam = scaled_laplacian(ei, None, 2)
        >>> lam, L.tolist()
        (2.0, [[0.0, -1.0], [-1.0, 0.0]])
    """
    lap = _dense_laplacian(edge_index, edge_weight, num_nodes, normalization, torch.float64)
    lam = laplacian_lambda_max(lap) if lambda_max is None else float(lambda_max)
    if lam <= 0:
        lam = 1.0  # a graph without edges: L = I, keep PyG's masking of inf weights harmless
    eye = torch.eye(num_nodes, dtype=torch.float64, device=lap.device)
    return (2.0 * lap / lam - eye).to(dtype), lam


class FastChebConv(ChebConv):
    r"""PyG ``ChebConv`` (Defferrard et al. 2016) applied with a cached dense or sparse operator.

    .. math::
        X' = \sum_{k=0}^{K-1} T_k(\tilde L) X \Theta_k + b, \quad
        T_0 = I,\ T_1 = \tilde L,\ T_k = 2 \tilde L T_{k-1} - T_{k-2}

    Same constructor, parameters (``lins.k.weight``, ``bias``) and state-dict names as
    :class:`~torch_geometric.nn.conv.ChebConv`, so checkpoints move between the two. The scaled
    Laplacian is computed once per graph (exact :math:`\lambda_{max}` unless one is given) and
    reused while ``edge_index``/``edge_weight`` are the same, unmodified tensors.

    Args:
        in_channels (int), out_channels (int), K (int), normalization (str), bias (bool): as
            ``ChebConv``.
        dense_threshold (float): use a dense matmul when the operator's density (nonzeros /
            N^2) is at least this, else a sparse COO matmul (default: ``0.05``).

    Shapes:
        - **input:** node features :math:`(*, N, C_{in})` (e.g. ``[B, T, N, C]``),
          ``edge_index`` :math:`(2, E)`, ``edge_weight`` :math:`(E)` *(optional)*
        - **output:** :math:`(*, N, C_{out})`

    Example:
        >>> from pygkd.testing import toy_graph
        >>> ei, ew = toy_graph(5)
        >>> conv = FastChebConv(4, 8, K=3)
        >>> conv(torch.randn(2, 10, 5, 4), ei, ew).shape
        torch.Size([2, 10, 5, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, K: int, normalization: Optional[str]
                 = "sym", bias: bool = True, dense_threshold: float = 0.05, **kwargs) -> None:
        super().__init__(in_channels, out_channels, K, normalization=normalization, bias=bias,
                         **kwargs)
        self.dense_threshold = dense_threshold
        self._cache: Optional[tuple] = None

    @staticmethod
    def _key(x: Tensor, edge_index: Tensor, edge_weight: OptTensor, lambda_max) -> tuple:
        w = (None,) if edge_weight is None else (edge_weight.data_ptr(), edge_weight._version,
                                                 edge_weight.numel())
        return (edge_index.data_ptr(), edge_index._version, edge_index.size(1), *w,
                x.size(-2), x.dtype, x.device, None if lambda_max is None else float(lambda_max))

    def operator(self, x: Tensor, edge_index: Tensor, edge_weight: OptTensor = None,
                 lambda_max: OptTensor = None) -> Tensor:
        """The cached scaled Laplacian for this graph (dense, or sparse COO if sparse enough)."""
        key = self._key(x, edge_index, edge_weight, lambda_max)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        lam = None if lambda_max is None else float(lambda_max)
        with torch.no_grad():
            dense, _ = scaled_laplacian(edge_index, edge_weight, x.size(-2), self.normalization,
                                        lam, x.dtype)
            dense = dense.to(x.device)
            density = float((dense != 0).float().mean())
            op = dense if density >= self.dense_threshold else dense.to_sparse().coalesce()
        self._cache = (key, op)
        return op

    @staticmethod
    def _propagate(op: Tensor, x: Tensor) -> Tensor:
        n, c = x.shape[-2], x.shape[-1]
        lead = x.shape[:-2]
        if op.is_sparse:
            flat = x.reshape(-1, n, c).transpose(0, 1).reshape(n, -1)  # [N, B*C]
            out = torch.sparse.mm(op, flat)
            return out.reshape(n, -1, c).transpose(0, 1).reshape(*lead, n, c)
        return torch.matmul(op, x)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: OptTensor = None,
                batch: OptTensor = None, lambda_max: OptTensor = None) -> Tensor:
        if batch is not None:
            raise NotImplementedError("FastChebConv serves one static graph; use ChebConv")
        op = self.operator(x, edge_index, edge_weight, lambda_max)
        tx0 = x
        out = self.lins[0](tx0)
        if len(self.lins) > 1:
            tx1 = self._propagate(op, x)
            out = out + self.lins[1](tx1)
            for lin in self.lins[2:]:
                tx2 = 2.0 * self._propagate(op, tx1) - tx0
                out = out + lin(tx2)
                tx0, tx1 = tx1, tx2
        if self.bias is not None:
            out = out + self.bias
        return out
