"""Distillation across model families: any teacher, any student, through the CLI."""

import json

import pytest
import torch
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.distill.objective import DistillObjective
from pygkd.train.config import DistillConfig
from tests.conftest import TINY_NETWORK, no_data

COMMON = [*TINY_NETWORK, "--quiet", "--epochs", "1"]
#: distill reads the teacher's data: no data settings
DISTILL = [*no_data(TINY_NETWORK), "--quiet", "--epochs", "1"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    out = {}
    for name, extra in (("stgcn", ["--preset", "student"]), ("gconvgru", ["--hidden", "6"])):
        result = run("train", "--model", name, *extra, "--out", root / name, *COMMON)
        assert result.exit_code == 0, result.output
        out[name] = root / name / "model.pt"
    return out


@pytest.mark.parametrize("teacher, student", [
    ("stgcn", "gconvgru"), ("stgcn", "a3tgcn"), ("stgcn", "tgcn"), ("gconvgru", "stgcn"),
])
def test_any_teacher_any_student(tmp_path, teachers, teacher, student):
    out = tmp_path / "run"
    size = [] if student == "stgcn" else ["--hidden", "4"]
    result = run("distill", "--teacher", teachers[teacher], "--student-model", student,
                 *size, "--loss", "stcd", "--out", out, *DISTILL)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["family"] == student
    assert metrics["history"][0]["tcd"] > 0 and metrics["history"][0]["scd"] > 0
    evaluated = run("evaluate", out / "model.pt", "--latency-batch", "4")
    assert evaluated.exit_code == 0, evaluated.output


def test_cross_family_features_are_paired_by_depth_and_cut_to_common_steps(teachers):
    from pygkd.nn.models import build_forecaster
    from pygkd.testing import toy_graph
    from pygkd.train.checkpoint import load_model

    teacher, _ = load_model(teachers["stgcn"])  # 2 blocks: 4 temporal, 2 spatial layers
    ei, ew = toy_graph(6)
    student = build_forecaster("gconvgru", 6, hidden=4)
    objective = DistillObjective(teacher, DistillConfig(loss="stcd"), ei, ew)
    pairs = objective.layer_pairs(student)
    assert pairs == [("t", "temporal", "blocks.1.temporal2"), ("s", "spatial", "blocks.1.spatial")]
    x, y = torch.randn(2, 12, 6, 1), torch.randn(2, 9, 6)
    loss, logs = objective(student, x, y)
    loss.backward()
    assert logs["tcd"] > 0 and logs["scd"] > 0 and torch.isfinite(loss)


def test_prune_refuses_families_without_channel_groups(tmp_path):
    model = tmp_path / "d"
    result = run("train", "--model", "dcrnn", "--hidden", "4", "--out", model, *COMMON)
    assert result.exit_code == 0, result.output
    result = run("prune", "--model", model / "model.pt", "--out", tmp_path / "p")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert ("Algorithm 1 prunes the channel groups of stgcn, gconvgru, tgcn, a3tgcn models "
            "(got a dcrnn") in lines[0]


@pytest.fixture(scope="module")
def pruned_gconvgru(tmp_path_factory):
    """`pygkd prune --model T.pt --target 0.97` for a GConvGRU trained by `pygkd train`
    (no --teacher: the model distils itself)."""
    root = tmp_path_factory.mktemp("pruned-gconvgru")
    result = run("train", "--model", "gconvgru", "--hidden", "32", "--out", root / "base",
                 *COMMON)
    assert result.exit_code == 0, result.output
    result = run("prune", "--model", root / "base" / "model.pt", "--target", "0.97",
                 "--out", root / "p", "--set", "train.batch_size=4",
                 "--set", "prune.pruning_minibatch=1", "--set", "prune.step_share=0.3",
                 "--set", "prune.finetune_epochs=1", "--set", "train.latency_batch=8",
                 "--set", "train.latency_repeats=1")
    assert result.exit_code == 0, result.output
    assert "distilling from" in result.output and "itself" in result.output
    return root / "p"


def test_prune_a_gconvgru_teacher_to_97_percent(tmp_path, pruned_gconvgru):
    import pandas as pd

    from pygkd.train.checkpoint import load_model

    out = pruned_gconvgru
    metrics = json.loads((out / "metrics.json").read_text())
    small, _ = load_model(out / "model.pt")
    # GConvGRU, K=3, one input channel, H hidden: three x-convolutions (3 [H, 1] + bias),
    # three h-convolutions (3 [H, H] + bias), read-out H + 1: 9H^2 + 16H + 1
    h = small.hidden
    assert small.K == 3 and sum(p.numel() for p in small.parameters()) == 9 * h * h + 16 * h + 1
    assert metrics["base_parameters"] == 9 * 32 * 32 + 16 * 32 + 1
    assert metrics["pruned_share"] >= 0.97 and metrics["sizes"] == {"hidden": h}
    assert metrics["model"]["family"] == "gconvgru"
    evaluated = run("evaluate", out / "model.pt", "--latency-batch", "4")
    assert evaluated.exit_code == 0, evaluated.output
    assert f"| {9 * h * h + 16 * h + 1:,} |" in evaluated.output
    readings = pd.DataFrame(torch.full((12, 6), 60.0).numpy(),
                            columns=[f"S{i:03d}" for i in range(6)])  # the synthetic sensors
    readings.to_csv(tmp_path / "recent.csv", index_label="step")
    predicted = run("predict", out / "model.pt", "--input", tmp_path / "recent.csv")
    assert predicted.exit_code == 0, predicted.output
    assert len(predicted.output.strip().splitlines()) == 1 + 9  # header, 9 forecast steps


@pytest.mark.slow
def test_a_pruned_gconvgru_exports_to_onnx(tmp_path, pruned_gconvgru):
    """The exported (smaller) model: ONNX Runtime equals the eager module. Two forecast steps:
    the cell is unrolled 2 x 12 times (about a minute to trace: in the slow set, like the
    unpruned GConvGRU's export test)."""
    from pygkd.deploy import load_forecast_module, onnx_session

    result = run("export", pruned_gconvgru / "model.pt", "--out", tmp_path / "small.onnx",
                 "--horizon", 2)
    assert result.exit_code == 0, result.output
    module, _ = load_forecast_module(pruned_gconvgru / "model.pt", horizon=2)
    x = 50 + 10 * torch.rand(4, 12, 6, 1)
    with torch.no_grad():
        eager = module(x).numpy()
    out = onnx_session(tmp_path / "small.onnx").run(None, {"readings": x.numpy()})[0]
    assert out.shape == (4, 2, 6) and abs(out - eager).max() <= 1e-4


def test_predict_with_a_recurrent_model(tmp_path, teachers):
    import pandas as pd

    from pygkd.deploy import load_forecast_module
    from pygkd.train.checkpoint import load_checkpoint
    from pygkd.train.runs import build_dataset, checkpoint_data_config

    module, payload = load_forecast_module(teachers["gconvgru"])
    data = build_dataset(checkpoint_data_config(load_checkpoint(teachers["gconvgru"])))
    assert module(torch.randn(2, 12, data.num_nodes, 1)).shape == (2, 9, data.num_nodes)
    readings = pd.DataFrame(torch.full((12, data.num_nodes), 60.0).numpy(),
                            columns=data.sensor_ids)
    readings.to_csv(tmp_path / "recent.csv", index_label="step")
    result = run("predict", teachers["gconvgru"], "--input", tmp_path / "recent.csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split(",")[1:] == list(data.sensor_ids)


def test_two_teachers_of_two_families(tmp_path, teachers):
    out = tmp_path / "multi"
    result = run("distill", "--teacher", teachers["stgcn"], "--teacher", teachers["gconvgru"],
                 "--teacher-weights", "3,1", "--student-model", "tgcn", "--hidden", "4",
                 "--loss", "stcd", "--out", out, *DISTILL)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distill"]["teachers"] == [str(teachers["stgcn"]), str(teachers["gconvgru"])]
    assert metrics["distill"]["teacher_weights"] == [3.0, 1.0]
    assert len(metrics["teachers_test"]) == 2
    shares = metrics["teacher_shares"]  # Table 3 for each teacher, in --teacher order
    assert len(shares) == 2 and shares[0] == metrics["teacher_share"]
    assert all(0.0 <= v <= 1.0 for v in shares) and shares[0] != shares[1]
    bad = run("distill", "--teacher", teachers["stgcn"], "--teacher", teachers["gconvgru"],
              "--teacher-weights", "1", "--out", tmp_path / "bad", *DISTILL)
    assert bad.exit_code == 2 and "expected 2 non-negative weights" in bad.output


def test_multi_teacher_loss_is_the_weighted_sum(teachers):
    from pygkd.distill.objective import MultiTeacherObjective
    from pygkd.nn.models import build_forecaster
    from pygkd.testing import toy_graph
    from pygkd.train.checkpoint import load_model

    ei, ew = toy_graph(6)
    config = DistillConfig(loss="stcd")
    single = [DistillObjective(load_model(teachers[k])[0], config, ei, ew)
              for k in ("stgcn", "gconvgru")]
    multi = MultiTeacherObjective(single, [3.0, 1.0])
    student = build_forecaster("tgcn", 6, hidden=4)
    x, y = torch.randn(2, 12, 6, 1), torch.randn(2, 9, 6)
    loss, logs = multi(student, x, y)
    parts = [o(student, x, y) for o in single]
    assert loss.item() == pytest.approx(0.75 * parts[0][0].item() + 0.25 * parts[1][0].item(),
                                        rel=1e-5)
    assert logs["tcd"] == pytest.approx(0.75 * parts[0][1]["tcd"] + 0.25 * parts[1][1]["tcd"])


def test_a_zoo_student_without_hidden_is_about_3_percent_of_its_teacher(tmp_path):
    """Without --hidden, a zoo student is sized to the paper's share (2.9 %), not to the
    family's default width (which made a GConvGRU student as large as its teacher)."""
    teacher = tmp_path / "t"
    result = run("train", "--model", "gconvgru", "--hidden", "64", "--out", teacher, *COMMON)
    assert result.exit_code == 0, result.output
    out = tmp_path / "s"
    result = run("distill", "--teacher", teacher / "model.pt", "--student-model", "gconvgru",
                 "--loss", "none", "--out", out, *DISTILL)
    assert result.exit_code == 0, result.output
    t = json.loads((teacher / "metrics.json").read_text())["model"]["parameters"]
    s = json.loads((out / "metrics.json").read_text())["model"]["parameters"]
    assert 0.015 < s / t < 0.06, (s, t)
    import yaml

    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["hidden"] >= 1
