import numpy as np
import pandas as pd
import pytest

from pygkd.data.preprocessing import (
    ZScore,
    adjacency_to_edges,
    edge_list_to_matrix,
    gaussian_kernel_adjacency,
    interpolate_missing,
)
from pygkd.errors import InputError
from tests.conftest import shared_file


def test_interpolation_is_linear_and_fills_edges():
    speeds = np.array([[np.nan, 10.0], [4.0, 0.0], [0.0, 0.0], [8.0, 40.0], [np.nan, 50.0]])
    filled = interpolate_missing(speeds)
    assert filled[:, 0].tolist() == [4.0, 4.0, 6.0, 8.0, 8.0]
    assert filled[:, 1].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]


def test_all_missing_sensor_is_named():
    speeds = np.array([[1.0, np.nan], [2.0, 0.0]])
    with pytest.raises(InputError, match="sensor\\(s\\) b have no valid reading"):
        interpolate_missing(speeds, ["a", "b"])


def test_zscore_uses_given_statistics():
    scaler = ZScore.fit(np.array([2.0, 4.0, 6.0, 8.0]))
    assert scaler.mean == 5.0 and scaler.std == pytest.approx(np.sqrt(5.0))
    assert scaler.inverse(scaler.transform(np.array([11.0]))) == pytest.approx([11.0])


def test_gaussian_kernel_hand_computed():
    d = np.array([[0.0, 2000.0, 9000.0], [2000.0, 0.0, 1000.0], [9000.0, 1000.0, 0.0]])
    w = gaussian_kernel_adjacency(d, sigma2=0.1, epsilon=0.5)
    assert w[0, 1] == pytest.approx(np.exp(-0.04 / 0.1))  # 0.670
    assert w[1, 2] == pytest.approx(np.exp(-0.01 / 0.1))  # 0.905
    assert w[0, 2] == 0.0  # exp(-8.1) < 0.5
    assert np.diag(w).tolist() == [0.0, 0.0, 0.0]


def test_bad_kernel_parameters():
    with pytest.raises(InputError, match="sigma2"):
        gaussian_kernel_adjacency(np.zeros((2, 2)), sigma2=0)
    with pytest.raises(InputError, match="epsilon"):
        gaussian_kernel_adjacency(np.zeros((2, 2)), epsilon=1.5)


@pytest.mark.parametrize("sigma2, nonzero", [(0.1, 1664), (10.0, 44050)])
def test_pemsd7m_adjacency_counts(sigma2, nonzero):
    path = shared_file("W_228.csv")
    distances = pd.read_csv(path, header=None).to_numpy()
    w = gaussian_kernel_adjacency(distances, sigma2=sigma2)
    assert np.count_nonzero(w) == nonzero
    assert np.allclose(w, w.T)


def test_edge_list_symmetric_and_missing_mask():
    frame = pd.DataFrame({"from": [0, 1], "to": [1, 2], "cost": [5.0, 7.0]})
    dist, missing = edge_list_to_matrix(frame, 3, "e.csv")
    assert dist[1, 0] == 5.0 and dist[2, 1] == 7.0
    assert missing[0, 2] and not missing[0, 1]
    w = gaussian_kernel_adjacency(dist, missing=missing)
    assert w[0, 2] == 0.0 and w[0, 1] == pytest.approx(np.exp(-(5e-4) ** 2 / 0.1))


def test_edge_list_errors():
    with pytest.raises(InputError, match="non-negative"):
        edge_list_to_matrix(pd.DataFrame({"f": [0], "t": [1], "c": [-1.0]}), 2, "e.csv")
    with pytest.raises(InputError, match="node ids in 0..1"):
        edge_list_to_matrix(pd.DataFrame({"f": [0], "t": [5], "c": [1.0]}), 2, "e.csv")


def test_adjacency_to_edges_orientation():
    ei, ew = adjacency_to_edges(np.array([[0.0, 0.3, 0.0], [0.0, 0.0, 0.0], [0.9, 0.0, 0.0]]))
    assert ei.tolist() == [[0, 2], [1, 0]]
    assert ew.tolist() == pytest.approx([0.3, 0.9])
