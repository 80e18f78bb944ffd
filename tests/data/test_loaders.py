"""Loaders on small files written in each real format, plus the real Los-loop files."""

import numpy as np
import pandas as pd
import pytest

from pygkd.data import load_custom, load_dataset, load_los_loop, load_pems0x, load_pemsd7m
from pygkd.errors import InputError


def _distances(n, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 6000, size=(n, 2))
    return np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))


def write_pemsd7m(root, n=5, steps=288 * 3, zeros=True):
    rng = np.random.default_rng(1)
    speeds = rng.uniform(20, 70, size=(steps, n))
    if zeros:
        speeds[5, 1] = 0.0
    np.savetxt(root / f"V_{n}.csv", speeds, delimiter=",", fmt="%.18e")
    np.savetxt(root / f"W_{n}.csv", _distances(n), delimiter=",", fmt="%.18e")
    return speeds


def test_pemsd7m_format(tmp_path):
    speeds = write_pemsd7m(tmp_path)
    data = load_pemsd7m(tmp_path, sigma2=0.1)
    assert data.speeds.shape == (864, 5)
    assert np.allclose(data.speeds, speeds)
    assert data.missing_share == pytest.approx(1 / (864 * 5))
    expected = np.exp(-((_distances(5) / 1e4) ** 2) / 0.1)
    expected[expected < 0.5] = 0
    np.fill_diagonal(expected, 0)
    assert np.allclose(data.adjacency, expected)
    assert data.default_split == "34/5/5"


def test_pems08_format_speed_channel(tmp_path):
    rng = np.random.default_rng(2)
    raw = rng.uniform(0, 100, size=(288 * 4, 4, 3))
    np.savez(tmp_path / "PEMS08.npz", data=raw)
    (tmp_path / "PEMS08.csv").write_text("from,to,cost\r\n0,1,310.6\r\n1,2,4000\r\n2,3,500\r\n")
    data = load_dataset("pems08", tmp_path)
    assert np.allclose(data.speeds, raw[:, :, 2])
    w = data.adjacency
    assert w[0, 1] == w[1, 0] == pytest.approx(np.exp(-(0.03106**2) / 0.1))
    assert w[1, 2] == 0.0  # exp(-0.16 / 0.1) = 0.20 < epsilon = 0.5
    assert w[2, 3] == pytest.approx(np.exp(-(0.05**2) / 0.1))
    flow = load_pems0x(tmp_path / "PEMS08.npz", tmp_path / "PEMS08.csv", channel="flow")
    assert np.allclose(flow.speeds, raw[:, :, 0])


def test_los_loop_format(tmp_path):
    ids = ["773869", "767541", "767542"]
    speeds = np.array([[60.0, 55.0, 61.0]] * 288 * 3)
    pd.DataFrame(speeds, columns=ids).to_csv(tmp_path / "los_speed.csv", index=False)
    adj = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
    np.savetxt(tmp_path / "los_adj.csv", adj, delimiter=",")
    data = load_los_loop(tmp_path)
    assert data.sensor_ids == ids
    assert data.num_edges == 4 and data.adjacency[0, 0] == 0.0


def test_real_los_loop(shared_data):
    data = load_los_loop(shared_data)
    assert (data.num_nodes, data.num_steps, data.num_days) == (207, 2016, 7)
    assert data.num_edges == 2833 - 207  # nonzeros minus the unit diagonal
    assert data.missing_share == 0.0


def test_custom_with_timestamps_and_edge_list(tmp_path):
    stamps = pd.date_range("2024-01-01", periods=96 * 3, freq="15min")
    frame = pd.DataFrame({"timestamp": stamps, "a": 50.0, "b": 40.0, "c": np.nan})
    frame.loc[3, "c"] = 30.0
    frame.to_csv(tmp_path / "speeds.csv", index=False)
    (tmp_path / "edges.csv").write_text("from,to,cost\n0,1,1000\n1,2,2000\n")
    data = load_dataset(str(tmp_path / "speeds.csv"), graph=str(tmp_path / "edges.csv"))
    assert data.steps_per_day == 96 and data.minutes_per_step == 15
    assert data.sensor_ids == ["a", "b", "c"]
    assert data.adjacency[1, 0] == pytest.approx(np.exp(-0.01 / 0.1))


def test_custom_dense_weights_with_step_column(tmp_path):
    pd.DataFrame({"step": range(288 * 3), "x": 1.0, "y": 2.0}).to_csv(tmp_path / "s.csv",
                                                                      index=False)
    np.savetxt(tmp_path / "w.csv", np.array([[0, 0.7], [0.7, 0]]), delimiter=",")
    data = load_custom(tmp_path / "s.csv", tmp_path / "w.csv", graph_kind="weight")
    assert data.adjacency[0, 1] == 0.7
    assert data.steps_per_day is None and data.minutes_per_step is None  # step numbers: unknown


@pytest.mark.parametrize("case, message", [
    ("missing", "file not found"),
    ("nodes", "the graph has 3 nodes but .* has 2 sensors"),
    ("nonsquare", "expected a square distance matrix"),
    ("negative", "expected non-negative distances"),
    ("allnan", "have no valid reading"),
])
def test_custom_bad_input(tmp_path, case, message):
    speeds = pd.DataFrame({"a": [50.0] * 10, "b": [40.0] * 10})
    if case == "allnan":
        speeds["b"] = np.nan
    speeds.to_csv(tmp_path / "s.csv", index=False)
    matrix = {"nodes": np.ones((3, 3)), "nonsquare": np.ones((2, 3)),
              "negative": np.array([[0.0, -5.0], [-5.0, 0.0]])}.get(case, np.ones((2, 2)))
    np.savetxt(tmp_path / "g.csv", matrix, delimiter=",")
    graph = tmp_path / ("absent.csv" if case == "missing" else "g.csv")
    with pytest.raises(InputError, match=message):
        data = load_custom(tmp_path / "s.csv", graph, steps_per_day=3)
        from pygkd.data import ForecastDataset
        ForecastDataset.from_traffic(data, split="1/1/1")


def test_unknown_option_is_named():
    with pytest.raises(InputError, match="unknown option\\(s\\) \\['colour'\\]"):
        load_dataset("synthetic", colour="red")
