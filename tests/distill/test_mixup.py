"""Function matching on mixed windows (``distill.mixup``): the loss is ``(1 - mixup)`` times
the chosen loss plus ``mixup`` times the student-teacher squared error on windows mixed with a
shuffled copy of the batch, drawn from the seed and the step."""

from __future__ import annotations

import pytest
import torch

from pygkd.distill import Distiller
from pygkd.distill import functional as Fd
from pygkd.nn import STGCN
from pygkd.testing import toy_forecast_dataset


def _models(dtype=torch.float32):
    torch.manual_seed(0)
    teacher = STGCN(6, [[1, 4, 8], [8, 4, 8]]).to(dtype)
    student = STGCN(6, [[1, 2, 4], [4, 2, 4]]).to(dtype)
    return teacher, student


def _batch(dtype=torch.float32):
    data = toy_forecast_dataset().to(dtype=dtype)
    x, y = data.batch("train", torch.arange(6))
    return data, x, y


@pytest.mark.parametrize("loss", ["ord", "tcd", "stcd", "skd"])
def test_the_loss_is_the_chosen_loss_plus_matching_on_mixed_windows(loss):
    data, x, y = _batch()
    ei, ew = data.edge_index, data.edge_weight
    teacher, student = _models()
    plain = Distiller(student, teacher, loss=loss)
    mixed = Distiller(student, teacher, loss=loss, mixup=0.4, seed=3)
    plain.train(), mixed.train()
    mixed.set_step(7)
    base = plain(x, ei, ew, y)[0].detach()
    total, logs = mixed(x, ei, ew, y)
    total = total.detach()
    # by hand: the same mix (seed 3, step 7), both models on it
    x_mix = mixed.terms[0].mixed_windows(x)
    assert not torch.equal(x_mix, x)
    with torch.no_grad():
        y_t = teacher(x_mix, ei, ew)[:, 0, :, 0]
    y_s = student(x_mix, ei, ew)[:, 0, :, 0]
    match = ((y_s - y_t) ** 2).mean().detach()
    assert logs["match"] == pytest.approx(float(match), rel=1e-5)
    assert float(total) == pytest.approx(0.6 * float(base) + 0.4 * float(match), rel=1e-5)
    terms = mixed.terms[0].terms
    assert float(sum(terms.values()).detach()) == pytest.approx(float(total), rel=1e-5)
    assert float(terms["match"].detach()) == pytest.approx(0.4 * float(match), rel=1e-5)


def test_the_mix_comes_from_the_seed_and_the_step():
    _, x, _ = _batch()
    teacher, student = _models()
    term = Distiller(student, teacher, loss="ord", mixup=0.5, seed=1).terms[0]
    term.set_step(4)
    first = term.mixed_windows(x)
    assert torch.equal(first, term.mixed_windows(x))
    term.set_step(5)
    assert not torch.equal(first, term.mixed_windows(x))
    # every mixed window lies between two windows of the batch, component by component
    low, high = x.amin(0, keepdim=True), x.amax(0, keepdim=True)
    assert bool(((first >= low - 1e-6) & (first <= high + 1e-6)).all())


def test_matching_moves_the_gradients_only_in_training():
    data, x, y = _batch()
    ei, ew = data.edge_index, data.edge_weight
    grads, values = {}, {}
    for share in (0.0, 0.5):
        teacher, student = _models()
        distiller = Distiller(student, teacher, loss="tcd", mixup=share)
        distiller.train()
        loss, logs = distiller(x, ei, ew, y)
        loss.backward()
        grads[share] = torch.cat([p.grad.flatten() for p in student.parameters()])
        assert ("match" in logs) == (share > 0)
        distiller.eval()
        with torch.no_grad():
            values[share] = float(distiller(x, ei, ew, y)[0])
    assert not torch.allclose(grads[0.0], grads[0.5])
    assert values[0.0] == pytest.approx(values[0.5], rel=1e-6)  # no mix outside training


def test_matching_keeps_float64_and_is_in_the_gradient_shares():
    data, x, y = _batch(torch.float64)
    teacher, student = _models(torch.float64)
    distiller = Distiller(student, teacher, loss="ord", mixup=0.5)
    distiller.train()
    assert distiller.terms[0].mixed_windows(x).dtype == torch.float64
    loss, logs = distiller(x, data.edge_index, data.edge_weight, y, diagnose=True)
    assert loss.dtype == torch.float64
    assert 0.0 < logs["grad_share_match"] < 1.0
    assert logs["grad_share_match"] + logs["grad_share_ord"] == pytest.approx(1.0, abs=1e-6)


def test_mix_windows_checks_its_shapes():
    x = torch.zeros(3, 2, 4, 1)
    with pytest.raises(ValueError, match=r"shape \[3\]"):
        Fd.mix_windows(x, torch.ones(2), torch.arange(3))


def test_pygkd_distill_mixup_runs_logs_and_repeats(tmp_path):
    import json

    from click.testing import CliRunner

    from pygkd.cli import main
    from tests.conftest import TINY_NETWORK

    def run(*args):
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    tiny = ["--quiet", "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]
    run("train", "--preset", "student", "--epochs", "1", "--out", tmp_path / "t",
        *TINY_NETWORK, *tiny)
    histories = []
    for out in ("a", "b"):
        run("distill", "--teacher", tmp_path / "t" / "model.pt", "--loss", "ord", "--mixup",
            "0.5", "--epochs", "2", "--out", tmp_path / out, *tiny)
        metrics = json.loads((tmp_path / out / "metrics.json").read_text())
        assert metrics["distill"]["mixup"] == 0.5
        histories.append([(e["match"], e["val_mae"]) for e in metrics["history"]])
    assert len(histories[0]) == 2 and all(m > 0 for m, _ in histories[0])
    assert histories[0] == histories[1]  # the mixes come from the seed and the step


def test_a_killed_mixup_run_resumes_to_the_same_run(tmp_path, monkeypatch):
    # killed before its second epoch and run again, a run with function matching repeats the
    # uninterrupted run's mixes (they come from the seed and the restored step)
    import json

    from click.testing import CliRunner

    from pygkd.cli import main
    from pygkd.train.trainer import Trainer
    from tests.conftest import TINY_NETWORK

    def run(*args, code=0):
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    tiny = ["--quiet", "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]
    run("train", "--preset", "student", "--epochs", "1", "--out", tmp_path / "t",
        *TINY_NETWORK, *tiny)
    distill = ["distill", "--teacher", tmp_path / "t" / "model.pt", "--loss", "ord", "--mixup",
               "0.5", "--epochs", "3", *tiny]
    run(*distill, "--out", tmp_path / "whole")
    train_epoch = Trainer.train_epoch

    def killed_in_epoch_two(self, epoch, progress=True):
        if epoch == 2:
            raise KeyboardInterrupt
        return train_epoch(self, epoch, progress)

    monkeypatch.setattr(Trainer, "train_epoch", killed_in_epoch_two)
    killed = run(*distill, "--out", tmp_path / "killed", code=130)  # Ctrl-C's exit code
    assert "Run the same command again to resume" in killed.output
    trained = []

    def recorded(self, epoch, progress=True):
        trained.append(epoch)
        return train_epoch(self, epoch, progress)

    monkeypatch.setattr(Trainer, "train_epoch", recorded)
    run(*distill, "--out", tmp_path / "killed")
    assert trained == [2, 3]  # resumed after epoch 1, not started again
    whole, resumed = (json.loads((tmp_path / d / "metrics.json").read_text())["history"]
                      for d in ("whole", "killed"))
    assert len(whole) == 3
    assert [(e["match"], e["val_mae"]) for e in resumed] == \
        [(e["match"], e["val_mae"]) for e in whole]
