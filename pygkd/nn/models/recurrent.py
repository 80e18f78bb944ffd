r"""Recurrent forecasters from PyG Temporal cells: ``GConvGRU``, ``TGCN``, ``DCRNN`` and
``A3TGCN``, behind pygkd's model interface.

Every forecaster maps a window ``x [B, T, N, C]`` and the graph to the next step
``[B, 1, N, 1]`` (channel 0 of the input is the forecast quantity), like
:class:`~pygkd.nn.STGCN`. The PyG Temporal cells take one graph of ``[N, F]`` node features;
the ``B`` windows of a batch are folded into one graph of ``B * N`` nodes (``B`` copies of the
road graph, no edges between them), so a batch costs one cell call per input step.

Feature points for the distillation losses (paper Sec. 3.2): the hidden states of the
``T`` steps, stacked to ``[B, T, N, H]``, pass through two identity taps, ``temporal`` (read by
``L_TCD``, Eq. 7-8) and ``spatial`` (read by ``L_SCD``, Eq. 9-10); the last step's hidden state
feeds a linear read-out :math:`H \to 1`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from pygkd.errors import InputError
from pygkd.nn.channels import ChannelGroup, Slice
from pygkd.nn.layers import FastChebConv, FastGCNConv, GraphOperator, gcn_operator
from pygkd.typing import OptTensor

__all__ = ["RecurrentForecaster", "GConvGRUForecaster", "TGCNForecaster", "DCRNNForecaster",
           "A3TGCNForecaster", "batched_graph"]


def batched_graph(edge_index: Tensor, edge_weight: OptTensor, batch: int, num_nodes: int
                  ) -> tuple[Tensor, OptTensor]:
    """``batch`` copies of a graph of ``num_nodes`` nodes as one graph of ``batch * num_nodes``
    nodes (copy ``b`` holds nodes ``b * N .. b * N + N - 1``).

    Example:
        >>> ei, ew = batched_graph(torch.tensor([[0], [1]]), torch.tensor([0.5]), 2, 3)
        >>> ei.tolist(), ew.tolist()
        ([[0, 3], [1, 4]], [0.5, 0.5])
    """
    offsets = torch.arange(batch, device=edge_index.device) * num_nodes
    index = (edge_index.unsqueeze(1) + offsets.view(1, -1, 1)).reshape(2, -1)
    weight = None if edge_weight is None else edge_weight.repeat(batch)
    return index, weight


def fast_gcn_layers(tgcn: nn.Module) -> nn.Module:
    """PyG Temporal's ``TGCN`` cell ``tgcn`` with its three ``GCNConv`` layers replaced, in
    place, by :class:`~pygkd.nn.layers.FastGCNConv` twins (same settings and weights)."""
    for name in ("conv_z", "conv_r", "conv_h"):
        old = getattr(tgcn, name)
        fast = FastGCNConv(old.in_channels, old.out_channels, improved=old.improved,
                           cached=old.cached, add_self_loops=old.add_self_loops,
                           normalize=old.normalize, bias=old.bias is not None)
        fast.load_state_dict(old.state_dict())
        setattr(tgcn, name, fast)
    return tgcn


class RecurrentForecaster(nn.Module):
    r"""A PyG Temporal recurrent cell run over the input steps, then a linear read-out.

    Args:
        num_nodes (int): :math:`N`.
        in_channels (int): :math:`C` (default: ``1``).
        hidden (int): hidden channels :math:`H` of the cell (default: ``32``).
        n_in (int): input steps :math:`T` (default: ``12``).
        K (int): filter size of the graph convolution, where the cell has one (default: ``2``).

    Shapes:
        - **input:** ``x`` :math:`(B, T, N, C)`, ``edge_index`` :math:`(2, E)`,
          ``edge_weight`` :math:`(E)`
        - **output:** :math:`(B, 1, N, 1)`
    """

    #: Name in the model registry (``pygkd train --model NAME``).
    family: ClassVar[str] = ""

    def __init__(self, num_nodes: int, in_channels: int = 1, hidden: int = 32, n_in: int = 12,
                 K: int = 2) -> None:
        super().__init__()
        if min(num_nodes, in_channels, hidden, n_in, K) < 1:
            raise ValueError(f"Expected positive sizes (got num_nodes={num_nodes}, "
                             f"in_channels={in_channels}, hidden={hidden}, n_in={n_in}, K={K})")
        self.num_nodes, self.in_channels, self.hidden = num_nodes, in_channels, hidden
        self.n_in, self.K = n_in, K
        self.cell = self.make_cell()
        self.temporal = nn.Identity()  # tap: hidden states [B, T, N, H] for L_TCD
        self.spatial = nn.Identity()  # tap: the same states, for L_SCD
        self.readout = nn.Linear(hidden, 1)
        self.graph_operator: GraphOperator | None = None

    def make_cell(self) -> nn.Module:
        raise NotImplementedError

    def cache_graph(self, edge_index: Tensor, edge_weight: OptTensor = None,
                    dense: bool = False) -> RecurrentForecaster:
        """Build the cell's graph operator (:meth:`build_graph_operator`) once and keep it (a
        submodule ``graph_operator`` with non-persistent buffers: it moves with ``.to()``, is
        not in the state dict); later calls use it whatever graph they pass, and may pass
        none. ``dense`` stores it as one ``[N, N]`` matrix (what export needs). A cell that
        runs PyG Temporal's own message passing (``dcrnn``) has no operator: nothing is cached
        and calls keep taking the graph. Returns the model."""
        param = next(self.parameters())
        op = self.build_graph_operator(edge_index, edge_weight, self.num_nodes, param)
        if op is not None and dense and not op.is_dense:
            op = GraphOperator(op.to_dense(), op.lambda_max, dense=True)
        self.graph_operator = None if op is None else op.to(param.device)
        return self

    def uncache_graph(self) -> RecurrentForecaster:
        """Drop the cached operator; later calls build it from their ``edge_index``."""
        self.graph_operator = None
        return self

    def step(self, x: Tensor, edge_index: OptTensor, edge_weight: OptTensor,
             h: OptTensor) -> Tensor:
        """One step of the cell: ``x [B*N, C]`` and state ``h [B*N, H]`` -> new state."""
        return self.cell(x, edge_index, edge_weight, h)

    def build_graph_operator(self, edge_index: Tensor, edge_weight: OptTensor, num_nodes: int,
                       like: Tensor) -> GraphOperator | None:
        """The ``N``-node operator the cell's fast layers (:attr:`fast_layers`) apply, built
        once per forward pass in ``like``'s dtype and device; ``None`` (the default): the cell
        runs its own message passing on the folded graph."""
        return None

    @property
    def fast_layers(self) -> list[FastChebConv | FastGCNConv]:
        """The cell's layers that apply :meth:`build_graph_operator` (``FastChebConv``,
        ``FastGCNConv``)."""
        return [m for m in self.cell.modules() if isinstance(m, (FastChebConv, FastGCNConv))]

    @contextmanager
    def graph_products(self, edge_index: OptTensor, edge_weight: OptTensor, num_nodes: int,
                       like: Tensor) -> Iterator[GraphOperator | None]:
        """Hand the fast layers this forward pass's operator (the cached one, if any), and take
        it back after."""
        op = self.graph_operator
        if op is None:
            if edge_index is None:
                raise ValueError("Expected 'edge_index' (or a cached graph: cache_graph())")
            op = self.build_graph_operator(edge_index, edge_weight, num_nodes, like)
        layers = self.fast_layers if op is not None else []
        for layer in layers:
            layer.cached_operator = op
        try:
            yield op
        finally:
            for layer in layers:
                layer.cached_operator = None

    @staticmethod
    def cell_graph(op: GraphOperator | None, edge_index: OptTensor, edge_weight: OptTensor,
                   batch: int, num_nodes: int) -> tuple[OptTensor, OptTensor]:
        """The graph the cell is called with: as given when its layers apply the operator
        ``op`` (they do not read it), else the ``batch`` windows folded into one graph."""
        if op is not None:
            return edge_index, edge_weight
        assert edge_index is not None  # graph_products raised otherwise
        return batched_graph(edge_index, edge_weight, batch, num_nodes)

    def hidden_states(self, x: Tensor, edge_index: OptTensor = None,
                      edge_weight: OptTensor = None) -> Tensor:
        """The cell's state after each input step, ``[B, T, N, H]``."""
        b, t, n, c = x.shape
        with self.graph_products(edge_index, edge_weight, n, x) as op:
            ei, ew = self.cell_graph(op, edge_index, edge_weight, b, n)
            h: OptTensor = x.new_zeros(b * n, self.hidden)  # the cells' default is float32
            states = []
            for i in range(t):
                h = self.step(x[:, i].reshape(b * n, c), ei, ew, h)
                states.append(h)
        return torch.stack(states).view(t, b, n, -1).transpose(0, 1)

    def forward(self, x: Tensor, edge_index: OptTensor = None,
                edge_weight: OptTensor = None) -> Tensor:
        if x.dim() != 4 or x.size(2) != self.num_nodes or x.size(3) != self.in_channels:
            raise ValueError(f"Expected x as [batch, time, {self.num_nodes}, "
                             f"{self.in_channels}] (got {tuple(x.shape)})")
        states = self.spatial(self.temporal(self.hidden_states(x, edge_index, edge_weight)))
        return self.readout(torch.relu(states[:, -1])).unsqueeze(1)

    @property
    def temporal_layer_names(self) -> list[str]:
        """Submodules whose outputs feed ``L_TCD`` (Eq. 7-8)."""
        return ["temporal"]

    @property
    def spatial_layer_names(self) -> list[str]:
        """Submodules whose outputs feed ``L_SCD`` (Eq. 9-10)."""
        return ["spatial"]

    @property
    def hidden_layer_name(self) -> str:
        """The representation fed to the read-out (``L_SKD``, t-SNE)."""
        return "spatial"

    def config(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild the model (saved in checkpoints)."""
        return {"num_nodes": self.num_nodes, "in_channels": self.in_channels,
                "hidden": self.hidden, "n_in": self.n_in, "K": self.K}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RecurrentForecaster:
        return cls(**config)

    #: The cell's submodule path inside the forecaster.
    CELL_PATH: ClassVar[str] = "cell"

    def hidden_slices(self) -> Sequence[tuple[str, int, tuple[int, ...]]]:
        """Where the cell's hidden channels live: ``(parameter, dim, blocks)``, the parameter
        relative to the cell, channel ``k`` at ``block * H + k`` along ``dim`` for each block
        (a gate block). Empty (the default): the cell is not prunable."""
        return []

    def channel_groups(self) -> list[ChannelGroup]:
        """One group, ``hidden``: the :math:`H` hidden channels of the cell, in every gate's
        rows and in the columns that read the state, and the read-out's columns (Eq. 14 sums
        importance over all of them).

        Raises:
            InputError: for a cell without channel groups (``dcrnn``).
        """
        hidden_slices = self.hidden_slices()
        if not hidden_slices:
            raise InputError(f"{self.family}: structured pruning is not available for this "
                             "cell; prune gconvgru, tgcn, a3tgcn or stgcn, or distil a smaller "
                             f"{self.family} (pygkd distill --student-model {self.family})")
        h = self.hidden
        slices = [Slice(f"{self.CELL_PATH}.{param}", dim, block * h)
                  for param, dim, blocks in hidden_slices for block in blocks]
        slices.append(Slice("readout.weight", 1))
        return [ChannelGroup("hidden", h, slices)]

    def resized(self, sizes: Mapping[str, int]) -> RecurrentForecaster:
        """A new model of this family with ``sizes["hidden"]`` hidden channels."""
        return type(self).from_config({**self.config(), "hidden": int(sizes["hidden"])})

    def reset_parameters(self) -> None:
        """Re-initialise the cell's layers and the read-out."""
        for module in self.cell.modules():
            if module is not self.cell and hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]
        self.readout.reset_parameters()

    def extra_repr(self) -> str:
        return (f"num_nodes={self.num_nodes}, in_channels={self.in_channels}, "
                f"hidden={self.hidden}, n_in={self.n_in}")


def _pyg_temporal_recurrent() -> Any:
    from pygkd.compat import import_pyg_temporal

    return import_pyg_temporal().nn.recurrent


class GConvGRUForecaster(RecurrentForecaster):
    """PyG Temporal's ``GConvGRU`` (Seo et al. 2018: a GRU whose gates are Chebyshev graph
    convolutions of order ``K``)."""

    family = "gconvgru"

    #: The cell's six Chebyshev convolutions (two per gate).
    CONVS: ClassVar[tuple[str, ...]] = ("conv_x_z", "conv_h_z", "conv_x_r", "conv_h_r",
                                        "conv_x_h", "conv_h_h")

    def hidden_slices(self) -> Sequence[tuple[str, int, tuple[int, ...]]]:
        """Rows of the six convolutions' ``K`` matrices and biases; columns of the three that
        read the state (``conv_h_*``)."""
        return ([(f"{conv}.lins.{k}.weight", 0, (0,)) for conv in self.CONVS
                 for k in range(self.K)]
                + [(f"{conv}.bias", 0, (0,)) for conv in self.CONVS]
                + [(f"{conv}.lins.{k}.weight", 1, (0,)) for conv in self.CONVS[1::2]
                   for k in range(self.K)])

    def make_cell(self) -> nn.Module:
        """PyG Temporal's cell, its ``ChebConv`` layers swapped for
        :class:`~pygkd.nn.layers.FastChebConv` (same parameters and state-dict names)."""
        cell = _pyg_temporal_recurrent().GConvGRU(self.in_channels, self.hidden, self.K)
        for name in self.CONVS:
            old = getattr(cell, name)
            fast = FastChebConv(old.in_channels, old.out_channels, len(old.lins),
                                normalization=old.normalization, bias=old.bias is not None)
            fast.load_state_dict(old.state_dict())
            setattr(cell, name, fast)
        return cell

    def build_graph_operator(self, edge_index: Tensor, edge_weight: OptTensor, num_nodes: int,
                       like: Tensor) -> GraphOperator:
        """The scaled Laplacian with :math:`\lambda_{max} = 2` (PyG ``ChebConv``'s value for
        ``sym``)."""
        return GraphOperator.from_edges(edge_index, edge_weight, num_nodes, "sym",
                                        lambda_max=2.0, dtype=like.dtype).to(like.device)

    def hidden_states(self, x: Tensor, edge_index: OptTensor = None,
                      edge_weight: OptTensor = None) -> Tensor:
        """The cell's state after each input step, ``[B, T, N, H]``.

        The gates of ``GConvGRU`` are element-wise, so the cell runs on ``[B, N, C]``
        features directly (no folded graph), its Chebyshev layers applying the operator of
        the ``N``-node graph by one product per propagation, where PyG's ``ChebConv``
        normalises the graph and scatters over every edge on each of its 72 calls."""
        b, t, n, _ = x.shape
        with self.graph_products(edge_index, edge_weight, n, x):
            h = x.new_zeros(b, n, self.hidden)
            states = []
            for i in range(t):
                h = self.cell(x[:, i], edge_index, edge_weight, h)
                states.append(h)
        return torch.stack(states, dim=1)


class TGCNForecaster(RecurrentForecaster):
    """PyG Temporal's ``TGCN`` (Zhao et al. 2019: a GRU whose gates read GCN outputs; ``K`` is
    not used)."""

    family = "tgcn"

    def hidden_slices(self) -> Sequence[tuple[str, int, tuple[int, ...]]]:
        """Rows of the three ``GCNConv`` and the three gate ``Linear`` layers; the gates read
        ``[conv output, state]`` (``2H`` columns), so both column blocks."""
        return ([(f"conv_{g}.lin.weight", 0, (0,)) for g in "zrh"]
                + [(f"{layer}_{g}.bias", 0, (0,)) for layer in ("conv", "linear") for g in "zrh"]
                + [(f"linear_{g}.weight", 0, (0,)) for g in "zrh"]
                + [(f"linear_{g}.weight", 1, (0, 1)) for g in "zrh"])

    def make_cell(self) -> nn.Module:
        """PyG Temporal's cell, its ``GCNConv`` layers swapped for
        :class:`~pygkd.nn.layers.FastGCNConv` (same parameters and state-dict names)."""
        return fast_gcn_layers(_pyg_temporal_recurrent().TGCN(self.in_channels, self.hidden))

    def build_graph_operator(self, edge_index: Tensor, edge_weight: OptTensor, num_nodes: int,
                       like: Tensor) -> GraphOperator:
        """GCN's normalised adjacency of the ``N``-node graph (:func:`gcn_operator`)."""
        return gcn_operator(edge_index, edge_weight, num_nodes, like.dtype)


class DCRNNForecaster(RecurrentForecaster):
    """PyG Temporal's ``DCRNN`` cell (Li et al. 2018: a GRU of ``K``-step diffusion
    convolutions). Its convolution builds a dense adjacency of the whole folded batch
    (``(B*N)^2`` entries): keep batches small on large graphs."""

    family = "dcrnn"

    def make_cell(self) -> nn.Module:
        return _pyg_temporal_recurrent().DCRNN(self.in_channels, self.hidden, self.K)

    def step(self, x: Tensor, edge_index: OptTensor, edge_weight: OptTensor,
             h: OptTensor) -> Tensor:
        assert edge_index is not None  # the cell has no operator: always given the graph
        if edge_weight is None:  # DCRNN's convolution needs weights
            edge_weight = x.new_ones(edge_index.size(1))
        # PyG Temporal's DConv makes its degree vectors with the default dtype
        previous = torch.get_default_dtype()
        torch.set_default_dtype(x.dtype)
        try:
            return self.cell(x, edge_index, edge_weight, h)
        finally:
            torch.set_default_dtype(previous)


class A3TGCNForecaster(RecurrentForecaster):
    """PyG Temporal's ``A3TGCN`` (Bai et al. 2021: a TGCN cell applied to every input step,
    combined by a learned attention over the steps). The per-step states read by the losses
    are the cell's outputs, captured as it runs."""

    family = "a3tgcn"

    CELL_PATH = "cell._base_tgcn"
    hidden_slices = TGCNForecaster.hidden_slices

    def make_cell(self) -> nn.Module:
        """PyG Temporal's cell, the ``GCNConv`` layers of its TGCN swapped for
        :class:`~pygkd.nn.layers.FastGCNConv`."""
        cell = _pyg_temporal_recurrent().A3TGCN(self.in_channels, self.hidden, self.n_in)
        fast_gcn_layers(cell._base_tgcn)
        cell._base_tgcn.register_forward_hook(self._collect)
        return cell

    def build_graph_operator(self, edge_index: Tensor, edge_weight: OptTensor, num_nodes: int,
                       like: Tensor) -> GraphOperator:
        """GCN's normalised adjacency of the ``N``-node graph (:func:`gcn_operator`)."""
        return gcn_operator(edge_index, edge_weight, num_nodes, like.dtype)

    def _collect(self, module: nn.Module, args: Any, output: Tensor) -> None:
        self._states.append(output)

    def cell_outputs(self, x: Tensor, edge_index: OptTensor = None,
                     edge_weight: OptTensor = None) -> tuple[Tensor, Tensor]:
        """The cell's output for each input step ``[B, T, N, H]`` and their attention-weighted
        sum, the final state ``[B, N, H]``."""
        b, t, n, c = x.shape
        self._states: list[Tensor] = []
        with self.graph_products(edge_index, edge_weight, n, x) as op:
            ei, ew = self.cell_graph(op, edge_index, edge_weight, b, n)
            final = self.cell(x.permute(0, 2, 3, 1).reshape(b * n, c, t), ei, ew,
                              x.new_zeros(b * n, self.hidden))
        states = torch.stack(self._states).view(t, b, n, -1).transpose(0, 1)
        self._states = []
        return states, final.view(b, n, -1)

    def hidden_states(self, x: Tensor, edge_index: OptTensor = None,
                      edge_weight: OptTensor = None) -> Tensor:
        """The cell's output for each input step, ``[B, T, N, H]`` (the attention-weighted sum
        of these is the final state)."""
        return self.cell_outputs(x, edge_index, edge_weight)[0]

    def forward(self, x: Tensor, edge_index: OptTensor = None,
                edge_weight: OptTensor = None) -> Tensor:
        if x.dim() != 4 or x.size(2) != self.num_nodes or x.size(3) != self.in_channels:
            raise ValueError(f"Expected x as [batch, time, {self.num_nodes}, "
                             f"{self.in_channels}] (got {tuple(x.shape)})")
        if x.size(1) != self.n_in:
            raise ValueError(f"Expected {self.n_in} input steps (got {x.size(1)})")
        states, final = self.cell_outputs(x, edge_index, edge_weight)
        self.spatial(self.temporal(states))
        return self.readout(torch.relu(final)).unsqueeze(1)
