"""Loaders for the real file formats of the public datasets and for a user's own sensors.

=============  ==========================================================================
dataset        files
=============  ==========================================================================
PeMSD7(M)      ``V_228.csv`` (speeds, no header) and ``W_228.csv`` (distances, no header)
PEMS0X         ``PEMS08.npz`` (``data``: steps x nodes x [flow, occupancy, speed]) and the
               ``from,to,cost`` distance edge list ``PEMS08.csv``
Los-loop       ``los_speed.csv`` (header of sensor ids) and ``los_adj.csv`` (kernel weights)
your sensors   a speeds CSV (a timestamp or step column, then one column per sensor) and a
               ``from,to,cost`` edge list or a dense matrix of distances or weights
=============  ==========================================================================
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pygkd.data.preprocessing import (
    check_distance_matrix,
    check_weight_matrix,
    edge_list_to_matrix,
    gaussian_kernel_adjacency,
)
from pygkd.data.traffic import TrafficData
from pygkd.data.validate import (
    TimeAxis,
    check_graph,
    check_sensor_names,
    check_text_file,
    numeric_readings,
    read_time_axis,
)
from pygkd.errors import InputError

__all__ = ["load_pemsd7m", "load_pems0x", "load_los_loop", "load_custom", "PEMS_CHANNELS",
           "steps_since_monday"]

logger = logging.getLogger(__name__)

PathLike = str | Path
#: Channels of the PEMS0x ``.npz`` files (``data[..., channel]``).
PEMS_CHANNELS = {"flow": 0, "occupancy": 1, "speed": 2}
_TIME_COLUMNS = {"timestamp", "time", "date", "datetime", "step", "t"}


def _require(path: Path, hint: str = "") -> Path:
    if not path.is_file():
        raise InputError(f"{path}: file not found{hint}")
    return path


def _read_csv(path: Path, what: str, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv`` with a one-line error for an empty or malformed file."""
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the {what} file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not a readable {what} CSV ({first})") from None


def _all_numeric(cells: pd.DataFrame) -> bool:
    return bool(cells.apply(lambda c: pd.to_numeric(c, errors="coerce")).notna().all().all())


def _is_matrix(cells: pd.DataFrame, num_nodes: int) -> bool:
    """Whether a numeric 3-column graph file is a dense matrix rather than an edge list
    without header: square with 3 sensors, or rows that cannot be edges (node ids that are
    not positions, or nothing but self-loops)."""
    if not _all_numeric(cells):
        return False
    if cells.shape[0] != cells.shape[1]:
        ids = cells.iloc[:, :2].apply(pd.to_numeric).to_numpy()
        return bool(np.all(ids[:, 0] == ids[:, 1]))
    if num_nodes == cells.shape[0]:
        return True
    ids = cells.iloc[:, :2].apply(pd.to_numeric).to_numpy()
    return not (np.all(ids == np.round(ids)) and ids.min() >= 0 and ids.max() < num_nodes) \
        or bool(np.all(ids[:, 0] == ids[:, 1]))


def _read_matrix(path: Path, what: str) -> np.ndarray:
    try:
        frame = pd.read_csv(path, header=None)
        return frame.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: expected a numeric {what} CSV without header ({err})") from None


def load_pemsd7m(
    root: PathLike, sigma2: float = 0.1, epsilon: float = 0.5, num_nodes: int | None = None
) -> TrafficData:
    """PeMSD7(M) from ``V_{N}.csv`` and ``W_{N}.csv`` in ``root`` (STGCN, Yu et al. 2018).

    44 weekdays of 288 five-minute speeds (mph); split 34 / 5 / 5 days (paper Sec. 4.1).
    With ``num_nodes=None`` the one ``V_*.csv`` present is used.
    """
    root = Path(root)
    hint = " (get it with 'pygkd data download pemsd7m' or pass --data-dir)"
    if num_nodes is None:
        found = sorted(root.glob("V_*.csv"))
        if not found:
            raise InputError(f"{root / 'V_228.csv'}: file not found{hint}")
        speeds_path = found[0]
        suffix = speeds_path.stem.split("_", 1)[1]
    else:
        suffix = str(num_nodes)
        speeds_path = _require(root / f"V_{suffix}.csv", hint)
    dist_path = _require(root / f"W_{suffix}.csv", hint)
    speeds = _read_matrix(speeds_path, "speeds")
    distances = check_distance_matrix(_read_matrix(dist_path, "distance matrix"), str(dist_path))
    adjacency = gaussian_kernel_adjacency(distances, sigma2=sigma2, epsilon=epsilon)
    return TrafficData(
        name="pemsd7m",
        speeds=speeds,
        adjacency=adjacency,
        default_split="34/5/5",
        source=str(speeds_path),
        graph_source=str(dist_path),
        extra={"sigma2": sigma2, "epsilon": epsilon},
    )


def load_pems0x(
    npz_path: PathLike,
    edges_path: PathLike,
    channel: str | int = "speed",
    sigma2: float = 0.1,
    epsilon: float = 0.5,
    name: str | None = None,
) -> TrafficData:
    """PEMS03/04/07/08 (ASTGCN, Guo et al. 2019): ``.npz`` signals and a distance edge list.

    Args:
        npz_path: file with key ``data`` of shape ``[steps, nodes, channels]``.
        edges_path: ``from,to,cost`` CSV; the graph is made symmetric and the Gaussian kernel is
            applied to ``cost / 10000``.
        channel: ``"flow"``, ``"occupancy"``, ``"speed"`` or a channel index (default: speed):
            the forecast quantity. The other channels are kept as
            :attr:`~pygkd.data.TrafficData.channels` (by name, or ``channel<i>``), extra inputs
            for ``--inputs``.
    """
    npz_path, edges_path = _require(Path(npz_path)), _require(Path(edges_path))
    try:
        with np.load(npz_path, allow_pickle=False) as archive:
            if "data" not in archive:
                raise InputError(f"{npz_path}: expected an array 'data' (got {list(archive)})")
            data = archive["data"]
    except (OSError, ValueError) as err:
        raise InputError(f"{npz_path}: not a readable .npz file ({err})") from None
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise InputError(f"{npz_path}: expected 'data' as [steps, nodes, channels] "
                         f"(got {data.shape})")
    index = PEMS_CHANNELS.get(channel, channel) if isinstance(channel, str) else channel
    if not isinstance(index, int) or not 0 <= index < data.shape[2]:
        raise InputError(
            f"--channel: expected one of {sorted(PEMS_CHANNELS)} or an index below "
            f"{data.shape[2]} (got {channel!r})"
        )
    speeds = data[:, :, index].astype(np.float64)
    names = {i: n for n, i in PEMS_CHANNELS.items()}
    channels = {names.get(i, f"channel{i}"): data[:, :, i].astype(np.float64)
                for i in range(data.shape[2]) if i != index}
    distances, missing = edge_list_to_matrix(
        _read_csv(edges_path, "edge list"), speeds.shape[1], str(edges_path)
    )
    adjacency = gaussian_kernel_adjacency(distances, sigma2, epsilon, missing=missing)
    return TrafficData(
        name=name or npz_path.stem.lower(),
        speeds=speeds,
        adjacency=adjacency,
        default_split="0.6:0.2:0.2",
        source=str(npz_path),
        graph_source=str(edges_path),
        extra={"sigma2": sigma2, "epsilon": epsilon, "channel": channel},
        channels=channels,
    )


def load_los_loop(root: PathLike) -> TrafficData:
    """Los-loop (T-GCN, Zhao et al. 2019): 207 sensors, 7 days of five-minute speeds.

    ``los_adj.csv`` already holds kernel weights; it is used as the adjacency (diagonal
    dropped). Split 5 / 1 / 1 days.
    """
    root = Path(root)
    hint = " (get it with 'pygkd data download los-loop' or pass --data-dir)"
    speeds_path = _require(root / "los_speed.csv", hint)
    adj_path = _require(root / "los_adj.csv", hint)
    frame = _read_csv(speeds_path, "speeds")
    try:
        speeds = frame.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    except ValueError as err:
        raise InputError(f"{speeds_path}: expected numeric speeds below a header ({err})") from None
    adjacency = check_weight_matrix(_read_matrix(adj_path, "adjacency"), str(adj_path))
    return TrafficData(
        name="los-loop",
        speeds=speeds,
        adjacency=adjacency,
        default_split="5/1/1",
        sensor_ids=[str(c) for c in frame.columns],
        source=str(speeds_path),
        graph_source=str(adj_path),
    )


def _split_time_column(frame: pd.DataFrame, source: str, date_format: str | None = None,
                       step: str | None = None, missing: str = "zero"
                       ) -> tuple[pd.DataFrame, TimeAxis | None]:
    """Drop a leading timestamp / step column and check it
    (:func:`~pygkd.data.validate.read_time_axis`); ``None`` without a time column."""
    first = frame.columns[0]
    is_time = str(first).strip().lower() in _TIME_COLUMNS or not pd.api.types.is_numeric_dtype(
        frame[first]
    )
    if not is_time:
        return frame, None
    axis = read_time_axis(frame[first], source, date_format=date_format, step=step,
                          missing=missing)
    return frame.drop(columns=first), axis


def on_grid(values: np.ndarray, axis: TimeAxis | None) -> np.ndarray:
    """Rows ``[rows, N]`` placed on the time axis' regular grid ``[steps, N]``: the steps of
    its gaps become empty (NaN) readings."""
    if axis is None or axis.gaps == 0:
        return values
    grid = np.full((axis.length, *values.shape[1:]), np.nan)
    grid[axis.positions] = values
    return grid


def steps_since_monday(first: pd.Timestamp | None, minutes_per_step: float | None) -> int:
    """Steps from the start of a Monday to the timestamp ``first`` (``0`` when either is
    unknown), the phase of the calendar inputs.

    Example:
        >>> steps_since_monday(pd.Timestamp("2024-01-02 01:00"), 30.0)  # a Tuesday
        50
    """
    if first is None or not minutes_per_step:
        return 0
    since = first - first.normalize() + pd.Timedelta(days=first.dayofweek)
    return int(round(since.total_seconds() / 60.0 / minutes_per_step))


def load_custom(
    speeds_path: PathLike,
    graph_path: PathLike,
    graph_kind: str = "distance",
    sigma2: float = 0.1,
    epsilon: float = 0.5,
    scaling: bool = True,
    steps_per_day: int | None = None,
    name: str = "custom",
    step: str | None = None,
    missing: str = "zero",
    date_format: str | None = None,
) -> TrafficData:
    """Your own sensors: a speeds CSV and a graph file.

    Args:
        speeds_path: CSV with a header; an optional first column of timestamps (the sampling
            interval and steps per day are inferred) or step numbers, then one column per sensor.
        graph_path: either a ``from,to,cost`` edge list of distances (with or without a
            header; nodes are sensor names of the speeds header or 0-based column positions),
            or a dense ``[N, N]`` matrix without header.
        graph_kind: for a dense matrix, ``"distance"`` (apply the Gaussian kernel) or
            ``"weight"`` (use as the adjacency).
        steps_per_day: samples per day (wins over timestamps; five-minute data: 288).
        step: the sampling step, e.g. ``5min`` or ``7D`` (wins over timestamps and
            ``steps_per_day``). Without any of the three the step is unknown: horizons are
            named by step and windows run across days.
        missing: which readings are missing: ``zero`` (NaN and 0, default), ``nan`` (NaN
            only: counts with true zeros), ``none``.
        date_format: how to read the timestamps (``strftime`` codes, e.g. ``%d/%m/%Y %H:%M``);
            needed when dates read both day-first and month-first.

    The time column is checked (:func:`~pygkd.data.validate.read_time_axis`): repeated or
    decreasing times are an error; gaps become empty readings (a warning), which ``missing``
    fills.
    """
    speeds_path, graph_path = _require(Path(speeds_path)), _require(Path(graph_path))
    if graph_kind not in ("distance", "weight"):
        raise InputError(f"--graph-kind: expected 'distance' or 'weight' (got {graph_kind!r})")
    header = check_text_file(speeds_path, "speeds")
    check_sensor_names(header, str(speeds_path))
    frame = _read_csv(speeds_path, "speeds")
    if len(frame) == 0:
        raise InputError(f"{speeds_path}: expected rows of readings below the header (found "
                         f"none; header {', '.join(map(str, frame.columns[:4]))})")
    frame, axis = _split_time_column(frame, str(speeds_path), date_format, step, missing)
    if frame.shape[1] == 0:
        raise InputError(f"{speeds_path}: expected one column per sensor (found none)")
    speeds = on_grid(numeric_readings(frame, str(speeds_path)), axis)
    num_nodes = speeds.shape[1]
    sensor_ids = [str(c) for c in frame.columns]
    check_text_file(graph_path, "graph")
    cells = _read_csv(graph_path, "graph", header=None, dtype=str, keep_default_na=False)
    if cells.shape[1] == 3 and not _is_matrix(cells, num_nodes):
        has_header = not _all_numeric(cells.iloc[:1, 2:3])
        edges = cells.iloc[1:] if has_header else cells
        edges = edges.set_axis(["from", "to", "cost"], axis=1)
        distances, no_edge = edge_list_to_matrix(
            edges.reset_index(drop=True), num_nodes, str(graph_path), sensor_ids=sensor_ids,
            first_row=2 if has_header else 1)
        if graph_kind == "weight":
            logger.warning(f"{graph_path}: an edge list's costs are distances (the Gaussian "
                           "kernel is applied); --graph-kind applies to dense matrices")
        adjacency = gaussian_kernel_adjacency(distances, sigma2, epsilon, scaling, no_edge)
    else:
        matrix = _read_matrix(graph_path, "graph matrix")
        if matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] != num_nodes:
            raise InputError(f"{graph_path}: the graph has {matrix.shape[0]} nodes but "
                             f"{speeds_path} has {num_nodes} sensors; they must match")
        if graph_kind == "distance":
            check_distance_matrix(matrix, str(graph_path))
            adjacency = gaussian_kernel_adjacency(matrix, sigma2, epsilon, scaling)
        else:
            adjacency = check_weight_matrix(matrix, str(graph_path))
            check_graph(adjacency, str(graph_path), kind="weight")
    from pygkd.data.timing import parse_step, steps_per_day_of

    if steps_per_day is not None and steps_per_day < 1:
        raise InputError(f"--steps-per-day: expected a positive number (got {steps_per_day})")
    inferred = axis.minutes if axis is not None else None
    minutes = parse_step(step) if step is not None else \
        (1440.0 / steps_per_day if steps_per_day else inferred)
    per_day = steps_per_day_of(minutes) if step is not None or not steps_per_day \
        else steps_per_day
    return TrafficData(
        name=name,
        speeds=speeds,
        adjacency=adjacency,
        steps_per_day=per_day,
        minutes_per_step=minutes,
        missing=missing,
        sensor_ids=sensor_ids,
        source=str(speeds_path),
        graph_source=str(graph_path),
        start_offset=steps_since_monday(
            axis.first if axis is not None and isinstance(axis.first, pd.Timestamp) else None,
            minutes),
    )
