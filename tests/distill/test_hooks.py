import pytest
import torch

from pygkd.distill import FeatureCapture
from pygkd.nn import STGCN
from pygkd.testing import toy_graph


def _hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_captures_named_layers_in_canonical_layout():
    ei, ew = toy_graph(5)
    model = STGCN(5, [[1, 2, 4], [4, 2, 8]])
    names = model.temporal_layer_names + model.spatial_layer_names
    with FeatureCapture(model, names) as cap:
        out = model(torch.randn(3, 12, 5, 1), ei, ew)
    shapes = [tuple(f.shape) for f in cap.ordered()]
    assert shapes == [(3, 10, 5, 2), (3, 8, 5, 4), (3, 6, 5, 2), (3, 4, 5, 8),
                      (3, 10, 5, 2), (3, 6, 5, 2)]
    assert _hooks(model) == 0 and out.shape == (3, 1, 5, 1)
    # captured tensors are the live outputs (gradients flow), unless detach=True
    assert cap.features["blocks.0.spatial"].requires_grad


def test_hooks_removed_when_forward_raises():
    ei, ew = toy_graph(5)
    model = STGCN(5, [[1, 2, 4], [4, 2, 8]])
    with pytest.raises(ValueError):
        with FeatureCapture(model, model.spatial_layer_names, detach=True):
            model(torch.randn(3, 11, 5, 1), ei, ew)  # wrong number of steps
    assert _hooks(model) == 0


def test_unknown_layer_lists_valid_names():
    model = STGCN(5, [[1, 2, 4], [4, 2, 8]])
    with pytest.raises(KeyError, match="Unknown layer 'blocks.0.spatail'.*blocks.0.spatial"):
        FeatureCapture(model, ["blocks.0.spatail"])


def test_layer_that_did_not_run_is_reported():
    model = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 2), "b": torch.nn.Linear(2, 2)})
    with FeatureCapture(model, ["a", "b"]) as cap:
        model["a"](torch.zeros(1, 2))
    with pytest.raises(RuntimeError, match="\\['b'\\] did not run"):
        cap.ordered()
