import pytest
import torch

from pygkd.errors import InputError
from pygkd.nn import PRESETS, STGCN
from pygkd.testing import toy_graph

# SPEC section 1 / paper Table 1
COUNTS = {
    ("teacher", 228): 333_604, ("pruning-base", 228): 48_628, ("student", 228): 10_144,
    ("teacher", 170): 296_426, ("pruning-base", 170): 39_290, ("student", 170): 7_766,
}


@pytest.mark.parametrize("preset, nodes", sorted(COUNTS))
def test_parameter_counts_match_the_paper(preset, nodes):
    model = STGCN(nodes, PRESETS[preset])
    assert sum(p.numel() for p in model.parameters()) == COUNTS[(preset, nodes)]


def test_forward_shape_and_named_layers():
    ei, ew = toy_graph(5)
    model = STGCN(5, PRESETS["student"])
    out = model(torch.randn(3, 12, 5, 1), ei, ew)
    assert out.shape == (3, 1, 5, 1)
    names = dict(model.named_modules())
    for name in model.temporal_layer_names + model.spatial_layer_names + [model.hidden_layer_name]:
        assert name in names
    assert model.output.temporal.kernel_size == 4  # Ko = 12 - 2*2*2


def test_config_round_trip_gives_same_outputs():
    ei, ew = toy_graph(5)
    model = STGCN(5, [[1, 4, 8], [8, 4, 8]], K=2)
    clone = STGCN.from_config(model.config())
    clone.load_state_dict(model.state_dict())
    x = torch.randn(2, 12, 5, 1)
    assert torch.equal(model(x, ei, ew), clone(x, ei, ew))


def test_model_uses_the_graph():
    ei, ew = toy_graph(5)
    torch.manual_seed(0)
    model = STGCN(5, PRESETS["student"])
    x = torch.randn(2, 12, 5, 1)
    x2 = x.clone()
    x2[:, :, 2] += 1.0  # change node 2 only
    d = (model(x, ei, ew) - model(x2, ei, ew)).abs()[0, 0, :, 0]
    # LayerNorm over nodes mixes all nodes; the graph conv reaches neighbours directly
    assert d.min() > 0


@pytest.mark.parametrize("blocks, message", [
    ([[1, 2, 4], [8, 2, 8]], "block 1 takes 8 channels but block 0 gives 4"),
    ([[1, 2]], "expected a list of \\[c_in, c_t, c_out\\]"),
    ([[1, 2, 4], [4, 2, 4], [4, 2, 4]], "need at least 13 input steps"),
])
def test_bad_blocks(blocks, message):
    with pytest.raises(InputError, match=message):
        STGCN(5, blocks)


def test_bad_input_shape():
    ei, ew = toy_graph(5)
    with pytest.raises(ValueError, match="Expected 'x' as \\[batch, 12, 5, 1\\]"):
        STGCN(5, PRESETS["student"])(torch.randn(2, 10, 5, 1), ei, ew)
