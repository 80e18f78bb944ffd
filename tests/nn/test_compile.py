"""The explicit graph operator makes STGCN compile without graph breaks and export."""

import pytest
import torch

from pygkd.nn import PRESETS, STGCN
from pygkd.testing import toy_graph


@pytest.mark.parametrize("threshold", [0.05, 2.0])  # dense / sparse operator
def test_compile_fullgraph_and_export_match_eager(threshold):
    ei, ew = toy_graph(6)
    torch.manual_seed(0)
    model = STGCN(6, PRESETS["student"])
    for module in model.modules():
        if hasattr(module, "dense_threshold"):
            module.dense_threshold = threshold
    model.cache_graph(ei, ew)
    assert model.graph_operator.is_dense == (threshold < 1)
    x = torch.randn(3, 12, 6, 1, requires_grad=True)
    eager = model(x)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)  # raises on any graph break
    out = compiled(x)
    assert torch.allclose(out, eager, atol=1e-5)
    grad_c, = torch.autograd.grad(out.sum(), x)
    grad_e, = torch.autograd.grad(eager.sum(), x)
    assert torch.allclose(grad_c, grad_e, atol=1e-5)
    program = torch.export.export(model, (x.detach(),))
    assert torch.allclose(program.module()(x.detach()), eager.detach(), atol=1e-5)
    # the cache is opt-in and leaves the state dict alone
    assert not any("graph_operator" in k for k in model.state_dict())
    assert torch.allclose(model.uncache_graph()(x, ei, ew), eager, atol=1e-6)
