"""The Lightning examples of docs/examples run and do what they say: a student distilled by a
``Distiller`` inside a ``LightningModule``, and pruned by ``KDPruner`` from a callback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning", reason="the 'lightning' extra is not installed")

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@pytest.fixture(autouse=True)
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield
    for name in ("lightning_distill", "lightning_prune"):
        sys.modules.pop(name, None)


def test_distiller_inside_a_lightning_module():
    from lightning_distill import main

    module = main(max_epochs=1)
    teacher = module.distiller.teachers[0]
    assert not teacher.training  # Lightning called .train() on the module: the teacher stays
    assert all(k.startswith("distiller.student.") for k in module.state_dict())
    student_params = {id(p) for p in module.distiller.student.parameters()}
    assert {id(p) for p in module.parameters()} == student_params
    assert not any(p.requires_grad for p in teacher.parameters())


def test_kdpruner_from_a_lightning_callback():
    from lightning_prune import main

    from pygkd.testing import toy_forecast_dataset

    student, small, pruner = main(target=0.8)
    assert pruner.done and pruner.share >= 0.8
    count = sum(p.numel() for p in small.parameters())
    assert count == round((1 - pruner.share) * pruner.base_parameters)
    data = toy_forecast_dataset()
    x, _ = data.batch("test", torch.arange(data.num_samples("test")))
    with torch.no_grad():
        masked = student(x, data.edge_index, data.edge_weight)  # masks still attached
        cut = small(x, data.edge_index, data.edge_weight)
    assert torch.allclose(masked, cut, atol=1e-5)
