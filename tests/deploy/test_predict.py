"""pygkd data export and pygkd predict: forecasts from the latest readings equal the
evaluation rollout; every bad input is a one-line error."""

import json

import numpy as np
import pandas as pd
import pytest

from pygkd.deploy import Forecaster
from pygkd.train.checkpoint import load_model
from pygkd.train.evaluate import forecast_split
from pygkd.train.runs import build_dataset, checkpoint_data_config
from tests.deploy.conftest import DATA, invoke


@pytest.fixture(scope="module")
def exported(trained):
    path = trained["root"] / "synthetic.csv"
    result = invoke("data", "export", "synthetic", *DATA, "--out", path)
    assert result.exit_code == 0, result.output
    return pd.read_csv(path)


def _clean_test_window(model_path):
    """A test window whose 12 input rows have no missing reading, and its start step."""
    model, payload = load_model(model_path)
    dataset = build_dataset(checkpoint_data_config(payload))
    starts = dataset.starts["test"]
    from pygkd.data.datasets import load_dataset

    raw = load_dataset("synthetic", num_nodes=6, num_days=3, steps_per_day=48).speeds
    for k, start in enumerate(starts.tolist()):
        rows = raw[start:start + 12]
        if not (np.isnan(rows).any() or (rows == 0).any()):
            return model, dataset, k, start
    raise AssertionError("no clean window")


@pytest.mark.parametrize("which", ["teacher", "student", "pruned"])
def test_predict_equals_the_evaluation_rollout(trained, exported, which, tmp_path):
    model, dataset, k, start = _clean_test_window(trained[which])
    recent = exported.iloc[start:start + 12]
    recent.to_csv(tmp_path / "recent.csv", index=False)
    result = invoke("predict", trained[which], "--input", tmp_path / "recent.csv",
                    "--out", tmp_path / "forecast.csv")
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(tmp_path / "forecast.csv", index_col=0)
    pred, _ = forecast_split(model, dataset, "test", limit=k + 1)
    assert forecast.shape == (9, 6)
    assert list(forecast.columns) == list(exported.columns[1:])
    assert np.allclose(forecast.to_numpy(), pred[k].numpy(), atol=1e-5)
    # timestamps continue the input's, 30 minutes apart (48 steps a day)
    last = pd.Timestamp(recent["timestamp"].iloc[-1])
    assert pd.Timestamp(forecast.index[0]) == last + pd.Timedelta(minutes=30)
    assert pd.Timestamp(forecast.index[-1]) == last + 9 * pd.Timedelta(minutes=30)
    # the Python API and --json give the same numbers
    api = Forecaster.load(trained[which]).predict(recent)
    assert np.allclose(api.to_numpy(), forecast.to_numpy(), atol=1e-5)
    result = invoke("predict", trained[which], "--input", tmp_path / "recent.csv", "--json")
    payload = json.loads(result.output)
    assert payload["sensors"] == list(forecast.columns) and len(payload["forecast"]) == 9


def _bad(exported, case):
    frame = exported.iloc[100:120].copy()
    if case == "too few rows":
        return frame.iloc[:5], "at least 12 steps"
    if case == "other sensors":
        return frame.rename(columns={"S003": "X9"}), "missing S003; unknown X9"
    if case == "non-numeric":
        frame = frame.astype(object)
        frame.iloc[-2, 3] = "fast"
        return frame, "expected numeric readings (got 'fast'"
    if case == "repeated timestamp":
        frame.iloc[15, 0] = frame.iloc[14, 0]
        return frame, "repeats at row 17"
    if case == "empty":
        return frame.iloc[:0], "expected a table with a header and rows of readings"
    raise KeyError(case)


@pytest.mark.parametrize("case", ["too few rows", "other sensors", "non-numeric",
                                  "repeated timestamp", "empty"])
def test_bad_input_is_a_one_line_error(trained, exported, tmp_path, case):
    frame, expected = _bad(exported, case)
    frame.to_csv(tmp_path / "bad.csv", index=False)
    result = invoke("predict", trained["student"], "--input", tmp_path / "bad.csv")
    assert result.exit_code in (1, 2)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_a_gap_in_the_window_is_filled_like_missing_readings(trained, exported, caplog):
    frame = exported.iloc[100:112].copy()
    forecaster = Forecaster.load(trained["student"])
    blank = frame.copy()
    blank.iloc[6, 1:] = np.nan  # the readings of that step are missing
    with caplog.at_level("WARNING", logger="pygkd"):
        gap = forecaster.predict(frame.drop(frame.index[6]))
    assert "1 step(s) missing in 1 gap(s)" in caplog.text
    assert np.allclose(gap.to_numpy(), forecaster.predict(blank).to_numpy(), atol=1e-6)
    assert list(gap.index) == list(forecaster.predict(frame).index)


def test_missing_readings_inside_the_window_are_interpolated(trained, exported):
    frame = exported.iloc[100:112].copy()
    assert not frame.iloc[:, 1:].isna().any().any() and (frame.iloc[:, 1:] > 0).all().all()
    forecaster = Forecaster.load(trained["student"])
    by_hand = frame.copy()
    by_hand.iloc[5, 2] = (frame.iloc[4, 2] + frame.iloc[6, 2]) / 2  # linear interpolation
    frame.iloc[5, 2] = 0.0  # zeros are missing readings, as in training
    frame.iloc[7, 3] = np.nan
    by_hand.iloc[7, 3] = (frame.iloc[6, 3] + frame.iloc[8, 3]) / 2
    filled = forecaster.predict(frame)
    assert np.allclose(filled.to_numpy(), forecaster.predict(by_hand).to_numpy(), atol=1e-5)
