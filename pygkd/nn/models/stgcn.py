r"""STGCN (Yu et al., IJCAI 2018, Chebyshev variant) as used by Izadi et al. (paper Sec. 3.1).

Teacher, student and pruning base are one class with different ``blocks`` channels
(paper Table 1):

================  ================================  ==========  ==========
preset            blocks                            N = 228     N = 170
================  ================================  ==========  ==========
``teacher``       ``[1, 32, 64], [64, 32, 128]``    333,604     296,426
``pruning-base``  ``[1, 8, 16], [16, 8, 32]``       48,628      39,290
``student``       ``[1, 2, 4], [4, 2, 8]``          10,144      7,766
================  ================================  ==========  ==========
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch  # noqa: F401  (doctest)
from torch import Tensor, nn

from pygkd.errors import InputError
from pygkd.nn.blocks import OutputBlock, STConvBlock
from pygkd.nn.channels import ChannelGroup
from pygkd.nn.layers import ChannelAlign, GraphOperator
from pygkd.typing import OptTensor

__all__ = ["window_too_short", "STGCN", "PRESETS", "resolve_blocks"]

#: Block configurations of the paper's Table 1: ``[c_in, c_t, c_out]`` per ST-Conv block.
PRESETS: dict[str, list[list[int]]] = {
    "teacher": [[1, 32, 64], [64, 32, 128]],
    "pruning-base": [[1, 8, 16], [16, 8, 32]],
    "student": [[1, 2, 4], [4, 2, 8]],
}


def resolve_blocks(preset: str | None = None, blocks: Sequence[Sequence[int]] | None = None
                   ) -> list[list[int]]:
    """Block channels from a preset name or an explicit list (explicit wins).

    Example:
        >>> resolve_blocks("student")
        [[1, 2, 4], [4, 2, 8]]
    """
    if blocks is not None:
        return [[int(c) for c in b] for b in blocks]
    if preset is None:
        raise InputError(f"model: give a preset ({', '.join(PRESETS)}) or explicit blocks")
    if preset not in PRESETS:
        raise InputError(f"preset: unknown {preset!r} (choose from: {', '.join(PRESETS)})")
    return [list(b) for b in PRESETS[preset]]


def window_too_short(blocks: int, kernel_size: int, n_in: int, what: str = "blocks") -> str:
    r"""The message for ``blocks`` ST-Conv blocks whose temporal kernels (two per block, each
    removing ``kernel_size - 1`` steps) leave no step of ``n_in``, naming the fixes.

    Example:
        >>> print(window_too_short(2, 3, 8).replace(": ", ":\n"))
        blocks:
        2 blocks with kernel 3 use 8 steps, so they need at least 9 input steps (got 8):
        give --in-steps 9 or more, or a smaller kernel:
        --set model.kernel_size=2
    """
    removed = 2 * blocks * (kernel_size - 1)
    fixes = [f"give --in-steps {removed + 1} or more"]
    fitting = 1 + (n_in - 1) // (2 * blocks)
    if 2 <= fitting < kernel_size:
        fixes.append(f"a smaller kernel: --set model.kernel_size={fitting}")
    elif blocks > 1:
        fixes.append("fewer blocks")
    return (f"{what}: {blocks} blocks with kernel {kernel_size} use {removed} steps, so they "
            f"need at least {removed + 1} input steps (got {n_in}): {', or '.join(fixes)}")


class STGCN(nn.Module):
    r"""Spatio-temporal graph convolutional network predicting the next step.

    ``blocks.i`` are :class:`~pygkd.nn.blocks.STConvBlock` s and ``output`` is the
    :class:`~pygkd.nn.blocks.OutputBlock` with :math:`K_o = M - 2 \cdot \#blocks \cdot (K_t - 1)`.

    Args:
        num_nodes (int): :math:`N`.
        blocks (sequence of [c_in, c_t, c_out]): channels per ST-Conv block; block ``i+1``'s
            ``c_in`` must equal block ``i``'s ``c_out``.
        n_in (int): input steps :math:`M` (default: ``12``).
        kernel_size (int): temporal kernel :math:`K_t` (default: ``3``).
        K (int): Chebyshev order :math:`K_s` (default: ``3``).
        dropout (float): dropout after each block's norm (default: ``0.0``).
        normalization (str): Laplacian normalisation for ``ChebConv`` (default: ``"sym"``).
        residuals (dict, optional): non-default residual alignments by module path, e.g.
            ``{"blocks.0.temporal1.align": {"mode": "select", "pairs": [[0, 0]]}}`` (see
            :class:`~pygkd.nn.layers.ChannelAlign`); structured pruning exports these.

    Shapes:
        - **input:** ``x`` :math:`(B, M, N, c_{in})`, ``edge_index`` :math:`(2, E)`,
          ``edge_weight`` :math:`(E)`
        - **output:** :math:`(B, 1, N, 1)`, the next step

    The graph operator (the scaled Laplacian, :class:`~pygkd.nn.layers.GraphOperator`) is built
    once per forward pass and shared by all spatial layers; :meth:`cache_graph` builds it once
    for good (PyG's ``cached=True`` convention for a static graph), after which ``edge_index``
    may be omitted and ``torch.compile(model, fullgraph=True)`` / ``torch.export`` see no graph
    construction at all.

    Example:
        >>> from pygkd.testing import toy_graph
        >>> ei, ew = toy_graph(5)
        >>> model = STGCN(5, [[1, 2, 4], [4, 2, 8]])
        >>> model(torch.randn(2, 12, 5, 1), ei, ew).shape
        torch.Size([2, 1, 5, 1])
        >>> model.spatial_layer_names
        ['blocks.0.spatial', 'blocks.1.spatial']
        >>> model.cache_graph(ei, ew)(torch.randn(2, 12, 5, 1)).shape
        torch.Size([2, 1, 5, 1])
    """

    #: Name in the model registry (``pygkd train --model stgcn``).
    family = "stgcn"

    def __init__(self, num_nodes: int, blocks: Sequence[Sequence[int]], n_in: int = 12,
                 kernel_size: int = 3, K: int = 3, dropout: float = 0.0,
                 normalization: str | None = "sym",
                 residuals: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        blocks = [[int(c) for c in b] for b in blocks]
        if not blocks or any(len(b) != 3 or min(b) < 1 for b in blocks):
            raise InputError(
                "blocks: expected a list of [c_in, c_t, c_out] with positive channels "
                f"(got {blocks})"
            )
        for i in range(1, len(blocks)):
            if blocks[i][0] != blocks[i - 1][2]:
                raise InputError(
                    f"blocks: block {i} takes {blocks[i][0]} channels but block {i - 1} gives "
                    f"{blocks[i - 1][2]} (got {blocks})"
                )
        k_out = n_in - 2 * len(blocks) * (kernel_size - 1)
        if k_out < 1:
            raise InputError(window_too_short(len(blocks), kernel_size, n_in, "blocks"))
        self.num_nodes, self.n_in, self.kernel_size, self.K = num_nodes, n_in, kernel_size, K
        self.dropout_p, self.normalization = dropout, normalization
        self.block_channels = blocks
        self.blocks = nn.ModuleList(
            STConvBlock(num_nodes, b, kernel_size, K, dropout, normalization) for b in blocks
        )
        self.output = OutputBlock(num_nodes, blocks[-1][2], k_out)
        for path, spec in (residuals or {}).items():
            old = dict(self.named_modules()).get(path)
            if not isinstance(old, ChannelAlign):
                raise InputError(f"residuals: {path!r} is not a residual alignment of this model")
            parent = self.get_submodule(path.rsplit(".", 1)[0])
            parent.align = ChannelAlign(old.in_channels, old.out_channels, spec.get("mode"),
                                        spec.get("pairs"))
        self.graph_operator: GraphOperator | None = None

    def build_graph(self, edge_index: Tensor, edge_weight: OptTensor = None,
                    lambda_max: float | None = None,
                    dtype: torch.dtype | None = None) -> GraphOperator:
        """The scaled Laplacian of a graph for this model (on ``edge_index``'s device, in the
        model's floating dtype unless ``dtype`` is given)."""
        if dtype is None:
            dtype = next(self.parameters()).dtype
        return GraphOperator.from_edges(edge_index, edge_weight, self.num_nodes,
                                        self.normalization, lambda_max, dtype,
                                        self.operator_dense_threshold)

    def cache_graph(self, edge_index: Tensor, edge_weight: OptTensor = None,
                    lambda_max: float | None = None) -> STGCN:
        """Build the graph operator once and keep it (a submodule ``graph_operator`` with
        non-persistent buffers: it moves with ``.to()``, is not in the state dict). Later calls
        use it whatever ``edge_index`` they pass. Returns the model."""
        param = next(self.parameters())
        self.graph_operator = self.build_graph(edge_index, edge_weight, lambda_max,
                                      param.dtype).to(param.device)
        return self

    def uncache_graph(self) -> STGCN:
        """Drop the cached operator; later calls build it from their ``edge_index``."""
        self.graph_operator = None
        return self

    @property
    def in_channels(self) -> int:
        return self.block_channels[0][0]

    @property
    def temporal_layer_names(self) -> list[str]:
        """Submodules whose outputs feed ``L_TCD`` (Eq. 7-8), in order."""
        return [f"blocks.{i}.{n}" for i in range(len(self.blocks))
                for n in ("temporal1", "temporal2")]

    @property
    def operator_dense_threshold(self) -> float:
        """Density from which the graph operator is stored dense (the Chebyshev layers')."""
        return float(self.blocks[0].spatial.cheb.dense_threshold)  # type: ignore

    @property
    def spatial_layer_names(self) -> list[str]:
        """Submodules whose outputs feed ``L_SCD`` (Eq. 9-10), in order."""
        return [f"blocks.{i}.spatial" for i in range(len(self.blocks))]

    @property
    def hidden_layer_name(self) -> str:
        """The submodule whose output feeds the output block (for t-SNE, paper Sec. 4.2)."""
        return f"blocks.{len(self.blocks) - 1}"

    def config(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild the model (saved in checkpoints)."""
        config = {
            "num_nodes": self.num_nodes,
            "blocks": [list(b) for b in self.block_channels],
            "n_in": self.n_in,
            "kernel_size": self.kernel_size,
            "K": self.K,
            "dropout": self.dropout_p,
            "normalization": self.normalization,
        }
        residuals = {name: m.spec() for name, m in self.named_modules()
                     if isinstance(m, ChannelAlign) and not m.is_default}
        if residuals:
            config["residuals"] = residuals
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> STGCN:
        return cls(**config)

    def channel_groups(self) -> list[ChannelGroup]:
        """The prunable hidden layers (``blocks.i.hidden``, ``blocks.i.out``) and the slices of
        each channel (:func:`~pygkd.nn.models.stgcn_channels.stgcn_channel_groups`)."""
        from pygkd.nn.models.stgcn_channels import stgcn_channel_groups

        return stgcn_channel_groups(self)

    def reset_parameters(self) -> None:
        """Re-initialise every block (the cached graph operator, if any, is kept)."""
        for block in self.blocks:
            block.reset_parameters()  # type: ignore[operator]
        self.output.reset_parameters()

    def extra_repr(self) -> str:
        return (f"num_nodes={self.num_nodes}, n_in={self.n_in}, kernel_size={self.kernel_size}, "
                f"K={self.K}")

    def forward(self, x: Tensor, edge_index: OptTensor = None, edge_weight: OptTensor = None,
                operator: GraphOperator | None = None) -> Tensor:
        if x.dim() != 4 or x.size(1) != self.n_in or x.size(2) != self.num_nodes \
                or x.size(3) != self.in_channels:
            raise ValueError(
                f"Expected 'x' as [batch, {self.n_in}, {self.num_nodes}, {self.in_channels}] "
                f"(got {tuple(x.shape)})"
            )
        if operator is None:
            operator = self.graph_operator
        if operator is None:
            if edge_index is None:
                raise ValueError("Expected 'edge_index' (or cache_graph() first)")
            operator = self.build_graph(edge_index, edge_weight, dtype=x.dtype).to(x.device)
        for block in self.blocks:
            x = block(x, operator=operator)
        return self.output(x)
