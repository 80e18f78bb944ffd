r"""GCN convolution applied through an explicit graph operator (for PyG Temporal's ``TGCN`` and
``A3TGCN`` cells).

PyG's :class:`~torch_geometric.nn.conv.GCNConv` normalises the graph and scatters one message
per edge on every call; a recurrent cell calls it three times per input step on the batch
folded into one graph of ``B * N`` nodes. :class:`FastGCNConv` is a drop-in subclass (same
parameters and state-dict names): given the normalised adjacency of the ``N``-node graph as a
:class:`~pygkd.nn.layers.GraphOperator` (:func:`gcn_operator`), it applies it with one matrix
product to features laid out as ``B`` blocks of ``N`` nodes.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from pygkd.nn.layers.operator import GraphOperator
from pygkd.typing import OptTensor

__all__ = ["FastGCNConv", "gcn_operator"]


def gcn_operator(edge_index: Tensor, edge_weight: OptTensor, num_nodes: int,
                 dtype: torch.dtype | None = None, improved: bool = False,
                 add_self_loops: bool = True, dense_threshold: float = 0.05) -> GraphOperator:
    r"""GCN's normalised adjacency :math:`\hat D^{-1/2} (A + I) \hat D^{-1/2}` (Kipf & Welling
    2017; PyG's ``gcn_norm``: self-loops of weight 1 added where missing, 2 with
    ``improved``) as a :class:`~pygkd.nn.layers.GraphOperator` ``[N, N]`` (row: target).

    Example:
        >>> op = gcn_operator(torch.tensor([[0, 1], [1, 0]]), None, 2)
        >>> op(torch.tensor([[1.0], [3.0]]))[:, 0].round(decimals=4).tolist()  # mean of both
        [2.0, 2.0]
    """
    dtype = dtype or (edge_weight.dtype if edge_weight is not None else torch.float32)
    index, weight = gcn_norm(edge_index, edge_weight, num_nodes, improved, add_self_loops,
                             "source_to_target", dtype)
    assert weight is not None
    matrix = torch.sparse_coo_tensor(index.flip(0), weight, (num_nodes, num_nodes),
                                     check_invariants=False)
    density = index.size(1) / max(num_nodes * num_nodes, 1)
    return GraphOperator(matrix, float("nan"), dense=density >= dense_threshold,
                         dtype=dtype).to(edge_index.device)


class FastGCNConv(GCNConv):
    r"""PyG ``GCNConv`` that applies a given normalised adjacency by one matrix product.

    .. math::
        X' = \hat D^{-1/2} \hat A \hat D^{-1/2} X \Theta + b

    With :attr:`cached_operator` set (a :func:`gcn_operator` of an ``N``-node graph), the
    input ``[M, C]`` is read as ``M / N`` blocks of the ``N`` nodes (a batch folded into one
    graph, block ``b`` holding nodes ``b * N .. b * N + N - 1``) and ``edge_index`` is not
    used; without it, this is ``GCNConv``.

    Shapes:
        - **input:** node features :math:`(M, C_{in})`, ``M`` a multiple of ``N``
        - **output:** :math:`(M, C_{out})`

    Example:
        >>> conv = FastGCNConv(1, 4)
        >>> ei = torch.tensor([[0, 1], [1, 0]])
        >>> conv.cached_operator = gcn_operator(ei, None, 2)
        >>> x = torch.randn(6, 1)  # 3 copies of the 2-node graph
        >>> fast = conv(x, ei)
        >>> conv.cached_operator = None
        >>> folded = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]])
        >>> torch.allclose(fast, conv(x, folded), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(in_channels, out_channels, **kwargs)
        self.cached_operator: GraphOperator | None = None

    def forward(self, x: Tensor, edge_index: Tensor,  # type: ignore[override]
                edge_weight: OptTensor = None) -> Tensor:
        op = self.cached_operator
        if op is None:
            return super().forward(x, edge_index, edge_weight)
        n = op.num_nodes
        if x.size(0) % n:
            raise ValueError(f"Expected features of a multiple of {n} nodes (got {x.size(0)})")
        h = self.lin(x)
        out = op(h.view(-1, n, h.size(-1))).reshape(h.shape)
        return out + self.bias if self.bias is not None else out
