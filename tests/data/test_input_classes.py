"""The validation boundary, class by class: each test generates many inputs of its class
(Hypothesis strategies) and asserts one ``Error:`` line naming the place, a ``Warning:``
naming it, or the right result. Run through ``pygkd data info`` (the path training takes)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pygkd.cli import main
from pygkd.data import load_custom
from tests.conftest import one_error

CLASS = settings(max_examples=12, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])
SENSORS = ("a", "b", "c")
SMALL = ("--split", "0.5/0.25/0.25", "--in-steps", "6", "--out-steps", "3")
GRAPH = np.array([[0.0, 1000.0, 2000.0], [1000.0, 0.0, 1500.0], [2000.0, 1500.0, 0.0]])


def info(*args):
    return CliRunner().invoke(main, ["data", "info", *[str(a) for a in args]])


def warning(result, *fragments):
    assert result.exit_code == 0, result.output
    found = [line for line in result.output.splitlines() if line.startswith("Warning: ")
             and all(f in line for f in fragments)]
    assert found, (fragments, result.output)
    return found[0]


def write(folder: Path, frame: pd.DataFrame, graph: np.ndarray | None = None,
          name: str = "speeds.csv") -> tuple[Path, Path]:
    frame.to_csv(folder / name, index=False)
    graph_path = folder / "graph.csv"
    n = frame.shape[1] - (1 if str(frame.columns[0]) in ("timestamp", "step") else 0)
    matrix = GRAPH[:n, :n] if graph is None else graph
    np.savetxt(graph_path, matrix, delimiter=",")
    return folder / name, graph_path


def hourly(steps: int = 96, start: str = "2024-01-01", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(40 + rng.normal(0, 5, (steps, 3)).round(2), columns=list(SENSORS))
    frame.insert(0, "timestamp", pd.date_range(start, periods=steps, freq="1h").astype(str))
    return frame


def folder() -> Path:
    return Path(tempfile.mkdtemp())


# ------------------------------------------------------------------------------- time axis


@CLASS
@given(row=st.integers(1, 94), kind=st.sampled_from(["repeat", "back"]))
def test_repeated_or_decreasing_times_are_an_error_with_the_first_row(row, kind):
    frame = hourly()
    if kind == "repeat":
        frame.loc[row, "timestamp"] = frame.loc[row - 1, "timestamp"]
        message = "repeats at row"
    else:
        frame.loc[row, "timestamp"] = "2023-12-31 00:00:00"
        message = "goes back in time at row"
    speeds, graph = write(folder(), frame)
    one_error(info(speeds, "--graph", graph), message, f"row {row + 2}")


@CLASS
@given(start=st.integers(1, 80), length=st.integers(1, 10), step=st.sampled_from(["min", "d"]))
def test_gaps_warn_with_count_and_first_gap_and_become_missing_steps(start, length, step):
    frame = hourly(120)
    if step == "d":
        frame["timestamp"] = pd.date_range("2024-01-01", periods=120, freq="1D").astype(str)
    dropped = frame.drop(index=range(start, start + length)).reset_index(drop=True)
    speeds, graph = write(folder(), dropped)
    line = warning(info(speeds, "--graph", graph, "--split", "0.5/0.25/0.25", "--in-steps", "6",
                        "--out-steps", "3"), f"{length} step(s) missing in 1 gap(s)",
                   f"first after row {start + 1}", "linear interpolation")
    assert frame.loc[start - 1, "timestamp"] in line
    data = load_custom(speeds, graph)
    assert data.num_steps == 120  # the gap's steps are back, as missing readings
    assert np.isnan(data.speeds[start:start + length]).all()


@CLASS
@given(day=st.integers(1, 11), month=st.integers(1, 12), sep=st.sampled_from("/.-"))
def test_dates_that_read_both_ways_ask_for_a_date_format(day, month, sep):
    assume(day != month)
    stamps = pd.date_range(f"2024-{month:02d}-{day:02d}", periods=48, freq="1h")
    frame = hourly(48)
    frame["timestamp"] = [t.strftime(f"%d{sep}%m{sep}%Y %H:%M") for t in stamps]
    speeds, graph = write(folder(), frame)
    one_error(info(speeds, "--graph", graph), "read both day-first and month-first",
              "--date-format")
    fmt = f"%d{sep}%m{sep}%Y %H:%M"
    result = info(speeds, "--graph", graph, "--date-format", fmt, *SMALL)
    assert result.exit_code == 0, result.output
    assert load_custom(speeds, graph, date_format=fmt).start_offset == \
        (stamps[0].dayofweek * 24 + stamps[0].hour)


@CLASS
@given(day=st.integers(13, 28))
def test_dates_with_a_day_above_12_are_read_day_first(day):
    stamps = pd.date_range(f"2024-03-{day:02d}", periods=48, freq="1h")
    frame = hourly(48)
    frame["timestamp"] = [t.strftime("%d/%m/%Y %H:%M") for t in stamps]
    speeds, graph = write(folder(), frame)
    data = load_custom(speeds, graph)
    assert data.start_offset == stamps[0].dayofweek * 24 and data.minutes_per_step == 60


@CLASS
@given(offsets=st.lists(st.sampled_from(["+01:00", "+02:00", "-05:00", "Z"]), min_size=2,
                        max_size=4, unique=True))
def test_mixed_time_zones_are_one_line(offsets):
    frame = hourly(48)
    frame["timestamp"] = [f"2024-01-01T{h % 24:02d}:00:00{offsets[h % len(offsets)]}"
                          for h in range(48)]
    speeds, graph = write(folder(), frame)
    result = info(speeds, "--graph", graph)
    assert "Traceback" not in result.output and "Mixed timezones" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith(("Error", "Warn"))]
    assert lines and ("UTC offsets" in lines[0] or "off the regular grid" in lines[0]
                      or "goes back" in lines[0] or "repeats" in lines[0]), result.output


def test_naive_and_zoned_timestamps_mixed_are_an_error():
    frame = hourly(48)
    frame.loc[10, "timestamp"] = "2024-01-01 10:00:00+02:00"
    speeds, graph = write(folder(), frame)
    one_error(info(speeds, "--graph", graph), "with and without a time zone", "row 12")


@CLASS
@given(number=st.integers(1, 500))
def test_step_without_a_unit_names_step(number):
    speeds, graph = write(folder(), hourly(48))
    one_error(info(speeds, "--graph", graph, "--step", str(number)),
              f"--step {number}: {number} what?")


@CLASS
@given(step=st.sampled_from(["5min", "30min", "2h", "1D", "7D"]))
def test_step_disagreeing_with_the_timestamps_warns_naming_both(step):
    speeds, graph = write(folder(), hourly(96))
    warning(info(speeds, "--graph", graph, "--step", step, *SMALL), f"--step {step}", "(1h)",
            "own spacing")


# ---------------------------------------------------------------------------------- values


@CLASS
@given(row=st.integers(0, 95), col=st.integers(0, 2),
       value=st.sampled_from([np.inf, -np.inf, 1e20, -3e25, 1e30, 1e300]))
def test_infinite_or_overflowing_values_name_sensor_and_row(row, col, value):
    frame = hourly()
    frame.iloc[row, col + 1] = value
    speeds, graph = write(folder(), frame)
    one_error(info(speeds, "--graph", graph), f"row {row}", f"sensor '{SENSORS[col]}'")


@CLASS
@given(value=st.floats(1e10, 1e18), row=st.integers(72, 95), col=st.integers(0, 2))
def test_scale_that_overflows_after_normalisation_names_sensor_and_row(value, row, col):
    frame = hourly(96)
    wiggle = np.where(np.arange(96) % 2 == 0, 1.0, 1.0 + 1e-10)  # training std 5e-11
    for name in SENSORS:
        frame[name] = wiggle
    frame.iloc[row, col + 1] = value  # below float32's limit, far above it once normalised
    speeds, graph = write(folder(), frame)
    one_error(info(speeds, "--graph", graph, "--split", "0.5/0.25/0.25"),
              f"row {row}, sensor '{SENSORS[col]}'", "standard deviations from the training mean")


@CLASS
@given(cols=st.sets(st.integers(0, 2), min_size=1, max_size=2))
def test_constant_sensors_warn_by_name(cols):
    frame = hourly()
    for c in cols:
        frame[SENSORS[c]] = 42.0
    speeds, graph = write(folder(), frame)
    line = warning(info(speeds, "--graph", graph), "std 0")
    for c in cols:
        assert f"'{SENSORS[c]}'" in line


@CLASS
@given(start=st.integers(0, 33), length=st.integers(12, 30))
def test_windows_without_any_reading_warn(start, length):
    frame = hourly()
    frame.iloc[start:start + length, 1:] = np.nan
    speeds, graph = write(folder(), frame)
    warning(info(speeds, "--graph", graph, "--split", "0.5/0.25/0.25", "--in-steps", "12",
                 "--out-steps", "3"), "have no reading at all in their 12 input steps")


# --------------------------------------------------------------------------------- sensors


@CLASS
@given(names=st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=3, max_size=3))
def test_duplicate_sensor_names_are_an_error(names):
    assume(len(set(names)) < 3)
    frame = hourly()
    frame.columns = ["timestamp", *names]
    speeds, graph = write(folder(), frame)
    repeated = next(n for n in names if names.count(n) > 1)
    one_error(info(speeds, "--graph", graph), f"sensor name '{repeated}' repeats")


# ---------------------------------------------------------------------------------- graphs


@CLASS
@given(loops=st.lists(st.floats(0.0, 5.0), min_size=3, max_size=3))
def test_graphs_without_edges_between_sensors_are_an_error(loops):
    speeds, _ = write(folder(), hourly())
    graph = speeds.parent / "w.csv"
    np.savetxt(graph, np.diag(loops), delimiter=",")
    one_error(info(speeds, "--graph", graph, "--graph-kind", "weight"),
              "expected edges between different sensors")


@CLASS
@given(first=st.floats(100.0, 5000.0), second=st.floats(100.0, 5000.0),
       reverse=st.booleans())
def test_repeated_edges_with_another_cost_warn_last_wins(first, second, reverse):
    assume(abs(first - second) > 1)
    speeds, _ = write(folder(), hourly())
    again = ["b", "a"] if reverse else ["a", "b"]
    edges = pd.DataFrame([["a", "b", first], ["b", "c", 1000.0], [*again, second]],
                         columns=["from", "to", "cost"])
    edges.to_csv(speeds.parent / "e.csv", index=False)
    warning(info(speeds, "--graph", speeds.parent / "e.csv"), "repeat an earlier pair",
            "row 4", "the last row's cost is used")
    data = load_custom(speeds, speeds.parent / "e.csv")
    expected = np.exp(-((second / 10000) ** 2) / 0.1)
    assert data.adjacency[0, 1] == pytest.approx(expected if expected >= 0.5 else 0.0)


@CLASS
@given(by_name=st.booleans(), costs=st.lists(st.floats(100.0, 2000.0), min_size=2,
                                            max_size=2))
def test_edge_lists_without_a_header_keep_their_first_edge(by_name, costs):
    speeds, _ = write(folder(), hourly())
    ids = ["a", "b", "c"] if by_name else [0, 1, 2]
    rows = [[ids[0], ids[1], costs[0]], [ids[1], ids[2], costs[1]]]
    pd.DataFrame(rows).to_csv(speeds.parent / "bare.csv", index=False, header=False)
    pd.DataFrame(rows, columns=["from", "to", "cost"]).to_csv(speeds.parent / "head.csv",
                                                              index=False)
    bare = load_custom(speeds, speeds.parent / "bare.csv")
    head = load_custom(speeds, speeds.parent / "head.csv")
    assert np.array_equal(bare.adjacency, head.adjacency) and bare.adjacency[0, 1] > 0


@CLASS
@given(scale=st.floats(5.0, 1e5))
def test_weights_that_look_like_distances_warn(scale):
    speeds, _ = write(folder(), hourly())
    graph = speeds.parent / "w.csv"
    np.savetxt(graph, GRAPH / GRAPH.max() * scale, delimiter=",")
    warning(info(speeds, "--graph", graph, "--graph-kind", "weight"), "look like distances",
            "--graph-kind distance")


@CLASS
@given(unknown=st.text(alphabet="qrstuvxyz", min_size=1, max_size=6))
def test_unknown_names_in_an_edge_list_are_the_ones_named(unknown):
    speeds, _ = write(folder(), hourly())
    edges = pd.DataFrame([["a", "b", 100.0], ["b", unknown, 200.0]],
                         columns=["from", "to", "cost"])
    edges.to_csv(speeds.parent / "e.csv", index=False)
    line = one_error(info(speeds, "--graph", speeds.parent / "e.csv"), f"'{unknown}'",
                     "row 3")
    assert "'a'" not in line and "'b'" not in line


# --------------------------------------------------------------------------- file formats


@pytest.mark.parametrize("kind, fragment", [
    ("semicolon", "separated by semicolons"), ("tab", "separated by tabs"),
    ("utf16", "UTF-16"), ("xlsx", "Excel workbook"), ("latin1", "not UTF-8"),
])
def test_files_that_are_not_comma_separated_utf8_say_what_they_look_like(kind, fragment):
    data_dir = folder()
    frame = hourly()
    path = data_dir / "speeds.csv"
    if kind in ("semicolon", "tab"):
        frame.to_csv(path, index=False, sep=";" if kind == "semicolon" else "\t")
    elif kind == "utf16":
        frame.to_csv(path, index=False, encoding="utf-16")
    elif kind == "xlsx":
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    else:
        frame.rename(columns={"a": "stra\xdfe"}).to_csv(path, index=False, encoding="latin-1")
    graph = data_dir / "graph.csv"
    np.savetxt(graph, GRAPH, delimiter=",")
    line = one_error(info(path, "--graph", graph), fragment)
    assert "graph" not in line.split(":", 2)[1]  # the speeds file is named, not the graph


# ------------------------------------------------------------ defaults that misfit the data


@CLASS
@given(share=st.floats(0.3, 0.9), seed=st.integers(0, 100))
def test_mostly_zero_series_under_missing_zero_warn(share, seed):
    frame = hourly(96, seed=seed)
    rng = np.random.default_rng(seed)
    values = frame[list(SENSORS)].to_numpy().copy()
    values[rng.random(values.shape) < share] = 0.0
    values[:2] = 40.0  # every sensor keeps valid readings
    frame[list(SENSORS)] = values
    speeds, graph = write(folder(), frame)
    warning(info(speeds, "--graph", graph, *SMALL), "are exactly 0", "--missing nan")
    quiet = info(speeds, "--graph", graph, *SMALL, "--missing", "nan")
    assert "exactly 0" not in quiet.output


@CLASS
@given(n_in=st.integers(8, 12), n_out=st.integers(6, 9))
def test_day_windows_that_leave_most_of_the_day_unforecast_warn(n_in, n_out):
    speeds, graph = write(folder(), hourly(24 * 7))
    line = warning(info(speeds, "--graph", graph, "--split", "5/1/1", "--in-steps", str(n_in),
                        "--out-steps", str(n_out)), "windows stay inside one day")
    assert f"{24 - n_in - n_out + 1} window(s) start each day" in line
    assert "--split 0.7/0.1/0.2" in line
