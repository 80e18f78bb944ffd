r"""PyG Temporal's ``STConv`` blocks (Yu et al. 2018) as a forecaster behind pygkd's model
interface.

Blocks of PyG Temporal's ``STConv`` (gated temporal convolution, Chebyshev graph convolution
applied per step, temporal convolution, batch norm over nodes), then a linear read-out of the
remaining steps and channels of each node. Unlike :class:`~pygkd.nn.STGCN` (the paper's exact
architecture, with one graph product per layer), PyG Temporal's block convolves each
``(window, step)`` slice separately: it is the reference implementation users know, and slower.

Feature points (paper Sec. 3.2): ``blocks.i._temporal_conv1`` and ``blocks.i._temporal_conv2``
feed ``L_TCD`` (Eq. 7-8); ``spatial.i``, an identity tap on the graph convolution's output
(after its ReLU), feeds ``L_SCD`` (Eq. 9-10). All are ``[B, T_l, N, C]``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from pygkd.typing import OptTensor

__all__ = ["STConvForecaster", "SpatialTap"]


class SpatialTap(nn.Identity):
    """An identity layer that taps the input of another layer (as its forward pre-hook), so
    hooks can read it; bound, so copies of the model tap their own layers."""

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (self(args[0]), *args[1:])


class STConvForecaster(nn.Module):
    r"""``layers`` PyG Temporal ``STConv`` blocks of width ``hidden``, then a read-out.

    Args:
        num_nodes (int): :math:`N`.
        in_channels (int): :math:`C` (default: ``1``).
        hidden (int): channels of every block (default: ``16``).
        n_in (int): input steps :math:`T` (default: ``12``).
        K (int): Chebyshev order (default: ``3``).
        kernel_size (int): temporal kernel :math:`K_t` (default: ``3``).
        layers (int): number of blocks (default: ``2``); each removes :math:`2(K_t - 1)` steps.

    Shapes:
        - **input:** ``x`` :math:`(B, T, N, C)`, ``edge_index`` :math:`(2, E)`,
          ``edge_weight`` :math:`(E)`
        - **output:** :math:`(B, 1, N, 1)`
    """

    family: ClassVar[str] = "stconv"

    def __init__(self, num_nodes: int, in_channels: int = 1, hidden: int = 16, n_in: int = 12,
                 K: int = 3, kernel_size: int = 3, layers: int = 2) -> None:
        super().__init__()
        from pygkd.compat import import_pyg_temporal

        remaining = n_in - 2 * layers * (kernel_size - 1)
        if remaining < 1:
            from pygkd.nn.models.stgcn import window_too_short

            raise ValueError(window_too_short(layers, kernel_size, n_in, "stconv"))
        stconv = import_pyg_temporal().nn.attention.STConv
        self.num_nodes, self.in_channels, self.hidden = num_nodes, in_channels, hidden
        self.n_in, self.K, self.kernel_size, self.layers = n_in, K, kernel_size, layers
        self.blocks = nn.ModuleList(
            stconv(num_nodes, in_channels if i == 0 else hidden, hidden, hidden, kernel_size, K)
            for i in range(layers))
        self.spatial = nn.ModuleList(SpatialTap() for _ in range(layers))
        for block, tap in zip(self.blocks, self.spatial, strict=True):
            # the second temporal convolution's input is the graph convolution's output
            block._temporal_conv2.register_forward_pre_hook(tap.pre_hook)  # type: ignore
        self.readout = nn.Linear(remaining * hidden, 1)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: OptTensor = None) -> Tensor:
        if x.dim() != 4 or x.size(1) != self.n_in or x.size(2) != self.num_nodes:
            raise ValueError(f"Expected x as [batch, {self.n_in}, {self.num_nodes}, "
                             f"{self.in_channels}] (got {tuple(x.shape)})")
        h = x
        for block in self.blocks:
            h = block(h, edge_index, edge_weight)
        b, t, n, c = h.shape
        out = self.readout(h.permute(0, 2, 1, 3).reshape(b, n, t * c))  # [B, N, 1]
        return out.unsqueeze(1)

    @property
    def temporal_layer_names(self) -> list[str]:
        """Submodules whose outputs feed ``L_TCD`` (Eq. 7-8), in order."""
        return [f"blocks.{i}.{name}" for i in range(self.layers)
                for name in ("_temporal_conv1", "_temporal_conv2")]

    @property
    def spatial_layer_names(self) -> list[str]:
        """Submodules whose outputs feed ``L_SCD`` (Eq. 9-10), in order."""
        return [f"spatial.{i}" for i in range(self.layers)]

    @property
    def hidden_layer_name(self) -> str:
        """The last block (its output feeds the read-out)."""
        return f"blocks.{self.layers - 1}"

    def config(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild the model (saved in checkpoints)."""
        return {"num_nodes": self.num_nodes, "in_channels": self.in_channels,
                "hidden": self.hidden, "n_in": self.n_in, "K": self.K,
                "kernel_size": self.kernel_size, "layers": self.layers}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> STConvForecaster:
        return cls(**config)

    def reset_parameters(self) -> None:
        """Re-initialise every block's layers and the read-out."""
        for module in self.blocks.modules():
            if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)) or \
                    type(module).__name__ == "ChebConv":
                module.reset_parameters()  # type: ignore[operator]
        self.readout.reset_parameters()

    def extra_repr(self) -> str:
        return (f"num_nodes={self.num_nodes}, in_channels={self.in_channels}, "
                f"hidden={self.hidden}, n_in={self.n_in}, layers={self.layers}")
