"""FitNets hint with a learned 1x1 adapter: trained with the student, saved with the run's
training state, never part of the student."""

from __future__ import annotations

import json

import pytest
import torch

from pygkd.distill import Distiller
from pygkd.distill.objective import DistillObjective
from pygkd.distill.registry import HintCriterion, check_loss
from pygkd.nn import PRESETS, STGCN
from pygkd.testing import toy_forecast_dataset
from pygkd.train.config import DistillConfig


def test_hint_by_hand():
    criterion = HintCriterion(gamma=0.25)
    h_s, h_t = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 3)
    y_s, target = torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 0.0]])
    criterion(y_s, None, target, {"hidden": [(h_s, h_t)]})  # makes the 2 -> 3 adapter
    with torch.no_grad():
        criterion.adapter.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
        criterion.adapter.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    loss = criterion(y_s, None, target, {"hidden": [(h_s, h_t)]})
    # W h_s + b = [1, 3, 1] at both nodes -> hint (1 + 9 + 1) / 3; task (1 + 9) / 2
    assert float(loss.detach()) == pytest.approx(0.75 * 5.0 + 0.25 * 11 / 3)
    assert float(criterion.terms["hint"].detach()) == pytest.approx(0.25 * 11 / 3)


def _setup(windows: int):
    """Toy data, a teacher (last block 32 channels), a student (8), and a batch."""
    data = toy_forecast_dataset()
    torch.manual_seed(0)
    teacher = STGCN(data.num_nodes, [[1, 8, 16], [16, 8, 32]])
    student = STGCN(data.num_nodes, PRESETS["student"])
    return data, teacher, student, *data.batch("train", torch.arange(windows))


def test_the_adapter_trains_with_the_student_and_stays_out_of_it():
    data, teacher, student, x, y = _setup(8)
    distiller = Distiller(student, teacher, loss="fitnet", gamma=0.5)
    distiller.prepare(x, data.edge_index, data.edge_weight, y)
    adapter = distiller.criterion.adapter
    assert adapter.in_features == 8 and adapter.out_features == 32  # student -> teacher width
    names = {n for n, _ in distiller.named_parameters()}
    assert {"criteria.0.adapter.weight", "criteria.0.adapter.bias"} <= names
    assert not any("adapter" in k for k in student.state_dict())
    before = adapter.weight.detach().clone()
    optimizer = torch.optim.Adam(distiller.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        distiller(x, data.edge_index, data.edge_weight, y)[0].backward()
        optimizer.step()
    assert (adapter.weight - before).abs().max() > 1e-3


def test_the_adapter_is_in_the_objectives_state_for_resuming():
    data, teacher, student, x, y = _setup(4)
    config = DistillConfig(loss="fitnet")
    first = DistillObjective(teacher, config, data.edge_index, data.edge_weight)
    first.prepare(student, x, y)
    with torch.no_grad():
        first.parameters()[0].add_(1.0)
    second = DistillObjective(teacher, config, data.edge_index, data.edge_weight)
    second.prepare(student, x, y)
    second.load_state_dict(first.state_dict())
    assert torch.equal(second.parameters()[0], first.parameters()[0])


def test_a_fitnet_combination_adds_the_hint_to_the_other_terms():
    spec = check_loss("fitnet+tcd")
    assert spec.features == ("hidden", "temporal") and spec.tuned == ("gamma", "alpha1", "alpha3")


def test_pygkd_distill_trains_and_saves_the_adapter_but_not_in_the_model(tmp_path):
    from click.testing import CliRunner

    from pygkd.cli import main
    from tests.conftest import train_stgcn

    teacher = train_stgcn(tmp_path, "t", "1,4,8;8,4,8")
    result = CliRunner().invoke(main, [
        "distill", "--teacher", str(teacher), "--loss", "fitnet", "--epochs", "2", "--quiet",
        "--out", str(tmp_path / "s"), "--set", "train.latency_batch=8",
        "--set", "train.latency_repeats=1"])
    assert result.exit_code == 0, result.output
    state = torch.load(tmp_path / "s" / "last.pt", weights_only=True)
    saved = state["step_loss"]["terms"][0]["criterion"]
    assert tuple(saved["adapter.weight"].shape) == (8, 8)  # last blocks: student 8, teacher 8
    model = torch.load(tmp_path / "s" / "model.pt", weights_only=True)["model_state"]
    assert not any("adapter" in k for k in model)
    history = json.loads((tmp_path / "s" / "metrics.json").read_text())["history"]
    assert {"hint", "grad_share_hint", "grad_share_task"} <= set(history[0])
