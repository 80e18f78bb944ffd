"""Term diagnostics: each term's share of the student's gradient, and weights that act."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from pygkd.cli import main
from pygkd.distill import Distiller
from pygkd.distill.diagnostics import gradient_shares, inert_terms
from pygkd.nn import PRESETS, STGCN
from pygkd.nn.models import build_forecaster
from pygkd.testing import toy_forecast_dataset
from tests.conftest import TINY_NETWORK, no_data

#: per loss, the weight of its distillation term: 0 switches the term off
TERM_WEIGHTS = {"rd-l2": "beta", "rd-kl": "beta", "skd": "alpha", "tcd": "alpha3",
                "scd": "alpha3", "stcd": "alpha3",
                "skd+tcd": "alpha", "rd-l2+skd": "alpha"}  # SKD's term within a combination


def test_gradient_shares_by_hand():
    w = nn.Parameter(torch.tensor([1.0, 2.0, 2.0]))
    # gradients: a -> [2, 4, 4] (norm 6), b -> [0, 0, 3] (norm 3), c: no gradient
    terms = {"a": (w ** 2).sum(), "b": 3 * w[2], "c": torch.tensor(5.0)}
    shares = gradient_shares(terms, [w])
    assert shares == pytest.approx({"a": 6 / 9, "b": 3 / 9, "c": 0.0})
    assert w.grad is None  # the shares never touch .grad


def _student_grads(student, teacher, loss, weight, data):
    torch.manual_seed(0)
    x, y = data.batch("train", torch.arange(8))
    distiller = Distiller(student, teacher, loss=loss, **{TERM_WEIGHTS[loss]: weight})
    student.zero_grad()
    distiller(x, data.edge_index, data.edge_weight, y)[0].backward()
    return torch.cat([p.grad.flatten() for p in student.parameters() if p.grad is not None])


@pytest.mark.parametrize("family", ["stgcn", "gconvgru"])
@pytest.mark.parametrize("loss", sorted(TERM_WEIGHTS))
def test_a_term_with_weight_changes_the_students_gradient(loss, family):
    data = toy_forecast_dataset()
    torch.manual_seed(1)
    teacher = STGCN(data.num_nodes, PRESETS["teacher"])
    student = STGCN(data.num_nodes, PRESETS["student"]) if family == "stgcn" else \
        build_forecaster("gconvgru", data.num_nodes, hidden=4)
    off = _student_grads(student, teacher, loss, 0.0, data)
    on = _student_grads(student, teacher, loss, 0.5, data)
    difference = (on - off).norm() / off.norm()
    assert difference > 1e-3, f"{loss} on {family}: the term's weight does not reach the student"


def test_distill_logs_gradient_shares_per_epoch(tmp_path):
    runner = CliRunner()
    teacher = tmp_path / "t"
    result = runner.invoke(main, ["train", "--preset", "student", "--epochs", "1", "--quiet",
                                  "--out", str(teacher), *TINY_NETWORK])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["distill", "--teacher", str(teacher / "model.pt"), "--loss",
                                  "stcd", "--epochs", "2", "--quiet", "--out",
                                  str(tmp_path / "s"), *no_data(TINY_NETWORK)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    for row in metrics["history"]:
        shares = {k: v for k, v in row.items() if k.startswith("grad_share_")}
        assert set(shares) == {"grad_share_ord", "grad_share_tcd", "grad_share_scd"}
        assert sum(shares.values()) == pytest.approx(1.0)
    assert metrics["inert_terms"] == inert_terms(metrics["history"])
