r"""STGCN blocks: the spatio-temporal convolution block and the output block (paper Sec. 3.1)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pygkd.nn.layers import (
    ChannelAlign,
    FastChebConv,
    GraphOperator,
    TemporalConv,
    TemporalGatedConv,
)
from pygkd.typing import OptTensor

__all__ = ["SpatialGraphConv", "STConvBlock", "NodeReadout", "OutputBlock"]


class SpatialGraphConv(nn.Module):
    r"""STGCN's spatial layer: Chebyshev graph convolution, aligned residual, ReLU.

    .. math::
        Y = \mathrm{ReLU}(\mathrm{ChebConv}_{K_s}(X) + \mathrm{align}(X))

    The convolution is :class:`~pygkd.nn.layers.FastChebConv` (submodule ``cheb``), whose
    parameters are PyG ``ChebConv``'s: ``K * c_in * c_out + c_out``.

    Shapes:
        - **input:** :math:`(B, T, N, C_{in})`
        - **output:** :math:`(B, T, N, C_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, K: int = 3,
                 normalization: str | None = "sym") -> None:
        super().__init__()
        self.cheb = FastChebConv(in_channels, out_channels, K=K, normalization=normalization)
        self.align = ChannelAlign(in_channels, out_channels)

    def reset_parameters(self) -> None:
        """Re-initialise the Chebyshev convolution and the residual alignment."""
        self.cheb.reset_parameters()
        self.align.reset_parameters()

    def forward(self, x: Tensor, edge_index: OptTensor = None, edge_weight: OptTensor = None,
                operator: GraphOperator | None = None) -> Tensor:
        # the residual is linear in X: folded into Theta_0, no pass over the activations
        out = self.cheb(x, edge_index, edge_weight, operator=operator,
                        residual=self.align.matrix(x))
        return torch.relu(out)


class STConvBlock(nn.Module):
    r"""Spatio-temporal convolution block ``[c_in, c_t, c_out]`` ("sandwich" of Yu et al. 2018).

    ``temporal1`` (gated, GLU) :math:`c_{in} \to c_t`, ``spatial`` (Chebyshev)
    :math:`c_t \to c_t`, ``temporal2`` (ReLU) :math:`c_t \to c_{out}`, then ``norm``
    (LayerNorm over :math:`[N, c_{out}]`) and dropout. The submodule names are public: the
    distillation losses hook ``temporal1``/``temporal2`` (TCD) and ``spatial`` (SCD).

    Args:
        num_nodes (int): :math:`N` (LayerNorm is over nodes and channels).
        channels (sequence of 3 int): ``[c_in, c_t, c_out]``.
        kernel_size (int): :math:`K_t` (default: ``3``).
        K (int): Chebyshev order :math:`K_s` (default: ``3``).
        dropout (float): dropout after the norm (default: ``0.0``).

    Shapes:
        - **input:** :math:`(B, T, N, c_{in})`
        - **output:** :math:`(B, T - 2(K_t - 1), N, c_{out})`

    Example:
        >>> from pygkd.testing import toy_graph
        >>> ei, ew = toy_graph(5)
        >>> STConvBlock(5, [1, 2, 4])(torch.randn(3, 12, 5, 1), ei, ew).shape
        torch.Size([3, 8, 5, 4])
    """

    def __init__(self, num_nodes: int, channels: Sequence[int], kernel_size: int = 3, K: int = 3,
                 dropout: float = 0.0, normalization: str | None = "sym") -> None:
        super().__init__()
        c_in, c_t, c_out = (int(c) for c in channels)
        self.channels = (c_in, c_t, c_out)
        self.temporal1 = TemporalGatedConv(c_in, c_t, kernel_size)
        self.spatial = SpatialGraphConv(c_t, c_t, K=K, normalization=normalization)
        self.temporal2 = TemporalConv(c_t, c_out, kernel_size, activation="relu")
        self.norm = nn.LayerNorm([num_nodes, c_out])
        self.dropout = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        """Re-initialise every layer of the block."""
        for layer in (self.temporal1, self.spatial, self.temporal2, self.norm):
            layer.reset_parameters()

    def extra_repr(self) -> str:
        return f"channels={list(self.channels)}"

    def forward(self, x: Tensor, edge_index: OptTensor = None, edge_weight: OptTensor = None,
                operator: GraphOperator | None = None) -> Tensor:
        x = self.temporal1(x)
        x = self.spatial(x, edge_index, edge_weight, operator=operator)
        x = self.temporal2(x)
        return self.dropout(self.norm(x))


class NodeReadout(nn.Module):
    r"""Fully connected ``c -> 1`` with a weight shared by nodes and a bias per node.

    ``c + N`` parameters (STGCN's ``fully_con_layer``).

    Shapes:
        - **input:** :math:`(B, T, N, c)`
        - **output:** :math:`(B, T, N, 1)`
    """

    def __init__(self, num_nodes: int, in_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_channels))
        self.bias = nn.Parameter(torch.zeros(num_nodes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / max(1, self.weight.numel()) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return (x @ self.weight + self.bias).unsqueeze(-1)

    def extra_repr(self) -> str:
        return f"in_channels={self.weight.numel()}, num_nodes={self.bias.numel()}"


class OutputBlock(nn.Module):
    r"""STGCN's output block: gated temporal conv over the remaining :math:`K_o` steps, norm,
    1x1 sigmoid conv, and a node readout.

    ``temporal`` (GLU, kernel :math:`K_o`, :math:`c \to c`), ``norm`` (LayerNorm over
    :math:`[N, c]`), ``conv`` (1x1, sigmoid), ``fc`` (:class:`NodeReadout`).

    Shapes:
        - **input:** :math:`(B, K_o, N, c)`
        - **output:** :math:`(B, 1, N, 1)`
    """

    def __init__(self, num_nodes: int, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.temporal = TemporalGatedConv(channels, channels, kernel_size)
        self.norm = nn.LayerNorm([num_nodes, channels])
        self.conv = TemporalConv(channels, channels, 1, activation="sigmoid", residual=False)
        self.fc = NodeReadout(num_nodes, channels)

    def reset_parameters(self) -> None:
        """Re-initialise every layer of the block."""
        for layer in (self.temporal, self.norm, self.conv, self.fc):
            layer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(self.norm(self.temporal(x))))
