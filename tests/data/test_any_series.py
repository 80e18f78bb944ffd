"""Any sampling step, any window: a weekly count series with true zeros, a 35-step series,
explicit steps and missing-value policies."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pygkd.cli import main
from pygkd.data import load_forecast_dataset
from pygkd.data.timing import default_horizons, horizon_label
from pygkd.errors import InputError
from pygkd.testing import weekly_count_files

WEEKLY = ["--graph-kind", "weight", "--in-steps", "8", "--out-steps", "4", "--missing", "nan",
          "--split", "0.7/0.1/0.2"]
SMALL_RUN = ["--epochs", "2", "--quiet", "--set", "train.latency_batch=8",
             "--set", "train.latency_repeats=1"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    return weekly_count_files(tmp_path_factory.mktemp("weekly"))


def test_weekly_counts_are_not_interpolated(weekly):
    counts, weights = weekly
    data = load_forecast_dataset(str(counts), options={"graph": str(weights),
                                                       "graph_kind": "weight"},
                                 split="0.7/0.1/0.2", n_in=8, n_out=4, missing="nan")
    raw = pd.read_csv(counts).iloc[:, 1:].to_numpy(dtype=float)
    assert (raw == 0).mean() > 0.02  # true zeros in the data
    restored = data.scaler.inverse(data.series).numpy()
    assert np.allclose(restored, raw, atol=1e-4)  # nothing changed by interpolation
    assert data.minutes_per_step == 7 * 1440 and data.steps_per_day is None
    assert data.horizons == (1, 3, 4) and data.split_days is None
    assert data.split_steps == ((0, 364), (364, 416), (416, 520))
    # windows run through the split: 364 - 12 + 1 training windows
    assert data.num_samples("train") == 353 and data.num_samples("test") == 93


@pytest.mark.parametrize("model", ["gconvgru", "a3tgcn"])
def test_weekly_series_trains_and_distils_through_the_cli(tmp_path, weekly, model):
    counts, weights = weekly
    teacher = tmp_path / "teacher"
    result = run("train", "--dataset", counts, "--graph", weights, *WEEKLY, "--model", model,
                 "--hidden", "8", "--out", teacher, *SMALL_RUN)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("| Model"))
    assert "MAE 1wk | MAE 3wk | MAE 4wk" in header
    rows = [line for line in result.output.splitlines()
            if line.startswith("| ") and not line.startswith("| Model")]
    assert rows and all(" - |" not in row.split("|", 4)[-1] for row in rows), rows
    metrics = json.loads((teacher / "metrics.json").read_text())
    assert list(metrics["test"]) == ["1wk", "3wk", "4wk"]
    assert all(np.isfinite(v) for h in metrics["test"].values() for v in h.values())
    student = run("distill", "--teacher", teacher / "model.pt", "--student-model", model,
                  "--hidden", "4", "--loss", "stcd", "--out", tmp_path / "student", *SMALL_RUN)
    assert student.exit_code == 0, student.output
    distilled = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert list(distilled["test"]) == ["1wk", "3wk", "4wk"]


def test_a_35_step_series(tmp_path):
    counts, weights = weekly_count_files(tmp_path, num_nodes=5, num_steps=35)
    small = run("train", "--dataset", counts, "--graph", weights, "--graph-kind", "weight",
                "--model", "gconvgru", "--hidden", "4", "--in-steps", "3", "--out-steps", "1",
                "--split", "0.6/0.2/0.2", "--out", tmp_path / "small", *SMALL_RUN)
    assert small.exit_code == 0, small.output
    default = run("train", "--dataset", counts, "--graph", weights, "--graph-kind", "weight",
                  "--split", "0.6/0.2/0.2", "--out", tmp_path / "default", *SMALL_RUN)
    lines = [line for line in default.output.splitlines() if line.startswith("Error")]
    assert default.exit_code == 2 and len(lines) == 1
    assert "this split needs at least 104 steps" in lines[0]
    assert "exactly 0, which --missing zero" in default.output  # true zeros: a warning


@settings(max_examples=15, deadline=None)
@given(shares=st.sampled_from(["0.6/0.2/0.2", "0.7/0.1/0.2", "0.5/0.25/0.25", "0.8/0.1/0.1"]),
       n_in=st.integers(2, 12), n_out=st.integers(1, 9))
def test_the_minimum_length_named_is_the_boundary(shares, n_in, n_out):
    from pygkd.data import TrafficData
    from pygkd.data.windows import ForecastDataset, minimum_steps

    needed = minimum_steps(shares, n_in + n_out, None)

    def data(steps):
        rng = np.random.default_rng(0)
        return TrafficData("s", 50 + rng.normal(0, 1, (steps, 3)), np.ones((3, 3)) - np.eye(3),
                           steps_per_day=None, minutes_per_step=None, default_split=shares)

    ForecastDataset.from_traffic(data(needed), n_in=n_in, n_out=n_out)  # enough
    with pytest.raises(InputError, match=f"this split needs at least {needed} steps"):
        ForecastDataset.from_traffic(data(needed - 1), n_in=n_in, n_out=n_out)


def test_explicit_step_wins_and_missing_policies(tmp_path):
    stamps = pd.date_range("2024-01-01", periods=96, freq="5min")
    values = np.full((96, 3), 40.0)
    values[10, 1] = 0.0
    values[20, 2] = np.nan
    frame = pd.DataFrame(values, columns=["a", "b", "c"], index=stamps)
    frame.index.name = "timestamp"
    frame.to_csv(tmp_path / "s.csv")
    np.savetxt(tmp_path / "g.csv", np.ones((3, 3)) - np.eye(3), delimiter=",")
    options = {"graph": str(tmp_path / "g.csv"), "graph_kind": "weight"}
    base = dict(split="0.5/0.25/0.25", n_in=4, n_out=2)
    inferred = load_forecast_dataset(str(tmp_path / "s.csv"), options=dict(options), **base)
    assert inferred.minutes_per_step == 5 and inferred.steps_per_day == 288
    told = load_forecast_dataset(str(tmp_path / "s.csv"), options=dict(options), step="10min",
                                 **base)
    assert told.minutes_per_step == 10 and horizon_label(2, told.minutes_per_step) == "20min"
    per_day = load_forecast_dataset(str(tmp_path / "s.csv"),
                                    options={**options, "steps_per_day": 24}, **base)
    assert per_day.minutes_per_step == 60 and per_day.steps_per_day == 24
    zero = load_forecast_dataset(str(tmp_path / "s.csv"), options=dict(options), **base)
    nan = load_forecast_dataset(str(tmp_path / "s.csv"), options=dict(options),
                                missing="nan", **base)
    assert float(zero.scaler.inverse(zero.series)[10, 1]) == pytest.approx(40.0)  # filled
    assert float(nan.scaler.inverse(nan.series)[10, 1]) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(InputError, match="--missing none fills nothing"):
        load_forecast_dataset(str(tmp_path / "s.csv"), options=dict(options), missing="none",
                              **base)
    with pytest.raises(InputError, match="fractions 'train/val/test' summing to 1"):
        load_forecast_dataset(str(tmp_path / "s.csv"), options=dict(options),
                              split="0.5/0.2/0.2")
    with pytest.raises(InputError, match="--step: 'synthetic' knows its sampling step"):
        load_forecast_dataset("synthetic", step="7D")


def test_default_horizons_and_labels():
    assert default_horizons(4) == (1, 3, 4) and default_horizons(1) == (1,)
    assert [horizon_label(s, 60.0) for s in (1, 24, 48)] == ["1h", "24h", "48h"]
    assert [horizon_label(s, 1440.0) for s in (1, 7)] == ["1d", "7d"]
    assert horizon_label(1, 0.5) == "30s"
