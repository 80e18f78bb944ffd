"""No reader of any format runs code: for every format pygkd reads, a file whose payload would
create a marker file is refused in one line, and the marker never appears."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.errors import InputError


class Payload:
    """Pickles to a call that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _speeds(n=3, steps=288 * 3):
    rng = np.random.default_rng(0)
    index = pd.date_range("2012-03-01", periods=steps, freq="5min")
    return pd.DataFrame(60 + rng.normal(0, 3, (steps, n)), index=index,
                        columns=[f"77{i}" for i in range(n)])


def _adj_mx(folder: Path, ids) -> None:
    with open(folder / "adj_mx.pkl", "wb") as handle:
        pickle.dump([list(ids), {s: i for i, s in enumerate(ids)},
                     np.ones((len(ids), len(ids)), dtype=np.float32)], handle, protocol=2)


def _h5_with_object_column(path: Path, marker: Path) -> None:
    pytest.importorskip("tables", reason="writing pandas HDF files needs PyTables")
    frame = _speeds()
    frame["evil"] = [Payload(marker)] * len(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PerformanceWarning: pickled object column
        frame.to_hdf(path, key="df")


def _h5_with_pickled_labels(path: Path, marker: Path) -> None:
    """A ``table`` store whose column labels (a pickled list pandas reads back) are a
    payload instead."""
    pytest.importorskip("tables", reason="writing pandas HDF files needs PyTables")
    h5py = pytest.importorskip("h5py")
    _speeds().to_hdf(path, key="t", format="table")
    with h5py.File(path, "r+") as handle:
        handle["t/table"].attrs["values_block_0_kind"] = np.bytes_(
            pickle.dumps(Payload(marker), protocol=0))


def _h5_with_pickled_freq(path: Path, marker: Path) -> None:
    """A fixed store whose index ``freq`` attribute (which PyTables unpickles on access)
    is a payload; the table itself is numeric and reads."""
    pytest.importorskip("tables", reason="writing pandas HDF files needs PyTables")
    h5py = pytest.importorskip("h5py")
    _speeds().to_hdf(path, key="df")
    with h5py.File(path, "r+") as handle:
        handle["df/axis1"].attrs["freq"] = np.bytes_(pickle.dumps(Payload(marker), protocol=0))


@pytest.mark.parametrize("writer", [_h5_with_object_column, _h5_with_pickled_labels])
def test_h5_payloads_are_refused(tmp_path, writer):
    marker = tmp_path / "marker"
    writer(tmp_path / "metr-la.h5", marker)
    _adj_mx(tmp_path, [f"77{i}" for i in range(3)])
    result = CliRunner().invoke(main, ["data", "info", "metr-la", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and "metr-la.h5" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not marker.exists()


def test_h5_pickled_attribute_is_never_read(tmp_path):
    marker = tmp_path / "marker"
    _h5_with_pickled_freq(tmp_path / "metr-la.h5", marker)
    _adj_mx(tmp_path, [f"77{i}" for i in range(3)])
    from pygkd.data import load_dataset

    data = load_dataset("metr-la", tmp_path)
    assert data.num_nodes == 3 and data.minutes_per_step == 5
    assert not marker.exists()


def test_npy_and_npz_payloads_are_refused(tmp_path):
    marker = tmp_path / "marker"
    pytest.importorskip("h5py")
    pytest.importorskip("tables", reason="writing pandas HDF files needs PyTables")
    _speeds().to_hdf(tmp_path / "ca.h5", key="t")
    objects = np.array([Payload(marker)] * 9, dtype=object).reshape(3, 3)
    np.save(tmp_path / "adj.npy", objects, allow_pickle=True)
    np.savez(tmp_path / "adj.npz", adj=objects)
    np.savez(tmp_path / "PEMS08.npz", data=objects[None])
    pd.DataFrame({"from": [0], "to": [1], "cost": [1.0]}).to_csv(tmp_path / "PEMS08.csv",
                                                                  index=False)
    from pygkd.data import load_dataset

    for graph in ("adj.npy", "adj.npz"):
        with pytest.raises(InputError, match="not a readable NumPy adjacency"):
            load_dataset(str(tmp_path / "ca.h5"), graph=str(tmp_path / graph))
    with pytest.raises(InputError, match="not a readable .npz file"):
        load_dataset("pems08", tmp_path)
    assert not marker.exists()


def test_adj_mx_payload_is_refused(tmp_path):
    marker = tmp_path / "marker"
    pytest.importorskip("h5py")
    pytest.importorskip("tables", reason="writing pandas HDF files needs PyTables")
    _speeds().to_hdf(tmp_path / "metr-la.h5", key="df")
    with open(tmp_path / "adj_mx.pkl", "wb") as handle:
        pickle.dump([["770"], {}, Payload(marker)], handle)
    from pygkd.data import load_dataset

    with pytest.raises(InputError, match="refused to build"):
        load_dataset("metr-la", tmp_path)
    assert not marker.exists()


def test_checkpoint_and_recipe_payloads_are_refused(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"format": "pygkd-checkpoint", "format_version": 2, "x": Payload(marker)},
               tmp_path / "model.pt")
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "model.pt")])
    assert result.exit_code == 2 and "not a readable pygkd checkpoint" in result.output
    (tmp_path / "r.yaml").write_text(f"seed: !!python/object/apply:os.system "
                                     f"['touch {marker}']\n")
    result = CliRunner().invoke(main, ["train", "--recipe", str(tmp_path / "r.yaml")])
    assert result.exit_code == 2, result.output
    assert not marker.exists()
