"""The loss registry: one place names each loss, what it reads and how it is built."""

import dataclasses

import pytest
import torch
from torch import nn

from pygkd.distill import functional as Fd
from pygkd.distill.registry import LOSSES
from pygkd.train.config import DistillConfig


def _features(b=2, t=6, n=5):
    torch.manual_seed(0)
    s, tt = torch.randn(b, t, n, 3), torch.randn(b, t, n, 7)
    return s, tt


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_is_a_module_returning_a_scalar_tensor(name):
    spec = LOSSES[name]
    config = DistillConfig(loss=name)
    assert set(spec.hyperparameters) <= {f.name for f in dataclasses.fields(DistillConfig)}
    assert set(spec.tuned) <= set(spec.hyperparameters)
    criterion = spec.build(config)
    assert isinstance(criterion, nn.Module)
    y_s, y_t, target = torch.randn(2, 5), torch.randn(2, 5), torch.randn(2, 5)
    s, t = _features()
    features = {kind: [(s, t)] for kind in spec.features}
    loss = criterion(y_s, y_t if spec.uses_teacher else None, target, features)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0 and torch.isfinite(loss)


def test_stcd_criterion_equals_equation_11():
    config = DistillConfig(loss="stcd", alpha1=0.3, alpha2=0.25, alpha3=0.5)
    criterion = LOSSES["stcd"].build(config)
    y_s, y_t, target = torch.randn(2, 5), torch.randn(2, 5), torch.randn(2, 5)
    s, t = _features()
    loss = criterion(y_s, y_t, target, {"temporal": [(s, t)], "spatial": [(s, t)]})
    ord_loss = Fd.overseen_response(y_s, y_t, target, 0.3)
    expected = ord_loss + 0.5 * (0.25 * Fd.spatial_correlation(s, t)
                                 + 0.75 * Fd.temporal_correlation(s, t))
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert set(criterion.parts) == {"ord", "teacher_share", "tcd", "scd"}


def test_cli_and_tuning_read_the_registry():
    from click.testing import CliRunner

    from pygkd.cli import main
    from pygkd.experiments.tuning import tuned_names

    help_text = CliRunner().invoke(main, ["distill", "--help"]).output
    for name in LOSSES:
        assert name in help_text
    assert all(tuned_names(k)[:len(v.tuned)] == v.tuned for k, v in LOSSES.items())
    assert DistillConfig(loss="x").loss == "x"  # unchecked until validated
    from pygkd.distill.registry import check_loss

    DistillConfig(loss="x").validate()  # the train layer does not know the losses ...
    with pytest.raises(Exception, match="distill.loss: unknown 'x'"):
        check_loss("x")  # ... the distillation package checks the name
    with pytest.raises(Exception, match="distill.loss: unknown 'x'"):
        from pygkd.distill import Distiller
        from pygkd.nn import STGCN

        Distiller(STGCN(4, [[1, 2, 4]]), STGCN(4, [[1, 2, 4]]), loss="x")
