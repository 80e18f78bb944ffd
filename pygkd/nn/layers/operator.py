r"""The scaled graph Laplacian of Chebyshev convolutions as an explicit, reusable operator.

.. math::
    \tilde L = \frac{2 L}{\lambda_{max}} - I

with :math:`L` from PyG's :func:`~torch_geometric.utils.get_laplacian` (duplicate edges are
summed, asymmetric graphs keep their direction: messages flow from ``edge_index[0]`` to
``edge_index[1]``, as in :class:`~torch_geometric.nn.conv.ChebConv`) and the exact
:math:`\lambda_{max}` (PyG guesses 2 for ``sym``). The operator is built **sparse** from the edge
list; it is stored dense only when the graph is dense (``dense_threshold``), where one dense
product is fastest. :math:`\lambda_{max}` comes from a dense eigensolver on small graphs and from
a sparse one (ARPACK, relative error below 1e-6) on large ones, so a graph of 10,000 sensors
never builds an ``N x N`` matrix.

:class:`GraphOperator` is an ``nn.Module`` holding the operator as (non-persistent) buffers, so
``.to(device)`` and ``.double()`` move it with the model that owns it, state dicts are unchanged,
and ``torch.compile(fullgraph=True)`` / ``torch.export`` see plain tensors: the sparse product is
a registered custom operator (``pygkd::csr_matmul``) with its own backward. A sparse operator
also applies to channel-last rows ``[L * N, C]`` without a transpose
(:meth:`GraphOperator.propagate_rows`, :mod:`pygkd.nn.layers.gather`).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch_geometric.utils import get_laplacian, remove_self_loops

from pygkd.nn.layers.gather import block_rows, gather_rows
from pygkd.typing import OptTensor

__all__ = ["GraphOperator", "scaled_laplacian", "laplacian_lambda_max"]

#: Graphs up to this many nodes get the exact dense eigensolver for :math:`\lambda_{max}`.
DENSE_EIG_NODES = 1024
#: Most nonzeros of the block-diagonal expansion that :meth:`GraphOperator.propagate_rows`
#: keeps (about 100 MB with its transpose); more graph slices go through the node-major product.
ROW_GATHER_ENTRIES = 2**22


@torch.library.custom_op("pygkd::csr_matmul", mutates_args=())
def csr_matmul(crow: Tensor, col: Tensor, values: Tensor, crow_t: Tensor, col_t: Tensor,
               values_t: Tensor, x: Tensor) -> Tensor:
    """``A @ x`` for a CSR matrix ``A`` (``crow, col, values``; ``*_t``: its transpose, used by
    the backward pass), ``x`` of shape ``[N, M]``; returns ``[N, M]``."""
    n = crow.numel() - 1
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        a = torch.sparse_csr_tensor(crow, col, values.to(x.dtype), (n, x.size(0)),
                                    check_invariants=False)
    return torch.sparse.mm(a, x.contiguous())


@csr_matmul.register_fake
def _csr_matmul_fake(crow, col, values, crow_t, col_t, values_t, x):  # type: ignore[no-untyped-def]
    return x.new_empty(crow.numel() - 1, x.size(1))


def _csr_setup(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    crow, col, values, crow_t, col_t, values_t, _ = inputs
    ctx.save_for_backward(crow, col, values, crow_t, col_t, values_t)


def _csr_backward(ctx, grad: Tensor):  # type: ignore[no-untyped-def]
    crow, col, values, crow_t, col_t, values_t = ctx.saved_tensors
    grad_x = csr_matmul(crow_t, col_t, values_t, crow, col, values, grad)
    return None, None, None, None, None, None, grad_x


csr_matmul.register_autograd(_csr_backward, setup_context=_csr_setup)


def _csr_flops(crow_shape, col_shape, values_shape, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    x_shape = args[3]
    return 2 * int(values_shape[0]) * int(x_shape[1])


try:  # count the sparse product in torch.utils.flop_counter
    from torch.utils.flop_counter import register_flop_formula

    register_flop_formula(torch.ops.pygkd.csr_matmul)(_csr_flops)
except Exception:  # pragma: no cover - older torch without the public hook
    pass


def _laplacian_entries(edge_index: Tensor, edge_weight: OptTensor, num_nodes: int,
                       normalization: str | None) -> tuple[Tensor, Tensor]:
    """``(index [2, E'], weight [E'])`` of :math:`L` in float64, as PyG's ``ChebConv``."""
    if edge_weight is not None:
        edge_weight = edge_weight.to(torch.float64)
    edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
    return get_laplacian(edge_index, edge_weight, normalization, torch.float64, num_nodes)


def _coalesced(index: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    """Sparse COO ``M[target, source]`` with duplicates summed."""
    return torch.sparse_coo_tensor(torch.stack([index[1], index[0]]), weight,
                                   (num_nodes, num_nodes), check_invariants=True).coalesce()


def laplacian_lambda_max(laplacian: Tensor) -> float:
    r"""Largest eigenvalue (real part) of a Laplacian given dense or sparse (COO).

    Exact (dense eigensolver) up to 1,024 nodes; beyond, ARPACK on the sparse matrix
    (``scipy.sparse.linalg.eigsh``, or ``eigs`` for an asymmetric graph) to a relative
    tolerance of 1e-10, so no ``N x N`` matrix is built.

    Example:
        >>> laplacian_lambda_max(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
        2.0
    """
    n = laplacian.size(0)
    if n == 0:
        return 0.0
    if n <= DENSE_EIG_NODES:
        work = laplacian.detach().to("cpu", torch.float64)
        work = work.to_dense() if work.is_sparse else work
        if torch.allclose(work, work.T):
            return float(torch.linalg.eigvalsh(work).max())
        return float(torch.linalg.eigvals(work).real.max())
    import numpy as np
    import scipy.sparse
    import scipy.sparse.linalg

    coo = laplacian.detach().to("cpu", torch.float64)
    coo = (coo if coo.is_sparse else coo.to_sparse()).coalesce()
    idx, val = coo.indices().numpy(), coo.values().numpy()
    mat = scipy.sparse.csr_matrix((val, (idx[0], idx[1])), shape=(n, n))
    symmetric = abs(mat - mat.T).max() <= 1e-12 * max(1.0, float(np.abs(val).max()))
    v0 = np.ones(n) / np.sqrt(n)
    if symmetric:
        value = scipy.sparse.linalg.eigsh(mat, k=1, which="LA", tol=1e-10, v0=v0,
                                          return_eigenvectors=False)
    else:
        value = scipy.sparse.linalg.eigs(mat, k=1, which="LR", tol=1e-10, v0=v0,
                                         return_eigenvectors=False).real
    return float(np.max(value))


def _scaled_entries(edge_index: Tensor, edge_weight: OptTensor, num_nodes: int,
                    normalization: str | None, lambda_max: float | None
                    ) -> tuple[Tensor, float]:
    """Coalesced sparse :math:`\\tilde L` (float64) and the :math:`\\lambda_{max}` used."""
    index, weight = _laplacian_entries(edge_index, edge_weight, num_nodes, normalization)
    lap = _coalesced(index, weight, num_nodes)
    lam = laplacian_lambda_max(lap) if lambda_max is None else float(lambda_max)
    if lam <= 0:
        lam = 1.0  # a graph without edges: L = I, keep PyG's masking of inf weights harmless
    idx, val = lap.indices(), lap.values()
    val = 2.0 * val / lam
    val = val.masked_fill(torch.isinf(val), 0.0)
    eye = torch.arange(num_nodes, device=idx.device)
    scaled = torch.sparse_coo_tensor(
        torch.cat([idx, torch.stack([eye, eye])], dim=1),
        torch.cat([val, -torch.ones(num_nodes, dtype=val.dtype, device=val.device)]),
        (num_nodes, num_nodes), check_invariants=True).coalesce()
    return scaled, lam


def scaled_laplacian(
    edge_index: Tensor,
    edge_weight: OptTensor,
    num_nodes: int,
    normalization: str | None = "sym",
    lambda_max: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, float]:
    r"""Dense :math:`\tilde L = 2 L / \lambda_{max} - I`, oriented so that ``L @ x`` aggregates
    messages at their targets, and the :math:`\lambda_{max}` used (for small graphs and tests;
    :class:`GraphOperator` is what the layers use).

    Example:
        >>> ei = torch.tensor([[0, 1], [1, 0]])
        >>> L, lam = scaled_laplacian(ei, None, 2)
        >>> lam, L.tolist()
        (2.0, [[0.0, -1.0], [-1.0, 0.0]])
    """
    scaled, lam = _scaled_entries(edge_index, edge_weight, num_nodes, normalization, lambda_max)
    return scaled.to_dense().to(dtype), lam


def _csr_parts(coo: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        csr = coo.to_sparse_csr()
    return csr.crow_indices(), csr.col_indices(), csr.values().to(dtype)


class GraphOperator(nn.Module):
    r"""A fixed linear map over nodes, :math:`X \mapsto \tilde L X`, built once per graph.

    Dense (one ``[N, N]`` buffer) when the graph's density is at least ``dense_threshold``,
    otherwise CSR buffers of the matrix and its transpose. :meth:`forward` applies it to
    ``[*, N, C]`` features with **one** matrix product over all leading dimensions and
    channels (the features are laid out as ``[N, prod(*) * C]``), whatever the channel count.

    Build it with :meth:`from_edges`. Buffers are non-persistent: the operator moves with
    ``.to()`` but is never saved in a state dict (it is rebuilt from the graph).

    Args:
        matrix (Tensor): the scaled Laplacian, dense or sparse COO, ``[N, N]``.
        lambda_max (float): the :math:`\lambda_{max}` it was scaled with.
        dense (bool): store dense (else CSR).

    Shapes:
        - **input:** :math:`(*, N, C)`
        - **output:** :math:`(*, N, C)`

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> op = GraphOperator.from_edges(ei, num_nodes=3)
        >>> op.lambda_max, op.is_dense
        (2.0, True)
        >>> op(torch.ones(2, 3, 1))[0, :, 0].tolist()  # (2L/2 - I) 1 = -A_norm 1
        [-0.7071067690849304, -1.4142135381698608, -0.7071067690849304]
    """

    # buffers (non-persistent): ``matrix`` when dense, the CSR parts of L~ and L~^T otherwise
    matrix: Tensor
    crow: Tensor
    col: Tensor
    values: Tensor
    crow_t: Tensor
    col_t: Tensor
    values_t: Tensor

    def __init__(self, matrix: Tensor, lambda_max: float, dense: bool,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        dtype = dtype or (matrix.dtype if matrix.is_floating_point() else torch.float32)
        self.num_nodes = int(matrix.size(0))
        self.lambda_max = float(lambda_max)
        self.is_dense = bool(dense)
        # (slices, (device, dtype), expansion, transpose's expansion) of propagate_rows
        self._rows_cache: tuple | None = None
        coo = (matrix if matrix.is_sparse else matrix.to_sparse()).coalesce()
        self.nnz = int(coo._nnz())
        if self.is_dense:
            self.register_buffer("matrix", coo.to_dense().to(dtype), persistent=False)
        else:
            crow, col, val = _csr_parts(coo, dtype)
            crow_t, col_t, val_t = _csr_parts(coo.t().coalesce(), dtype)
            for name, value in zip(("crow", "col", "values", "crow_t", "col_t", "values_t"),
                                   (crow, col, val, crow_t, col_t, val_t), strict=True):
                self.register_buffer(name, value, persistent=False)

    @classmethod
    def from_edges(cls, edge_index: Tensor, edge_weight: OptTensor = None,
                   num_nodes: int | None = None, normalization: str | None = "sym",
                   lambda_max: float | None = None, dtype: torch.dtype | None = None,
                   dense_threshold: float = 0.05) -> GraphOperator:
        r"""Build :math:`\tilde L` of a graph from its edge list (on ``edge_index``'s device).

        Args:
            edge_index (Tensor): ``[2, E]``, messages from row 0 to row 1.
            edge_weight (Tensor, optional): ``[E]``.
            num_nodes (int, optional): :math:`N` (default: largest index + 1).
            normalization (str, optional): ``"sym"``, ``"rw"`` or ``None``, as ``ChebConv``.
            lambda_max (float, optional): skip the eigensolver and use this value.
            dtype (torch.dtype, optional): of the stored operator (default: ``edge_weight``'s
                floating dtype, else float32).
            dense_threshold (float): store dense when nonzeros / N^2 is at least this.
        """
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"Expected 'edge_index' as [2, E] (got {tuple(edge_index.shape)})")
        if num_nodes is None:
            num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
        if dtype is None:
            dtype = (edge_weight.dtype if edge_weight is not None
                     and edge_weight.is_floating_point() else torch.float32)
        scaled, lam = _scaled_entries(edge_index, edge_weight, num_nodes, normalization,
                                      lambda_max)
        density = scaled._nnz() / max(num_nodes * num_nodes, 1)
        return cls(scaled, lam, dense=density >= dense_threshold, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        n = x.size(-2)
        lead, c = x.shape[:-2], x.size(-1)
        flat = x.movedim(-2, 0).reshape(n, -1)  # [N, prod(*) * C]
        return self.propagate_flat(flat).reshape(n, *lead, c).movedim(0, -2)

    def propagate_flat(self, flat: Tensor) -> Tensor:
        """``L~ @ flat`` for node-major features ``[N, M]`` (one product)."""
        if flat.size(0) != self.num_nodes:
            raise ValueError(f"Expected features of {self.num_nodes} nodes (got {flat.size(0)})")
        if self.is_dense:
            return self.matrix.to(flat.dtype) @ flat
        out = csr_matmul(self.crow, self.col, self.values, self.crow_t, self.col_t,
                         self.values_t, flat.to(self.values.dtype))
        return out.to(flat.dtype)

    def gathers_rows(self, slices: int) -> bool:
        """Whether :meth:`propagate_rows` serves ``slices`` graph slices: a sparse operator whose
        expansion stays within :data:`ROW_GATHER_ENTRIES` nonzeros."""
        return not self.is_dense and 0 < slices * self.nnz <= ROW_GATHER_ENTRIES

    def propagate_rows(self, rows: Tensor, scale: float = 1.0) -> Tensor:
        r"""``scale * L~`` applied to each graph slice of channel-last rows ``[L * N, C]``
        (``L`` slices of ``N`` nodes, as ``[B, T, N, C]`` lies in memory), without a transpose:
        one weighted gather over the block-diagonal expansion of the sparse operator
        (``torch.ops.pygkd.gather_rows``, :mod:`pygkd.nn.layers.gather`). Returns ``[L * N, C]``.

        Example:
            >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
            >>> op = GraphOperator.from_edges(ei, num_nodes=3, dense_threshold=1.1)
            >>> x = torch.randn(2, 4, 3, 5)
            >>> rows = op.propagate_rows(x.reshape(-1, 5)).view(2, 4, 3, 5)
            >>> bool(torch.allclose(rows, op(x), atol=1e-6))
            True
        """
        slices = rows.size(0) // max(self.num_nodes, 1)
        if rows.dim() != 2 or slices * self.num_nodes != rows.size(0):
            raise ValueError(f"Expected rows [L * {self.num_nodes}, C] (got {tuple(rows.shape)})")
        if not self.gathers_rows(slices):
            raise ValueError(f"{slices} slices of a {'dense' if self.is_dense else 'sparse'} "
                             f"operator with {self.nnz:,} nonzeros exceed the row gather "
                             f"(see gathers_rows); use propagate_flat")
        forward, backward = self._expansion(slices)
        return gather_rows(*forward, *backward, rows, float(scale))

    def chebyshev_rows(self, t1: Tensor, t0: Tensor) -> Tensor:
        r""":math:`2 \tilde L T_{k-1} - T_{k-2}` on channel-last rows ``[L * N, C]``."""
        return self.propagate_rows(t1, 2.0).sub_(t0)

    def _expansion(self, slices: int) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """``(index, offsets, weights)`` of :math:`I \otimes \tilde L` and of its transpose for
        ``slices`` slices: prefixes of a cached expansion, rebuilt when more slices are asked
        for or the operator moved to another device or dtype."""
        cache = self._rows_cache
        key = (self.values.device, self.values.dtype)
        if cache is None or cache[0] < slices or cache[1] != key:
            forward = block_rows(self.crow, self.col, self.values, slices)
            backward = block_rows(self.crow_t, self.col_t, self.values_t, slices)
            cache = (slices, key, forward, backward)
            self._rows_cache = cache
        entries, n = slices * self.nnz, slices * self.num_nodes
        return tuple((index[:entries], offsets[:n], weights[:entries])
                     for index, offsets, weights in cache[2:])  # type: ignore[return-value]

    def chebyshev_step(self, t1: Tensor, t0: Tensor) -> Tensor:
        r"""The Chebyshev recurrence :math:`2 \tilde L T_{k-1} - T_{k-2}` on node-major
        features ``[N, M]`` (one fused product where the operator is dense)."""
        if self.is_dense:
            return torch.addmm(t0, self.matrix.to(t1.dtype), t1, beta=-1.0, alpha=2.0)
        return self.propagate_flat(t1).mul_(2.0).sub_(t0)

    def to_dense(self) -> Tensor:
        """The operator as a dense ``[N, N]`` tensor."""
        if self.is_dense:
            return self.matrix
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(self.crow, self.col, self.values,
                                           (self.num_nodes, self.num_nodes),
                                           check_invariants=False).to_dense()

    def memory_bytes(self) -> int:
        """Bytes of the stored buffers."""
        return sum(b.numel() * b.element_size() for b in self.buffers())

    def extra_repr(self) -> str:
        kind = "dense" if self.is_dense else "sparse"
        return (f"num_nodes={self.num_nodes}, nnz={self.nnz}, {kind}, "
                f"lambda_max={self.lambda_max:.6g}")
