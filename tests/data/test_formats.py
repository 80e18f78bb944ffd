"""METR-LA / PEMS-BAY and LargeST formats, on small files written in those formats."""

import os
import pickle

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.data import load_dataset
from pygkd.errors import InputError

pytest.importorskip("h5py", reason="h5py is not installed (pip install 'pygkd[formats]')")
pytest.importorskip("tables", reason="writing pandas HDF test files needs PyTables")


def _speeds(n=4, steps=288 * 3, seed=0):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2012-03-01", periods=steps, freq="5min")
    values = 60 + rng.normal(0, 3, size=(steps, n))
    values[5, 1] = 0.0  # a missing reading, as in METR-LA
    return pd.DataFrame(values, index=index, columns=[f"77{i}" for i in range(n)])


def test_metr_la_files(tmp_path):
    frame = _speeds()
    frame.to_hdf(tmp_path / "metr-la.h5", key="df")
    ids = list(reversed(frame.columns))  # the graph's order differs from the table's
    adjacency = np.eye(4) + 0.5 * (np.ones((4, 4)) - np.eye(4))
    with open(tmp_path / "adj_mx.pkl", "wb") as handle:
        pickle.dump([ids, {s: i for i, s in enumerate(ids)}, adjacency.astype(np.float32)],
                    handle, protocol=2)
    data = load_dataset("metr-la", tmp_path)
    assert data.sensor_ids == ids and data.minutes_per_step == 5 and data.steps_per_day == 288
    assert np.allclose(data.speeds[:, 0], frame[ids[0]].to_numpy())
    assert data.default_split == "0.7/0.1/0.2" and data.num_edges == 12
    result = CliRunner().invoke(main, ["data", "info", "metr-la", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "605/86/173 steps" in result.output  # 70 / 10 / 20 % of 864 steps


def test_adj_mx_pickle_is_read_safely(tmp_path):
    class Exploit:
        def __reduce__(self):
            return os.system, ("echo pwned",)

    _speeds().to_hdf(tmp_path / "metr-la.h5", key="df")
    with open(tmp_path / "adj_mx.pkl", "wb") as handle:
        pickle.dump([["770"], {}, Exploit()], handle)
    with pytest.raises(InputError, match="refused to build posix.system"):
        load_dataset("metr-la", tmp_path)


def test_largest_files(tmp_path):
    frame = _speeds(n=5)
    frame.to_hdf(tmp_path / "ca_his_2019.h5", key="t")
    np.save(tmp_path / "ca_rn_adj.npy", np.ones((5, 5)) - np.eye(5))
    data = load_dataset(str(tmp_path / "ca_his_2019.h5"), graph=str(tmp_path / "ca_rn_adj.npy"))
    assert data.num_nodes == 5 and data.num_edges == 20 and data.minutes_per_step == 5
    np.save(tmp_path / "bad.npy", np.ones((3, 3)))
    with pytest.raises(InputError, match=r"an adjacency of shape \(3, 3\) for 5 sensors"):
        load_dataset(str(tmp_path / "ca_his_2019.h5"), graph=str(tmp_path / "bad.npy"))


def test_h5_time_axis_is_checked_as_csv_ones_are(tmp_path, caplog):
    frame = _speeds(n=3)
    ids = list(frame.columns)
    with open(tmp_path / "adj_mx.pkl", "wb") as handle:
        pickle.dump([ids, {s: i for i, s in enumerate(ids)}, np.ones((3, 3))], handle)
    frame.drop(frame.index[100:103]).to_hdf(tmp_path / "metr-la.h5", key="df")
    with caplog.at_level("WARNING", logger="pygkd"):
        data = load_dataset("metr-la", tmp_path)
    assert "3 step(s) missing in 1 gap(s)" in caplog.text
    assert data.num_steps == len(frame) and np.isnan(data.speeds[100:103]).all()
    repeated = frame.copy()
    repeated.index = repeated.index.insert(50, repeated.index[49])[:-1]
    repeated.to_hdf(tmp_path / "metr-la.h5", key="df")
    with pytest.raises(InputError, match="repeats at row 51"):
        load_dataset("metr-la", tmp_path)
