import json

import pytest
import torch
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.distill import DistillObjective, teacher_share
from pygkd.distill import functional as Fd
from pygkd.nn import PRESETS, STGCN
from pygkd.testing import toy_forecast_dataset
from pygkd.train.config import DistillConfig


def _setup(loss, **kw):
    ds = toy_forecast_dataset()
    torch.manual_seed(0)
    teacher, student = STGCN(6, [[1, 4, 8], [8, 4, 8]]), STGCN(6, PRESETS["student"])
    objective = DistillObjective(teacher, DistillConfig(loss=loss, **kw), ds.edge_index,
                                 ds.edge_weight)
    x, y = ds.batch("train", torch.arange(8))
    return ds, teacher, student, objective, x, y


@pytest.mark.parametrize("loss", ["none", "rd-l2", "rd-kl", "skd", "ord", "tcd", "scd", "stcd"])
def test_every_loss_trains_the_student_only(loss):
    ds, teacher, student, objective, x, y = _setup(loss)
    value, logs = objective(student, x, y)
    value.backward()
    assert torch.isfinite(value)
    assert all(p.grad is None for p in teacher.parameters())
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training
    assert sum(float(p.grad.abs().sum()) for p in student.parameters() if p.grad is not None) > 0
    assert sum(len(m._forward_hooks) for m in [*teacher.modules(), *student.modules()]) == 0


def test_stcd_is_ord_plus_weighted_feature_losses():
    ds, teacher, student, objective, x, y = _setup("stcd", alpha1=0.3, alpha2=0.25, alpha3=0.5)
    value, logs = objective(student, x, y)
    expected = logs["ord"] + 0.5 * (0.25 * logs["scd"] + 0.75 * logs["tcd"])
    assert value.item() == pytest.approx(expected, rel=1e-5)
    # by hand from the models: the spatial part averages the two block pairs
    ei, ew = ds.edge_index, ds.edge_weight
    from pygkd.distill import FeatureCapture
    with torch.no_grad(), FeatureCapture(student, student.spatial_layer_names) as cs:
        student(x, ei, ew)
    with torch.no_grad(), FeatureCapture(teacher, teacher.spatial_layer_names) as ct:
        teacher(x, ei, ew)
    scd = sum(float(Fd.spatial_correlation(a, b)) for a, b in zip(cs.ordered(), ct.ordered(),
              strict=True)) / 2
    assert logs["scd"] == pytest.approx(scd, rel=1e-5)


def test_none_is_the_plain_task_loss():
    ds, teacher, student, objective, x, y = _setup("none")
    value, _ = objective(student, x, y)
    plain = torch.mean((student(x, ds.edge_index, ds.edge_weight)[:, 0, :, 0] - y[:, 0]) ** 2)
    assert value.item() == pytest.approx(plain.item())


def test_teacher_share_matches_the_ord_loss():
    ds, teacher, student, objective, x, y = _setup("ord", alpha1=0.4)
    _, logs = objective(student, x, y)
    share = teacher_share(teacher, [(x, y)], 0.4, ds.edge_index, ds.edge_weight)
    assert share == pytest.approx(logs["teacher_share"])


def test_mismatched_depths_pair_by_relative_depth():
    ds = toy_forecast_dataset()
    teacher = STGCN(6, [[1, 2, 4]], n_in=12)  # 2 temporal layers
    student = STGCN(6, PRESETS["student"])  # 4 temporal layers
    objective = DistillObjective(teacher, DistillConfig(loss="tcd"), ds.edge_index)
    assert [p[1:] for p in objective.layer_pairs(student)] == [
        ("blocks.0.temporal1", "blocks.0.temporal1"), ("blocks.0.temporal2", "blocks.0.temporal1"),
        ("blocks.1.temporal1", "blocks.0.temporal2"), ("blocks.1.temporal2", "blocks.0.temporal2")]
    x, y = ds.batch("train", torch.arange(2))
    loss, logs = objective(student, x, y)
    assert torch.isfinite(loss) and logs["tcd"] > 0
    explicit = DistillObjective(teacher, DistillConfig(loss="tcd"), ds.edge_index,
                                temporal_pairs=[("blocks.1.temporal2", "blocks.0.temporal2")])
    assert explicit.layer_pairs(student) == [("t", "blocks.1.temporal2", "blocks.0.temporal2")]


def test_distill_command_end_to_end(tmp_path):
    tiny = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
            "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
            "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--blocks", "1,4,8;8,4,8", "--epochs", "1", "--quiet",
                                  "--out", str(tmp_path / "t"), *tiny], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    teacher_file = tmp_path / "t" / "model.pt"
    before = torch.load(teacher_file, weights_only=True)["model_state"]
    result = runner.invoke(main, ["distill", "--teacher", str(teacher_file), "--loss", "stcd",
                                  "--epochs", "2", "--quiet", "--out", str(tmp_path / "s"),
                                  "--set", "train.latency_batch=8"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Student (stcd)" in result.output and "followed the teacher" in result.output
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert 0.0 <= metrics["teacher_share"] <= 1.0 and metrics["epochs_run"] == 2
    assert metrics["model"]["blocks"] == PRESETS["student"]
    after = torch.load(teacher_file, weights_only=True)["model_state"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    bad = runner.invoke(main, ["distill", "--teacher", str(teacher_file), "--alpha1", "1.5"])
    assert bad.exit_code == 2 and "distill.alpha1: expected a value <= 1 (got 1.5)" in bad.output


@pytest.mark.parametrize("loss", ["stcd", "skd"])
def test_teacher_cache_gives_the_same_loss_and_skips_the_teacher(loss):
    ds = toy_forecast_dataset()
    torch.manual_seed(0)
    teacher, student = STGCN(6, [[1, 4, 8], [8, 4, 8]]), STGCN(6, PRESETS["student"])
    config = DistillConfig(loss=loss, alpha1=0.3, alpha2=0.5, alpha3=0.5, alpha=0.4)
    plain = DistillObjective(teacher, config, ds.edge_index, ds.edge_weight)
    cached = DistillObjective(teacher, config, ds.edge_index, ds.edge_weight,
                              num_windows=ds.num_samples("train"), cache_gb=1.0)
    calls = []
    teacher.register_forward_hook(lambda *args: calls.append(1))
    index = torch.tensor([3, 0, 7, 5])
    x, y = ds.batch("train", index)
    expected, logs = plain(student, x, y, index)
    calls.clear()
    first, _ = cached(student, x, y, index)
    assert cached.cache is not None and int(cached.cache.filled.sum()) == 4
    n_first = len(calls)
    second, logs2 = cached(student, x, y, index)
    assert len(calls) == n_first  # served from the cache: the teacher did not run
    for value in (first, second):
        assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    if loss == "stcd":
        assert logs2["scd"] == pytest.approx(logs["scd"], rel=1e-5)
    # a batch mixing cached and new windows runs the teacher on the new ones only
    index2 = torch.tensor([3, 9])
    x2, y2 = ds.batch("train", index2)
    cached(student, x2, y2, index2)
    assert int(cached.cache.filled.sum()) == 5


def test_cache_over_budget_falls_back(caplog):
    ds = toy_forecast_dataset()
    teacher, student = STGCN(6, [[1, 4, 8], [8, 4, 8]]), STGCN(6, PRESETS["student"])
    objective = DistillObjective(teacher, DistillConfig(loss="scd"), ds.edge_index,
                                 ds.edge_weight, num_windows=10**9, cache_gb=0.001)
    caplog.set_level("INFO", logger="pygkd")
    x, y = ds.batch("train", torch.arange(2))
    objective(student, x, y, torch.arange(2))
    assert objective.cache is None and "on the fly" in caplog.messages[0]
