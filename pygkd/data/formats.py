"""The formats users bring from DCRNN-era benchmarks: METR-LA / PEMS-BAY (``.h5`` speeds and
the ``adj_mx.pkl`` graph) and LargeST (``.h5`` speeds and an ``.npy`` / ``.npz`` adjacency).

The ``.h5`` files are pandas HDF stores (a table of sensors by timestamps); they are read as
numeric arrays with h5py (:func:`~pygkd.data.hdf5.read_pandas_hdf`, never ``pandas.read_hdf``,
which unpickles), from the ``formats`` extra (``pip install 'pygkd[formats]'``). ``adj_mx.pkl`` is a
pickle, so it is read with a restricted unpickler that builds only lists, dicts, strings,
numbers and NumPy arrays, never other objects (a pickle that names anything else is refused).
These benchmarks split by time (70 / 10 / 20 %), with windows that run across days, as DCRNN
does.
"""

from __future__ import annotations

import io  # noqa: F401  (doctests)
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pygkd.data.loaders import on_grid, steps_since_monday
from pygkd.data.preprocessing import check_weight_matrix
from pygkd.data.timing import steps_per_day_of
from pygkd.data.traffic import TrafficData
from pygkd.data.validate import read_time_axis
from pygkd.errors import InputError

__all__ = ["load_h5_speeds", "load_adj_mx", "load_metr_format", "load_largest",
           "SafeArrayUnpickler"]

#: Globals a graph pickle may name: NumPy's array and scalar reconstruction, nothing else.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles store array bytes as latin-1 text
    ("builtins", "list"), ("builtins", "dict"), ("builtins", "str"), ("builtins", "int"),
    ("builtins", "float"), ("builtins", "tuple"), ("__builtin__", "list"),
}


class SafeArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers, strings, numbers and NumPy arrays.

    Example:
        >>> data = pickle.dumps([["a", "b"], {"a": 0}, np.eye(2)])
        >>> SafeArrayUnpickler(io.BytesIO(data)).load()[2].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        >>> SafeArrayUnpickler(io.BytesIO(pickle.dumps(Path(".")))).load()
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: pickle: refused to build pathlib...
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise InputError(f"pickle: refused to build {module}.{name} (a graph pickle may hold "
                         "only lists, strings, numbers and NumPy arrays)")


def load_adj_mx(path: Path) -> tuple[list[str], np.ndarray]:
    """``(sensor_ids, adjacency [N, N])`` of a DCRNN ``adj_mx.pkl`` (a pickled
    ``[sensor_ids, sensor_id_to_ind, adj_mx]``, also Python 2 pickles), read safely."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: graph file not found")
    try:
        with open(path, "rb") as handle:
            loaded = SafeArrayUnpickler(handle, encoding="latin1").load()
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise InputError(f"{path}: not a readable adj_mx pickle ({type(err).__name__})") from None
    if not (isinstance(loaded, (list, tuple)) and len(loaded) == 3):
        raise InputError(f"{path}: expected [sensor_ids, sensor_id_to_ind, adj_mx] "
                         f"(got a {type(loaded).__name__})")
    ids, _, adjacency = loaded
    adjacency = np.asarray(adjacency, dtype=np.float64)
    if adjacency.ndim != 2 or adjacency.shape[0] != len(ids):
        raise InputError(f"{path}: {len(ids)} sensor ids but an adjacency of shape "
                         f"{adjacency.shape}")
    return [str(s) for s in ids], adjacency


def load_h5_speeds(path: Path) -> tuple[pd.DataFrame, float | None]:
    """The table of an ``.h5`` speed file (rows: timestamps, columns: sensors) and its
    sampling step in minutes (from the timestamps)."""
    from pygkd.data.hdf5 import read_pandas_hdf

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: speeds file not found")
    frame = read_pandas_hdf(path)
    if frame.shape[1] == 0:
        raise InputError(f"{path}: expected a table of sensors by timestamps")
    minutes = None
    if isinstance(frame.index, pd.DatetimeIndex) and len(frame.index) > 1:
        axis = read_time_axis(pd.Series(frame.index, name="index"), str(path), header_rows=0)
        minutes = axis.minutes
        if axis.gaps:  # the gaps' steps become empty readings
            grid = on_grid(frame.to_numpy(dtype=np.float64), axis)
            index = pd.date_range(axis.first, periods=axis.length, freq=axis.step)
            frame = pd.DataFrame(grid, index=index, columns=frame.columns)
    return frame, minutes


def _traffic(name: str, frame: pd.DataFrame, minutes: float | None, adjacency: np.ndarray,
             speeds_path: Path, graph_path: Path) -> TrafficData:
    return TrafficData(
        name=name, speeds=frame.to_numpy(dtype=np.float64),
        adjacency=check_weight_matrix(adjacency, str(graph_path)),
        steps_per_day=steps_per_day_of(minutes), minutes_per_step=minutes,
        default_split="0.7/0.1/0.2", sensor_ids=[str(c) for c in frame.columns],
        source=str(speeds_path), graph_source=str(graph_path),
        start_offset=steps_since_monday(
            frame.index[0] if isinstance(frame.index, pd.DatetimeIndex) else None, minutes))


def load_metr_format(speeds_path: Path, graph_path: Path, name: str = "metr-la"
                     ) -> TrafficData:
    """METR-LA / PEMS-BAY: ``metr-la.h5`` (or ``pems-bay.h5``) and ``adj_mx.pkl`` (kernel
    weights, used as the adjacency). The sensors are matched by id, in the pickle's order."""
    frame, minutes = load_h5_speeds(Path(speeds_path))
    ids, adjacency = load_adj_mx(Path(graph_path))
    columns = {str(c): c for c in frame.columns}
    missing = [s for s in ids if s not in columns]
    if missing:
        raise InputError(f"{graph_path}: {len(missing)} sensors of the graph are not in "
                         f"{speeds_path} (first {missing[0]!r})")
    frame = frame[[columns[s] for s in ids]]
    return _traffic(name, frame, minutes, adjacency, Path(speeds_path), Path(graph_path))


def load_largest(speeds_path: Path, graph_path: Path, name: str = "largest") -> TrafficData:
    """LargeST: an ``.h5`` speed table and an ``.npy`` adjacency (or an ``.npz`` with one
    array), sensors in the table's column order."""
    frame, minutes = load_h5_speeds(Path(speeds_path))
    graph_path = Path(graph_path)
    if not graph_path.is_file():
        raise InputError(f"{graph_path}: graph file not found")
    try:
        loaded = np.load(graph_path, allow_pickle=False)
        adjacency = loaded[loaded.files[0]] if isinstance(loaded, np.lib.npyio.NpzFile) \
            else loaded
    except (ValueError, OSError, IndexError) as err:
        raise InputError(f"{graph_path}: not a readable NumPy adjacency ({err})") from None
    adjacency = np.asarray(adjacency, dtype=np.float64)
    if adjacency.shape != (frame.shape[1], frame.shape[1]):
        raise InputError(f"{graph_path}: an adjacency of shape {adjacency.shape} for "
                         f"{frame.shape[1]} sensors in {speeds_path}")
    return _traffic(name, frame, minutes, adjacency, Path(speeds_path), graph_path)

