"""``KDPruner`` as a building block: a model written here (GCNConv + GRU, not in the zoo) is
distilled with ``Distiller`` in a plain loop and pruned to 90 % by its traced channel groups;
the zoo's recurrent families prune through the channel groups they name."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv

from pygkd.distill import Distiller
from pygkd.errors import InputError
from pygkd.nn.channels import zero_pruned
from pygkd.nn.models import build_forecaster
from pygkd.prune import GroupMasks, KDPruner, trace_channel_groups
from pygkd.testing import toy_forecast_dataset, toy_graph


class Temporal(nn.Module):
    """A GRU per sensor: ``[B, T, N, H] -> [B, T, N, H]`` (the layout the losses read)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(hidden, hidden, batch_first=True)

    def forward(self, h):
        b, t, n, c = h.shape
        out, _ = self.gru(h.permute(0, 2, 1, 3).reshape(b * n, t, c))
        return out.reshape(b, n, t, -1).permute(0, 2, 1, 3)


class GCNGRU(nn.Module):
    """A forecaster written here: a GCN per step, a GRU per sensor, a linear read-out."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.conv = GCNConv(1, hidden)
        self.temporal = Temporal(hidden)
        self.readout = nn.Linear(hidden, 1)

    def forward(self, x, edge_index, edge_weight=None):  # [B, T, N, 1] -> [B, 1, N, 1]
        h = torch.relu(self.conv(x, edge_index, edge_weight))  # [B, T, N, H]
        return self.readout(self.temporal(h)[:, -1:])


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_a_model_of_your_own_is_distilled_then_pruned_to_90_percent():
    torch.manual_seed(0)
    data = toy_forecast_dataset()
    ei, ew = data.edge_index, data.edge_weight
    teacher, student = GCNGRU(32), GCNGRU(16)
    # --- distillation in a plain loop (9 lines) ---
    distiller = Distiller(student, teacher, loss="stcd", temporal_pairs=[("temporal", "temporal")],
                          spatial_pairs=[("conv", "conv")])
    optimizer = torch.optim.Adam(distiller.parameters(), lr=1e-2)
    for _ in range(2):
        for x, y in data.batches("train", 16, shuffle=True):
            loss, terms = distiller(x, ei, ew, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    # --- KD-aware pruning to 90 % in the same loop (9 lines) ---
    example = (data.batch("train", torch.arange(1))[0], ei, ew)  # one forward call's inputs
    pruner = KDPruner(student, target=0.9, example_inputs=example, step_share=0.2, every=2)
    while not pruner.done:
        for x, y in data.batches("train", 16, shuffle=True):
            loss, terms = distiller(x, ei, ew, y)
            optimizer.zero_grad()
            loss.backward()
            pruner.step()
            optimizer.step()
    small = pruner.export()
    # --- what it guarantees ---
    assert [g.name for g in pruner.masks.groups] == ["conv", "temporal.gru"]  # not the output
    base = 16 + 16 + 3 * 16 * 16 * 2 + 6 * 16 + 16 + 1
    assert pruner.base_parameters == parameters(GCNGRU(16)) == base == 1681
    c, h = small.conv.out_channels, small.temporal.gru.hidden_size
    # GCNConv 1 -> c, GRU c -> h (three gates), read-out h -> 1
    assert parameters(small) == 2 * c + 3 * h * c + 3 * h * h + 6 * h + h + 1
    assert parameters(small) <= 0.1 * base
    assert pruner.share == pytest.approx(1 - parameters(small) / base)
    x, _ = data.batch("test", torch.arange(data.num_samples("test")))
    with torch.no_grad():
        masked, cut = student(x, ei, ew), small(x, ei, ew)
    assert torch.allclose(masked, cut, atol=1e-5)
    shares = [row["pruned"] for row in pruner.history]
    assert shares == sorted(shares) and [row["step"] % 2 for row in pruner.history] == \
        [0] * len(shares)


def test_traced_groups_and_export_are_exact_in_float64():
    torch.manual_seed(0)
    model = GCNGRU(8).double()
    ei, ew = toy_graph(5)
    x = torch.randn(3, 12, 5, 1, dtype=torch.float64)
    groups = trace_channel_groups(model, (x, ei, ew.double()))
    assert {g.name: (g.size, g.readers) for g in groups} == {
        "conv": (8, ["temporal.gru"]), "temporal.gru": (8, ["readout"])}
    masks = GroupMasks(model, groups)
    masks.keep["conv"][[0, 3]] = False
    masks.keep["temporal.gru"][[1, 2, 7]] = False
    assert masks.remaining_parameters() == 2 * 6 + 3 * 5 * 6 + 3 * 5 * 5 + 6 * 5 + 5 + 1
    small = masks.export()
    assert parameters(small) == masks.remaining_parameters()
    masks.apply()
    assert (model(x, ei, ew) - small(x, ei, ew)).abs().max().item() < 1e-12


class Normed(GCNGRU):
    """A layer norm over the channels (of whatever width): the cut model computes another
    mean than the masked one."""

    def forward(self, x, edge_index, edge_weight=None):
        h = torch.relu(self.conv(x, edge_index, edge_weight))
        h = nn.functional.layer_norm(h, h.shape[-1:])
        return self.readout(self.temporal(h)[:, -1:])


class Flattened(GCNGRU):
    """The read-out sees time and channels flattened together: the GRU's width is fixed."""

    def __init__(self, hidden: int) -> None:
        super().__init__(hidden)
        self.readout = nn.Linear(12 * hidden, 1)

    def forward(self, x, edge_index, edge_weight=None):
        b, t, n, _ = x.shape
        h = torch.relu(self.conv(x, edge_index, edge_weight))
        h = self.temporal(h).permute(0, 2, 1, 3).reshape(b, 1, n, -1)  # [B, 1, N, T * H]
        return self.readout(h)


class Scaled(GCNGRU):
    """A raw per-channel parameter between the layers: a layer pygkd cannot cut."""

    def __init__(self, hidden: int) -> None:
        super().__init__(hidden)
        self.scale = nn.Parameter(torch.ones(hidden))

    def forward(self, x, edge_index, edge_weight=None):
        b, t, n, _ = x.shape
        h = torch.relu(self.conv(x, edge_index, edge_weight)) * self.scale
        return self.readout(self.temporal(h)[:, -1:])


@pytest.mark.parametrize("cls, kept, reason", [
    (Normed, ["temporal.gru"], "differs from the masked one"),
    (Flattened, ["conv"], "reads 96 channels from its 8"),
    (Scaled, ["temporal.gru"], "through a parameter of a layer pygkd cannot cut"),
])
def test_groups_that_cannot_be_cut_exactly_are_left_out(cls, kept, reason):
    torch.manual_seed(0)
    ei, ew = toy_graph(5)
    x = torch.randn(2, 12, 5, 1)
    groups = trace_channel_groups(cls(8), (x, ei, ew))
    assert [g.name for g in groups] == kept
    left_out = {"conv", "temporal.gru"} - set(kept)
    assert reason in groups.left_out[left_out.pop()]
    assert groups.left_out["readout"] == "it makes the model's output"


def test_a_model_with_nothing_to_cut_is_one_error():
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.w

    with pytest.raises(InputError, match="no layer of a kind pygkd can prune"):
        trace_channel_groups(Tiny(), (torch.ones(2),))
    with pytest.raises(ValueError, match="give example_inputs"):
        KDPruner(GCNGRU(4), target=0.5)


@pytest.mark.parametrize("family, count", [
    # K = 2, one input channel, H = 4 hidden channels:
    # gconvgru: 3 x (2 [H, 1] + H) + 3 x (2 [H, H] + H) + H + 1 = 36 + 108 + 5
    ("gconvgru", 149),
    # tgcn / a3tgcn: 3 GCNConv (H + H) + 3 Linear (2H x H + H) + H + 1 (+ 12 attention)
    ("tgcn", 137), ("a3tgcn", 149),
])
def test_zoo_recurrent_families_export_what_they_mask(family, count):
    torch.manual_seed(0)
    model = build_forecaster(family, num_nodes=5, hidden=6).double()
    ei, ew = toy_graph(5)
    x = torch.randn(3, 12, 5, 1, dtype=torch.float64)
    keep = {"hidden": torch.tensor([True, False, True, True, False, True])}
    masks = GroupMasks(model, model.channel_groups(), model.resized)
    masks.keep["hidden"].copy_(keep["hidden"])
    small = masks.export()
    assert small.hidden == 4 and parameters(small) == count == masks.remaining_parameters()
    zero_pruned(model, masks.groups, keep)
    assert (model(x, ei, ew.double()) - small(x, ei, ew.double())).abs().max().item() < 1e-12


def test_dcrnn_refuses_in_one_line():
    model = build_forecaster("dcrnn", num_nodes=5, hidden=4)
    with pytest.raises(InputError, match="structured pruning is not available for this cell"):
        KDPruner(model, target=0.5)


def test_pruner_state_round_trips_and_done_stops_pruning():
    torch.manual_seed(0)
    model = build_forecaster("gconvgru", num_nodes=5, hidden=8)
    ei, ew = toy_graph(5)
    x = torch.randn(2, 12, 5, 1)
    pruner = KDPruner(model, target=0.5, step_share=0.5, every=1)
    while not pruner.done:
        model.zero_grad()
        model(x, ei, ew).square().sum().backward()
        pruner.step()
    sizes = pruner.masks.sizes()
    model(x, ei, ew).square().sum().backward()
    assert pruner.step() is False and pruner.masks.sizes() == sizes  # done: no more pruning
    other = KDPruner(build_forecaster("gconvgru", num_nodes=5, hidden=8), target=0.5)
    other.load_state_dict(pruner.state_dict())
    assert other.masks.sizes() == sizes and other.share == pruner.share and other.done
