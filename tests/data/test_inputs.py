"""Several input channels with one forecast channel: measured channels (PEMS08's flow and
occupancy), calendar covariates, signals with feature channels; training, distillation and
evaluation through the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.data import load_forecast_dataset, make_synthetic_network
from pygkd.data.loaders import load_custom
from pygkd.data.windows import ForecastDataset
from pygkd.errors import InputError
from pygkd.train import autoregressive_forecast

SMALL_RUN = ["--epochs", "1", "--quiet", "--set", "train.latency_batch=8",
             "--set", "train.latency_repeats=1"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def pems08(tmp_path_factory):
    """A small PEMS08-format folder: 3 days of 5-minute flow / occupancy / speed, 5 sensors."""
    folder = tmp_path_factory.mktemp("pems08")
    rng = np.random.default_rng(3)
    steps = 288 * 3
    raw = np.stack([rng.uniform(100, 400, (steps, 5)), rng.uniform(0, 0.2, (steps, 5)),
                    rng.uniform(40, 70, (steps, 5))], axis=-1)
    raw[5, 1, 0] = np.nan  # one missing flow reading
    raw[7, 2, 1] = 0.0  # a true zero occupancy
    np.savez(folder / "PEMS08.npz", data=raw)
    (folder / "PEMS08.csv").write_text("from,to,cost\n0,1,300\n1,2,400\n2,3,500\n3,4,600\n")
    return folder, raw


def test_measured_and_calendar_inputs_become_channels(pems08):
    folder, raw = pems08
    plain = load_forecast_dataset("pems08", folder, "1/1/1")
    data = load_forecast_dataset("pems08", folder, "1/1/1",
                                 inputs=["flow", "occupancy", "time-of-day"])
    assert data.in_channels == 4 and data.input_names == ("flow", "occupancy", "time-of-day")
    index = torch.tensor([0, 10])
    x, y = data.batch("train", index)
    x0, y0 = plain.batch("train", index)
    assert x.shape == (2, 12, 5, 4)
    assert torch.equal(x[..., :1], x0) and torch.equal(y, y0)  # channel 0 and targets unchanged
    # flow: NaN interpolated along time, z-scored with the first (training) day's statistics
    flow = raw[:, :, 0].copy()
    flow[5, 1] = (flow[4, 1] + flow[6, 1]) / 2
    train = flow[:288]
    expected = (flow[10:22] - train.mean()) / train.std()
    assert np.allclose(x[1, :, :, 1].numpy(), expected, atol=1e-5)
    # occupancy keeps its true zero (zeros are readings in the extra channels)
    occupancy = data.extra_inputs[:, :, 1].numpy()
    mean, std = raw[:288, :, 1].mean(), raw[:288, :, 1].std()
    assert occupancy[7, 2] == pytest.approx((0.0 - mean) / std, abs=1e-5)
    # time of day: step / 288, not normalised
    assert np.allclose(x[1, :, 0, 3].numpy(), np.arange(10, 22) / 288)


def test_future_inputs_know_the_calendar_but_no_measured_value(pems08):
    folder, _ = pems08
    data = load_forecast_dataset("pems08", folder, "1/1/1", inputs=["flow", "time-of-day"])
    index = torch.tensor([3])
    future = data.future_inputs("train", index, 4)
    start = int(data.starts["train"][3])
    last_flow = data.extra_inputs[start + 11, :, 0]
    assert future.shape == (1, 4, 5, 2)
    assert torch.equal(future[0, :, :, 0], last_flow.expand(4, 5))  # held, not the truth
    assert np.allclose(future[0, :, 0, 1].numpy(), (start + 12 + np.arange(4)) / 288)


def test_rollout_takes_the_extra_inputs_of_the_forecast_steps():
    seen = []

    def step(x):
        seen.append(x[:, -1, 0, 1].item())
        return x[:, -1:, :, :1] + 1

    x = torch.zeros(1, 3, 1, 2)
    future = torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)
    out = autoregressive_forecast(step, x, 3, future)
    assert out[0, :, 0].tolist() == [1.0, 2.0, 3.0]
    assert seen == [0.0, 10.0, 20.0]  # step h reads the input appended at step h - 1
    seen.clear()
    autoregressive_forecast(step, x + torch.tensor([0.0, 5.0]), 3)
    assert seen == [5.0, 5.0, 5.0]  # without future: the last input step's are repeated


def test_calendar_phase_comes_from_the_first_timestamp(tmp_path):
    stamps = pd.date_range("2024-01-02 01:00", periods=48 * 4, freq="30min")  # a Tuesday
    pd.DataFrame({"timestamp": stamps, "a": 50.0, "b": 40.0}).to_csv(tmp_path / "s.csv",
                                                                      index=False)
    np.savetxt(tmp_path / "w.csv", np.array([[0, 1.0], [1.0, 0]]), delimiter=",")
    data = load_custom(tmp_path / "s.csv", tmp_path / "w.csv", graph_kind="weight")
    assert data.start_offset == 48 + 2
    windows = ForecastDataset.from_traffic(data, "2/1/1", n_in=4, n_out=2,
                                           inputs=["time-of-day", "day-of-week"])
    tod, dow = windows.extra_inputs[0, 0].tolist()
    assert tod == pytest.approx(2 / 48) and dow == pytest.approx(1 / 7)


def test_bad_inputs_are_named(pems08, tmp_path):
    folder, _ = pems08
    with pytest.raises(InputError, match=r"no input 'density' \(choose from: flow, "
                                         r"occupancy, time-of-day, day-of-week\)"):
        load_forecast_dataset("pems08", folder, "1/1/1", inputs=["density"])
    with pytest.raises(InputError, match="flow given more than once"):
        load_forecast_dataset("pems08", folder, "1/1/1", inputs=["flow", "flow"])
    raw = make_synthetic_network(num_nodes=4, num_days=3, steps_per_day=24)
    raw.steps_per_day = None
    with pytest.raises(InputError, match="time-of-day: the series has no day structure"):
        ForecastDataset.from_traffic(raw, "0.7/0.1/0.2", inputs=["time-of-day"])


def test_signal_feature_channels_become_inputs():
    raw = make_synthetic_network(num_nodes=4, num_days=4, steps_per_day=48)
    raw.channels = {"flow": raw.speeds * 2.0 + 3.0}
    source = ForecastDataset.from_traffic(raw, "0.7/0.15/0.15", inputs=["flow", "time-of-day"])
    signal = source.signal("train")
    assert signal.features[0].shape == (4, 3, 12)
    data = ForecastDataset.from_signal(signal, split="0.6/0.2/0.2")
    assert data.input_names == ("channel1", "channel2") and data.in_channels == 3
    x, _ = data.batch("train", torch.tensor([0]))
    # the rebuilt channels are the signal's, z-scored again on the new training part
    for c in (1, 2):
        values = np.stack([f[:, c, 0] for f in signal.features])  # [S, N] first input steps
        train_end = data.split_steps[0][1]
        rebuilt = np.concatenate([values, np.stack([signal.features[-1][:, c, k]
                                                    for k in range(1, 12)])])
        mean, std = rebuilt[:train_end].mean(), rebuilt[:train_end].std()
        got = x[0, :, :, c].numpy()
        assert np.allclose(got, (values[:12] - mean) / std, atol=1e-5)


def test_inputs_train_distil_and_evaluate_through_the_cli(tmp_path, pems08):
    folder, _ = pems08
    teacher = tmp_path / "teacher"
    result = run("train", "--dataset", "pems08", "--data-dir", folder, "--split", "1/1/1",
                 "--inputs", "flow,occupancy,time-of-day", "--model", "gconvgru", "--hidden",
                 "8", "--out", teacher, *SMALL_RUN)
    assert result.exit_code == 0, result.output
    payload = torch.load(teacher / "model.pt", weights_only=True)
    assert payload["model_config"]["in_channels"] == 4
    assert payload["data"]["inputs"] == ["flow", "occupancy", "time-of-day"]
    student = tmp_path / "student"
    result = run("distill", "--teacher", teacher / "model.pt", "--loss", "stcd",
                 "--student-model", "stgcn", "--out", student, *SMALL_RUN)
    assert result.exit_code == 0, result.output
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["model"]["parameters"] > 0 and np.isfinite(metrics["test"]["15min"]["MAE"])
    saved = torch.load(student / "model.pt", weights_only=True)
    assert saved["model_config"]["blocks"][0][0] == 4  # the student reads the same 4 channels
    result = run("evaluate", student / "model.pt")
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["evaluate", str(student / "model.pt"), "--inputs",
                                       "flow"])
    assert result.exit_code == 2
    assert "the model reads 4 input channel(s) but the data give 2" in result.output
    readings = tmp_path / "readings.csv"
    pd.DataFrame(np.full((12, 5), 50.0), columns=[str(i) for i in range(5)]).to_csv(
        readings, index=False)
    result = CliRunner().invoke(main, ["predict", str(student / "model.pt"), "--input",
                                       str(readings)])
    assert result.exit_code == 2
    assert "reads extra inputs (flow, occupancy, time-of-day)" in result.output
