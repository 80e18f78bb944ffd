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


# ------------------------------------------------- forecast windows, class by class (Hypothesis)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pygkd.errors import InputError  # noqa: E402

WINDOWS = settings(max_examples=10, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def forecaster(trained):
    return Forecaster.load(trained["student"])


def _window(exported, start=100):
    return exported.iloc[start:start + 12].reset_index(drop=True).copy()


@WINDOWS
@given(row=st.integers(0, 11), col=st.integers(1, 6),
       value=st.sampled_from([np.inf, -np.inf, 1e20, -5e30]))
def test_infinite_or_overflowing_readings_are_an_error(forecaster, exported, row, col, value):
    frame = _window(exported)
    frame.iloc[row, col] = value
    with pytest.raises(InputError, match=f"sensor '{frame.columns[col]}'"):
        forecaster.predict(frame)


@WINDOWS
@given(col=st.integers(1, 6), rows=st.sets(st.integers(0, 11), min_size=7, max_size=12),
       blank=st.sampled_from([np.nan, 0.0]))
def test_a_sensor_missing_more_than_half_its_window_is_an_error(forecaster, exported, col,
                                                                rows, blank):
    frame = _window(exported)
    frame.iloc[sorted(rows), col] = blank
    with pytest.raises(InputError, match=rf"miss more than half .*{frame.columns[col]} "
                                         rf"\({len(rows)}\)"):
        forecaster.predict(frame)


@WINDOWS
@given(col=st.integers(1, 6), rows=st.sets(st.integers(1, 10), min_size=1, max_size=6))
def test_up_to_half_missing_is_interpolated(forecaster, exported, col, rows):
    frame = _window(exported)
    frame.iloc[sorted(rows), col] = np.nan
    assert np.isfinite(forecaster.predict(frame).to_numpy()).all()


@WINDOWS
@given(minutes=st.sampled_from([5, 15, 60, 1440]))
def test_readings_at_another_step_than_the_models_are_an_error(forecaster, exported, minutes):
    frame = _window(exported)
    frame["timestamp"] = pd.date_range("2024-01-01", periods=12, freq=f"{minutes}min") \
        .strftime("%Y-%m-%d %H:%M")
    with pytest.raises(InputError, match="forecasts steps of 30min"):
        forecaster.predict(frame)


@WINDOWS
@given(col=st.integers(1, 6), factor=st.floats(5.0, 100.0))
def test_readings_far_outside_the_training_range_warn(forecaster, exported, col, factor,
                                                       caplog):
    frame = _window(exported)
    frame.iloc[-1, col] = float(frame.iloc[:, 1:].to_numpy().max()) * factor
    caplog.clear()
    with caplog.at_level("WARNING", logger="pygkd"):
        forecaster.predict(frame)
    assert "far outside the training data's range" in caplog.text
    assert f"sensor {frame.columns[col]!r}" in caplog.text


@WINDOWS
@given(col=st.integers(1, 6), value=st.floats(-50.0, -0.1))
def test_negative_readings_warn_as_in_training(forecaster, exported, col, value, caplog):
    frame = _window(exported)
    frame.iloc[3, col] = value
    caplog.clear()
    with caplog.at_level("WARNING", logger="pygkd"):
        forecaster.predict(frame)
    assert "negative reading(s)" in caplog.text


def test_the_models_missing_policy_decides_what_is_missing(trained, exported):
    """A model trained with --missing nan takes zeros as readings (counts), not gaps."""
    module = Forecaster.load(trained["student"]).module
    frame = _window(exported)
    frame.iloc[:8, 2] = 0.0  # 8 of 12 zeros: missing under 'zero', readings under 'nan'
    with pytest.raises(InputError, match="miss more than half"):
        Forecaster(module, missing="zero").predict(frame)
    counts = Forecaster(module, missing="nan").predict(frame)
    assert np.isfinite(counts.to_numpy()).all()
