"""The in-memory form of a traffic dataset: speeds per sensor and step, plus the road graph."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from pygkd.data.preprocessing import check_weight_matrix, missing_mask
from pygkd.data.validate import (
    check_graph,
    check_sensor_names,
    check_values,
    warn_negative,
)
from pygkd.errors import InputError

__all__ = ["TrafficData"]

logger = logging.getLogger(__name__)


@dataclass
class TrafficData:
    """Raw speeds and the weighted road graph of one network.

    Args:
        name (str): dataset name, shown in reports.
        speeds (np.ndarray): ``[steps, nodes]`` speeds; NaN or 0 marks a missing reading.
        adjacency (np.ndarray): ``[nodes, nodes]`` non-negative edge weights (kernel weights,
            not distances), zero diagonal.
        steps_per_day (int, optional): samples per day (288 for five-minute data); ``None``
            when the series has no day structure (a step of a day or longer, or unknown).
        minutes_per_step (float, optional): sampling step in minutes (``None``: unknown).
        missing (str): which readings are missing, ``zero`` (NaN and 0: traffic speeds, the
            paper's), ``nan`` (NaN only) or ``none``.
        within_day_windows (bool): with day splits, keep windows inside one day (the paper's
            windows; default ``True``).
        default_split (str): the split used when none is given, e.g. ``"34/5/5"``.
        sensor_ids (list of str, optional): sensor names, in column order.
        source (str): where the speeds came from, for error messages.
        channels (dict): other measured quantities per sensor and step, ``[steps, nodes]``
            each by name (PEMS08's ``flow`` and ``occupancy`` when speed is forecast), usable
            as extra input channels (``--inputs``); not forecast.
        start_offset (int): steps from the start of a Monday to the first step, for the
            calendar inputs (``0`` when the first timestamp is unknown).
    """

    name: str
    speeds: np.ndarray
    adjacency: np.ndarray
    steps_per_day: int | None = 288
    minutes_per_step: float | None = 5
    default_split: str = "0.7:0.15:0.15"
    missing: str = "zero"
    within_day_windows: bool = True
    sensor_ids: list[str] | None = None
    source: str = "speeds"
    graph_source: str = "graph"
    extra: dict = field(default_factory=dict)
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    start_offset: int = 0

    def __post_init__(self) -> None:
        if self.speeds.ndim != 2:
            raise InputError(
                f"{self.source}: expected a [steps, sensors] table (got shape {self.speeds.shape})"
            )
        if self.speeds.size == 0:
            raise InputError(f"{self.source}: expected readings (got an empty table of shape "
                             f"{self.speeds.shape})")
        if self.sensor_ids is not None:
            check_sensor_names(self.sensor_ids, self.source)
        check_values(self.speeds, self.source, self.sensor_ids)
        warn_negative(self.speeds, self.source, self.sensor_ids, self.missing)
        check_weight_matrix(self.adjacency, self.graph_source)
        check_graph(self.adjacency, self.graph_source, kind="kernel")
        if self.adjacency.shape[0] != self.speeds.shape[1]:
            raise InputError(
                f"{self.graph_source}: the graph has {self.adjacency.shape[0]} nodes but "
                f"{self.source} has {self.speeds.shape[1]} sensors; they must match"
            )
        if self.steps_per_day is not None and self.steps_per_day < 1:
            raise InputError(
                f"steps_per_day: expected a positive number (got {self.steps_per_day})")
        if self.sensor_ids is not None and len(self.sensor_ids) != self.num_nodes:
            raise InputError(
                f"{self.source}: {len(self.sensor_ids)} sensor ids for {self.num_nodes} columns"
            )
        for key, values in self.channels.items():
            if values.shape != self.speeds.shape:
                raise InputError(f"{self.source}: channel {key!r} has shape {values.shape}, "
                                 f"expected {self.speeds.shape} like the forecast quantity")
            check_values(values, f"{self.source} (channel {key!r})", self.sensor_ids)
        self.adjacency = self.adjacency.astype(np.float64, copy=True)
        np.fill_diagonal(self.adjacency, 0.0)

    @property
    def files(self) -> tuple[str, ...]:
        """The files the series and graph were read from (absolute paths; none for data made
        in memory)."""
        from pathlib import Path

        found = [str(Path(p).resolve()) for p in (self.source, self.graph_source)
                 if Path(p).is_file()]
        return tuple(dict.fromkeys(found))

    @property
    def num_nodes(self) -> int:
        return int(self.speeds.shape[1])

    @property
    def num_steps(self) -> int:
        return int(self.speeds.shape[0])

    @property
    def num_days(self) -> int:
        """Whole days in the series (a trailing partial day is not used; 0 without a day
        structure)."""
        return self.num_steps // self.steps_per_day if self.steps_per_day else 0

    @property
    def num_edges(self) -> int:
        """Directed edges: nonzero off-diagonal adjacency entries."""
        return int(np.count_nonzero(self.adjacency))

    @property
    def missing_share(self) -> float:
        """Share of readings that are missing (under :attr:`missing`) before interpolation."""
        return float(missing_mask(self.speeds, self.missing).mean())
