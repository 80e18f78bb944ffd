"""Read a pandas HDF store (``DataFrame.to_hdf``) as numeric arrays, never unpickling.

``pandas.read_hdf`` goes through PyTables, which unpickles object columns and node
attributes on access, so a crafted ``.h5`` file runs code when it is read. This reader opens
the file with h5py, which has no pickle machinery, and rebuilds the table from its arrays:

- ``fixed`` stores (the default of ``to_hdf``; METR-LA, PEMS-BAY, LargeST): ``axis0`` (column
  labels), ``axis1`` (the index), ``block<i>_items`` and ``block<i>_values``;
- ``table`` stores (``format="table"``): one compound ``table`` dataset with an ``index``
  field and ``values_block_<i>`` fields; the column labels, which pandas keeps as a pickled
  list, are read with :class:`~pygkd.data.formats.SafeArrayUnpickler` (strings and numbers only).

A block of Python objects (what PyTables stores as a pickle), or any non-numeric block, is
refused in one line naming the file and key. Pickled attributes (pandas' ``freq``) are never
read.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pygkd.errors import InputError

__all__ = ["read_pandas_hdf"]


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _attr(node: Any, name: str) -> str:
    """A string attribute of an h5py node ('' when absent); raw bytes, never unpickled."""
    value = node.attrs.get(name)
    return "" if value is None or not isinstance(value, (bytes, np.bytes_, str)) \
        else _text(value)


def _numeric(node: Any, where: str) -> np.ndarray:
    """A dataset's values when they are numbers; a one-line refusal otherwise."""
    dtype = node.dtype
    if dtype.kind not in "biuf" or _attr(node, "CLASS") == "VLARRAY":
        kind = "Python objects (stored as a pickle)" if dtype.kind == "O" or \
            _attr(node, "PSEUDOATOM") == "object" else f"values of type {dtype}"
        raise InputError(f"{where}: holds {kind}; refused: pygkd reads numeric arrays only "
                         "(save the table with numeric columns)")
    return np.asarray(node[()])


def _labels(node: Any, where: str) -> list[str]:
    """Column labels: strings or integers, never objects."""
    dtype = node.dtype
    if dtype.kind in "SU":
        return [_text(v) for v in np.asarray(node[()]).reshape(-1)]
    if dtype.kind in "iu":
        return [str(int(v)) for v in np.asarray(node[()]).reshape(-1)]
    raise InputError(f"{where}: holds column labels of type {dtype} (stored as a pickle); "
                     "refused: pygkd reads string or integer labels only")


def _index(values: np.ndarray, kind: str, where: str) -> pd.Index:
    """The index from its stored integers: timestamps (``datetime64[unit]``) or numbers."""
    if kind.startswith("datetime64"):
        unit = kind[len("datetime64["):-1] if "[" in kind else "ns"
        try:
            return pd.DatetimeIndex(values.astype(f"datetime64[{unit}]"))
        except (TypeError, ValueError):
            raise InputError(f"{where}: an index of kind {kind!r} that is not readable") \
                from None
    if values.dtype.kind not in "biuf":
        raise InputError(f"{where}: holds an index of type {values.dtype}; refused: pygkd "
                         "reads timestamps or numbers only")
    return pd.Index(values)


def _fixed(group: Any, where: str) -> pd.DataFrame:
    for name in ("axis0", "axis1"):
        if name not in group:
            raise InputError(f"{where}: expected a pandas table (no {name!r} array)")
    columns = _labels(group["axis0"], f"{where}/axis0")
    axis1 = group["axis1"]
    index = _index(_numeric(axis1, f"{where}/axis1"), _attr(axis1, "kind"), f"{where}/axis1")
    blocks = int(np.asarray(group.attrs.get("nblocks", 0)))
    frame = pd.DataFrame(index=index)
    for i in range(blocks):
        items = _labels(group[f"block{i}_items"], f"{where}/block{i}_items")
        values = _numeric(group[f"block{i}_values"], f"{where}/block{i}_values")
        values = values.reshape(len(index), len(items))
        for j, item in enumerate(items):
            frame[item] = values[:, j]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{where}: column {missing[0]!r} has no values")
    return frame[columns]


def _pickled_labels(text: bytes, where: str) -> list[str]:
    from pygkd.data.formats import SafeArrayUnpickler

    try:
        loaded = SafeArrayUnpickler(io.BytesIO(text), encoding="latin1").load()
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    except Exception:  # noqa: BLE001 - any unreadable label list is a bad file
        raise InputError(f"{where}: unreadable column labels") from None
    if not isinstance(loaded, list):
        raise InputError(f"{where}: expected a list of column labels")
    return [str(v) for v in loaded]


def _table(group: Any, where: str) -> pd.DataFrame:
    table = group["table"]
    fields = table.dtype.names or ()
    if "index" not in fields:
        raise InputError(f"{where}: expected a pandas table with an 'index' column")
    rows = np.asarray(table[()])
    index = _index(np.asarray(rows["index"]), _attr(table, "index_kind"), f"{where}/index")
    frame = pd.DataFrame(index=index)
    for field in fields:
        if field == "index":
            continue
        sub = table.dtype[field]
        base = sub.base if sub.shape else sub
        if base.kind not in "biuf":
            raise InputError(f"{where}/{field}: holds values of type {base}; refused: pygkd "
                             "reads numeric arrays only")
        values = np.asarray(rows[field]).reshape(len(index), -1)
        raw = table.attrs.get(f"{field}_kind")
        labels = _pickled_labels(bytes(raw), f"{where}/{field}") \
            if isinstance(raw, (bytes, np.bytes_)) else [field]
        if len(labels) != values.shape[1]:
            raise InputError(f"{where}/{field}: {len(labels)} labels for {values.shape[1]} "
                             "columns")
        for j, label in enumerate(labels):
            frame[label] = values[:, j]
    return frame


def read_pandas_hdf(path: Path, key: str | None = None) -> pd.DataFrame:
    """The table of a pandas HDF store (rows: index, columns: labels), read as numeric arrays.

    Args:
        path: the ``.h5`` file.
        key: the store key (default: the one table in the file).

    Raises:
        InputError: the file is not a pandas HDF table, holds several tables and no ``key``
            was given, or a column, label or index holds Python objects (a pickle).

    Example:
        >>> import tempfile, warnings
        >>> folder = Path(tempfile.mkdtemp())
        >>> frame = pd.DataFrame({"a": [1.0, 2.0]}, index=pd.date_range("2024", periods=2))
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     frame.to_hdf(folder / "s.h5", key="df")
        >>> read_pandas_hdf(folder / "s.h5")["a"].tolist()
        [1.0, 2.0]
    """
    from pygkd.compat import require_extra

    require_extra("h5py", "formats", ".h5 speed files")
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file ({err})") from None
    with handle:
        tables = [name for name, node in handle.items()
                  if isinstance(node, h5py.Group) and _attr(node, "pandas_type")]
        if key is None:
            if len(tables) != 1:
                raise InputError(f"{path}: expected one pandas table (found "
                                 f"{', '.join(tables) or 'none'})")
            key = tables[0]
        if key not in tables:
            raise InputError(f"{path}: no pandas table {key!r} (found "
                             f"{', '.join(tables) or 'none'})")
        group = handle[key]
        where = f"{path} (key {key!r})"
        kind = _attr(group, "pandas_type")
        if kind == "frame":
            return _fixed(group, where)
        if kind == "frame_table" and "table" in group:
            return _table(group, where)
        raise InputError(f"{where}: expected a pandas DataFrame table (got {kind!r})")
