"""pygkd export: ONNX (checked, run in ONNX Runtime) and torch.export programs equal eager on
100 test windows for the teacher, the student and the structured pruned model; a script with
only onnxruntime and numpy forecasts from the file."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pygkd.deploy import load_forecast_module, onnx_session
from tests.deploy.conftest import DATA, invoke

pytest.importorskip("onnxruntime", reason="the export extra is not installed")

REPO = Path(__file__).resolve().parents[2]


def _windows(module, count=100):
    """``count`` raw test windows of the model's synthetic data ``[count, 12, N, 1]``."""
    from pygkd.data.datasets import load_dataset
    from pygkd.data.preprocessing import interpolate_missing

    raw = load_dataset("synthetic", num_nodes=6, num_days=3, steps_per_day=48)
    speeds = torch.tensor(interpolate_missing(raw.speeds), dtype=torch.float32)
    starts = torch.arange(96, 96 + count) % (speeds.size(0) - 12)
    return speeds[starts[:, None] + torch.arange(12)][..., None]


@pytest.mark.parametrize("which", [
    pytest.param("teacher", marks=pytest.mark.slow), "student",
    pytest.param("pruned", marks=pytest.mark.slow)])
def test_onnx_and_exported_program_equal_eager(trained, tmp_path, which):
    module, _ = load_forecast_module(trained[which])
    x = _windows(module)
    with torch.no_grad():
        eager = module(x).numpy()
    result = invoke("export", trained[which], "--out", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    session = onnx_session(tmp_path / "m.onnx")
    assert [i.name for i in session.get_inputs()] == ["readings"]
    assert [o.name for o in session.get_outputs()] == ["forecast"]
    for batch in (x, x[:1], x[:7]):  # the batch size is dynamic
        out = session.run(None, {"readings": batch.numpy()})[0]
        assert out.shape == (batch.size(0), 9, 6)
        assert np.abs(out - eager[: batch.size(0)]).max() <= 1e-4
    result = invoke("export", trained[which], "--format", "exported-program",
                    "--out", tmp_path / "m.pt2")
    assert result.exit_code == 0, result.output
    program = torch.export.load(str(tmp_path / "m.pt2"))
    with torch.no_grad():
        assert np.abs(program.module()(x).numpy() - eager).max() <= 1e-4
        assert np.abs(program.module()(x[:3]).numpy() - eager[:3]).max() <= 1e-4


def test_a_numpy_and_onnxruntime_script_forecasts(trained, tmp_path):
    result = invoke("export", trained["student"], "--out", tmp_path / "s.onnx")
    assert result.exit_code == 0, result.output
    csv = tmp_path / "data.csv"
    assert invoke("data", "export", "synthetic", *DATA, "--out", csv).exit_code == 0
    lines = csv.read_text().splitlines()
    (tmp_path / "recent.csv").write_text("\n".join([lines[0], *lines[100:112]]) + "\n")
    script = REPO / "docs" / "examples" / "onnx_forecast.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "s.onnx"),
                          str(tmp_path / "recent.csv")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("step +") == 9
    import pandas as pd

    from pygkd.deploy import Forecaster

    expected = Forecaster.load(trained["student"]).predict(tmp_path / "recent.csv")
    first = [float(v) for v in out.stdout.splitlines()[0].split(":")[1].split()[:5]]
    assert np.allclose(first, expected.iloc[0, :5].to_numpy(), atol=0.01)
    assert pd.api.types.is_float_dtype(expected.dtypes.iloc[0])


def test_export_refuses_bad_arguments(trained, tmp_path):
    result = invoke("export", trained["student"], "--quantize", "--out", tmp_path / "x.onnx")
    assert result.exit_code == 2 and "--quantize: int8 export was removed" in result.output
    assert not (tmp_path / "x.onnx").exists()
    result = invoke("export", tmp_path / "nothing", "--out", tmp_path / "x.onnx")
    assert result.exit_code == 2 and "checkpoint not found" in result.output


@pytest.mark.parametrize("family", [
    "tgcn", pytest.param("gconvgru", marks=pytest.mark.slow),
    pytest.param("a3tgcn", marks=pytest.mark.slow)])
def test_recurrent_families_export_with_their_operator_baked_in(tmp_path, family):
    """The cell's graph operator is cached dense in the module; ONNX Runtime, the exported
    program and the eager module equal the model run on its edge list (PyG Temporal's call).
    Two forecast steps: the cell is unrolled 2 x 12 times, as fast to trace as the test
    needs."""
    from pygkd.train.evaluate import autoregressive_forecast
    from tests.deploy.conftest import TINY

    run = tmp_path / family
    result = invoke("train", "--model", family, "--hidden", "8", "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    module, payload = load_forecast_module(run, horizon=2)
    assert module.cached and module.model.graph_operator.is_dense
    x = _windows(module, 20)
    ei, ew = payload["graph"]["edge_index"].long(), payload["graph"]["edge_weight"].float()
    with torch.no_grad():
        eager = module(x).numpy()
        module.model.uncache_graph()  # the model alone, on its edge list
        mean, std = module.statistics
        z = autoregressive_forecast(lambda w: module.model(w, ei, ew), (x - mean) / std, 2)
    assert np.abs((z * std + mean).numpy() - eager).max() <= 1e-4
    assert np.abs(eager - x[:, -1:, :, 0].numpy()).max() > 1e-3  # not a copy of the input
    result = invoke("export", run, "--out", tmp_path / "m.onnx", "--horizon", 2)
    assert result.exit_code == 0, result.output
    session = onnx_session(tmp_path / "m.onnx")
    for batch in (x, x[:1]):
        out = session.run(None, {"readings": batch.numpy()})[0]
        assert np.abs(out - eager[: batch.size(0)]).max() <= 1e-4
    result = invoke("export", run, "--format", "exported-program", "--out", tmp_path / "m.pt2",
                    "--horizon", 2)
    assert result.exit_code == 0, result.output
    program = torch.export.load(str(tmp_path / "m.pt2"))
    with torch.no_grad():
        assert np.abs(program.module()(x[:3]).numpy() - eager[:3]).max() <= 1e-4


def test_dcrnn_predicts_in_python_and_refuses_export_in_one_line(tmp_path):
    from tests.deploy.conftest import TINY

    run = tmp_path / "dcrnn"
    result = invoke("train", "--model", "dcrnn", "--hidden", "8", "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    result = invoke("export", run, "--out", tmp_path / "d.onnx")
    assert result.exit_code == 2
    assert "a dcrnn model runs PyG Temporal's own message passing" in result.output
    assert not (tmp_path / "d.onnx").exists()
    csv = tmp_path / "readings.csv"
    assert invoke("data", "export", "synthetic", *DATA, "--out", csv).exit_code == 0
    result = invoke("predict", run, "--input", csv)
    assert result.exit_code == 0, result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) >= 9


def test_serving_benchmark_rows_agree_with_eager_and_evaluate(trained, caplog):
    import json

    from pygkd.bench import bench_serve

    caplog.set_level("INFO", logger="pygkd")
    rows = bench_serve([trained["student"]], batch=16, repeats=1, single_repeats=2,
                       compile_model=False)
    assert [r["runtime"] for r in rows] == ["eager PyTorch", "ONNX Runtime"]
    assert rows[0]["max_diff"] == 0.0 and rows[1]["max_diff"] <= 1e-4
    metrics = json.loads((trained["student"].parent / "metrics.json").read_text())
    for horizon, values in metrics["test"].items():  # the same test MAE as pygkd evaluate
        assert rows[0][f"MAE {horizon}"] == pytest.approx(values["MAE"], rel=1e-4)
    assert any("student | ONNX Runtime |" in line for line in caplog.messages)
