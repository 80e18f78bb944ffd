"""PyG conventions on every module: ``reset_parameters`` re-initialises, ``repr`` shows the
settings."""

import torch

from pygkd.distill import ResponseKLLoss, StructuralKDLoss
from pygkd.nn import STGCN


def test_every_parameterised_module_resets():
    torch.manual_seed(0)
    model = STGCN(5, [[1, 2, 4], [4, 2, 8]])
    for name, module in model.named_modules():
        if any(True for _ in module.parameters()) and not isinstance(module, torch.nn.ModuleList):
            assert hasattr(module, "reset_parameters"), f"{name or 'STGCN'}: no reset_parameters"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    model.reset_parameters()
    for key, value in model.state_dict().items():
        if not before[key].any() or "norm" in key:
            continue  # biases start at zero, LayerNorm at ones and zeros
        assert not torch.equal(value, before[key]), key


def test_reprs_show_the_settings():
    model = STGCN(5, [[1, 2, 4]])
    text = repr(model)
    assert text.startswith("STGCN(\n  num_nodes=5, n_in=12, kernel_size=3, K=3\n")
    assert "channels=[1, 2, 4]" in text and "NodeReadout(in_channels=4, num_nodes=5)" in text
    assert repr(ResponseKLLoss(beta=0.2, tau=2.0)) == \
        "ResponseKLLoss(beta=0.2, tau=2.0, reduction='mean')"
    assert repr(StructuralKDLoss(alpha=0.3)) == "StructuralKDLoss(alpha=0.3, reduction='mean')"
