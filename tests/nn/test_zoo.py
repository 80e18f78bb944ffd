"""The model zoo: every family maps [B, T, N, C] to the next step, exposes its feature points,
rebuilds from its config, runs in float64, and matches PyG Temporal's own cell."""

import subprocess
import sys

import pytest
import torch

from pygkd.distill import FeatureCapture
from pygkd.errors import InputError
from pygkd.nn.models import MODELS, build_forecaster, model_class, model_family
from pygkd.testing import toy_graph

ZOO = sorted(set(MODELS) - {"stgcn"})


def _model(name, nodes=6, hidden=8):
    torch.manual_seed(0)
    if name == "stgcn":
        return build_forecaster(name, nodes, blocks=[[1, 4, 8], [8, 4, 8]])
    return build_forecaster(name, nodes, hidden=hidden)


def test_build_forecaster_rejects_options_a_family_does_not_take():
    with pytest.raises(InputError, match="model gconvgru: does not take blocks, kernel_size"):
        build_forecaster("gconvgru", 5, hidden=4, blocks=[[1, 2, 4]], kernel_size=3)
    with pytest.raises(InputError, match="model stgcn: does not take hidden"):
        build_forecaster("stgcn", 5, blocks=[[1, 2, 4]], hidden=4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_interface(name):
    ei, ew = toy_graph(6)
    x = torch.randn(3, 12, 6, 1)
    model = _model(name)
    assert model_family(model) == name
    names = model.temporal_layer_names + model.spatial_layer_names
    with FeatureCapture(model, names) as cap:
        out = model(x, ei, ew)
    assert out.shape == (3, 1, 6, 1)
    for layer in names:
        b, t, n, _ = cap.features[layer].shape
        assert (b, n) == (3, 6) and 1 <= t <= 12, layer
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    twin = model_class(name).from_config(model.config())
    twin.load_state_dict(model.state_dict())
    assert torch.allclose(twin(x, ei, ew), model(x, ei, ew), atol=1e-6)
    out64 = model.double()(x.double(), ei, ew.double())  # nothing the model makes is float32
    assert out64.dtype == torch.float64


def test_recurrent_states_match_pyg_temporal_cell():
    """The batch folded into one graph gives each window the cell's own result."""
    from pygkd.compat import import_pyg_temporal

    ei, ew = toy_graph(5)
    model = _model("gconvgru", nodes=5).double()
    x = torch.randn(2, 12, 5, 1, dtype=torch.float64)
    states = model.hidden_states(x, ei, ew.double())
    grads = torch.autograd.grad(states.square().sum(), list(model.cell.parameters()))
    # PyG Temporal's own cell (PyG ChebConv layers) with the same weights, window by window
    cell = import_pyg_temporal().nn.recurrent.GConvGRU(1, 8, 2).double()
    cell.load_state_dict(model.cell.state_dict())
    expected = []
    for b in range(2):
        h, steps = torch.zeros(5, 8, dtype=torch.float64), []
        for t in range(12):
            h = cell(x[b, t], ei, ew.double(), h)
            steps.append(h)
        expected.append(torch.stack(steps))
    expected = torch.stack(expected)
    assert torch.allclose(states, expected, atol=1e-10)
    ref = torch.autograd.grad(expected.square().sum(), list(cell.parameters()))
    assert all(torch.allclose(g, r, atol=1e-8) for g, r in zip(grads, ref, strict=True))
    assert isinstance(model.cell, import_pyg_temporal().nn.recurrent.GConvGRU)
    assert all(conv.cached_operator is None for conv in model.cell.modules()
               if hasattr(conv, "cached_operator"))  # nothing kept between calls


@pytest.mark.parametrize("name", ["tgcn", "a3tgcn"])
@pytest.mark.parametrize("self_loops", [False, True])
def test_gcn_cells_match_pyg_temporal_cell(name, self_loops):
    """TGCN / A3TGCN apply GCN's normalised adjacency by one product per call: outputs and
    gradients equal PyG Temporal's own cell (PyG ``GCNConv``, same weights) on each window,
    with or without self-loops in the graph (GCN keeps their weights)."""
    from pygkd.bench.training import reference_recurrent

    ei, ew = toy_graph(5)
    if self_loops:
        ei = torch.cat([ei, torch.tensor([[2], [2]])], dim=1)
        ew = torch.cat([ew, torch.tensor([0.3])])
    model = _model(name, nodes=5).double()
    x = torch.randn(3, 12, 5, 1, dtype=torch.float64)
    states = model.hidden_states(x, ei, ew.double())
    params = [p for p in model.cell.parameters() if p.dim() > 1]  # the GCN and GRU weights
    grads = torch.autograd.grad(states.square().sum(), params)
    reference = reference_recurrent(model)
    assert not any(hasattr(m, "cached_operator") for m in reference.cell.modules())
    expected = torch.cat([reference.hidden_states(x[b : b + 1], ei, ew.double())
                          for b in range(3)])  # each window alone
    assert torch.allclose(states, expected, atol=1e-10)
    ref_params = [p for p in reference.cell.parameters() if p.dim() > 1]
    ref = torch.autograd.grad(expected.square().sum(), ref_params)
    assert all(torch.allclose(g, r, atol=1e-8) for g, r in zip(grads, ref, strict=True))
    assert all(m.cached_operator is None for m in model.fast_layers)  # none kept after


@pytest.mark.parametrize("name", ["gconvgru", "tgcn", "a3tgcn", "dcrnn"])
def test_cached_graph_gives_the_same_forecast_without_the_graph(name):
    """``cache_graph`` builds the cell's operator once, in the model's dtype and dense on
    request, outside the state dict; calls then need no graph and equal the edge list's
    result. DCRNN's cell runs its own message passing: nothing is cached."""
    ei, ew = toy_graph(6)
    model = _model(name).double()
    x = torch.randn(3, 12, 6, 1, dtype=torch.float64)
    expected = model(x, ei, ew.double())
    keys = set(model.state_dict())
    model.cache_graph(ei, ew.double(), dense=True)
    assert set(model.state_dict()) == keys
    if name == "dcrnn":
        assert model.graph_operator is None
        with pytest.raises(ValueError, match="Expected 'edge_index'"):
            model(x)
        return
    op = model.graph_operator
    assert op.is_dense and op.matrix.dtype == torch.float64 and op.matrix.shape == (6, 6)
    assert torch.allclose(model(x), expected, atol=1e-12)
    assert all(m.cached_operator is None for m in model.fast_layers)  # handed back after
    with pytest.raises(ValueError, match="Expected 'edge_index'"):
        model.uncache_graph()(x)


def test_parameter_counts():
    """GConvGRU(1, H, K=2): six Chebyshev convolutions and a read-out, 6H^2 + 12H + H + 1."""
    model = build_forecaster("gconvgru", 5, hidden=8, K=2)
    assert sum(p.numel() for p in model.parameters()) == 6 * 64 + 12 * 8 + 8 + 1
    tgcn = build_forecaster("tgcn", 5, hidden=8)  # 3 GCN (2H) + 3 linear (2H^2 + H) + 9
    assert sum(p.numel() for p in tgcn.parameters()) == 3 * 16 + 3 * (128 + 8) + 9


def test_unknown_family_is_one_line():
    with pytest.raises(InputError, match=r"model: unknown 'lstm' \(choose from: a3tgcn"):
        model_class("lstm")


def test_import_pygkd_makes_pyg_temporal_importable():
    code = ("import importlib.util, sys, pygkd, torch_geometric_temporal\n"
            "import torch_geometric.typing as t\n"
            "real = importlib.util.find_spec('torch_sparse') is not None\n"
            "assert t.WITH_TORCH_SPARSE == real  # PyG is not fooled by the stand-in\n"
            "assert real or 'torch_sparse' not in sys.modules  # and it does not linger\n"
            "print(torch_geometric_temporal.nn.recurrent.GConvGRU.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "GConvGRU"
