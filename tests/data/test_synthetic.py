import networkx as nx
import numpy as np
import pytest

from pygkd.data import make_synthetic_network
from pygkd.data.synthetic import make_road_graph
from pygkd.errors import InputError


def test_deterministic_for_a_seed():
    a = make_synthetic_network(num_nodes=12, num_days=3, seed=5)
    b = make_synthetic_network(num_nodes=12, num_days=3, seed=5)
    c = make_synthetic_network(num_nodes=12, num_days=3, seed=6)
    assert np.array_equal(a.speeds, b.speeds, equal_nan=True)
    assert np.array_equal(a.adjacency, b.adjacency)
    assert not np.array_equal(a.speeds, c.speeds, equal_nan=True)


def test_realistic_ranges_missing_and_rush_hours():
    data = make_synthetic_network(num_nodes=40, num_days=4, seed=0)
    assert 0.003 < data.missing_share < 0.05
    assert (data.speeds == 0).any() and np.isnan(data.speeds).any()
    speeds = np.where(data.speeds > 0, data.speeds, np.nan)
    by_hour = np.nanmean(speeds.reshape(4, 24, 12, 40), axis=(0, 2, 3))
    # rush hours (7-9 h and 16-19 h) are slower than the night (1-4 h)
    assert by_hour[7:9].mean() < by_hour[1:4].mean() - 3
    assert by_hour[16:19].mean() < by_hour[1:4].mean() - 3
    assert np.nanmin(speeds) < 30 and np.nanmax(speeds) < 81
    assert data.num_edges > 40 and np.allclose(data.adjacency, data.adjacency.T)


def test_congestion_reaches_upstream_sensors_later():
    data = make_synthetic_network(num_nodes=24, num_days=6, seed=0, missing_rate=0.0)
    rng = np.random.default_rng(0)
    graph = make_road_graph(24, rng)  # same first draws as the generator
    speeds = np.where(data.speeds > 0, data.speeds, np.nan)
    speeds = np.nan_to_num(speeds - np.nanmean(speeds, axis=0), nan=0.0)
    leads = []
    for up, down in graph.edges:
        if graph.nodes[up]["corridor"] != graph.nodes[down]["corridor"]:
            continue
        u, d = speeds[:, up], speeds[:, down]
        lag = 3
        downstream_first = np.corrcoef(d[:-lag], u[lag:])[0, 1]
        upstream_first = np.corrcoef(u[:-lag], d[lag:])[0, 1]
        leads.append(downstream_first - upstream_first)
    assert np.mean(leads) > 0.02


def test_road_graph_is_connected():
    graph = make_road_graph(40, np.random.default_rng(0))
    assert nx.is_weakly_connected(graph) and graph.number_of_nodes() == 40


def test_bad_arguments():
    with pytest.raises(InputError, match="num_nodes"):
        make_synthetic_network(num_nodes=2)
    with pytest.raises(InputError, match="num_days"):
        make_synthetic_network(num_days=1)
