r"""Preprocessing of traffic speeds and road graphs (paper Sec. 4.1).

- Missing readings (zeros and NaNs) are filled by linear interpolation along time per sensor.
- Speeds are z-scored with the **training split's** mean and standard deviation (Eq. 15).
- Distances become a weighted adjacency through STGCN's Gaussian kernel (Eq. 16):

.. math::
    w_{ij} = \exp\left(-\frac{d_{ij}^2}{\sigma^2}\right) \text{ if that is } \ge \epsilon
    \text{ and } i \ne j, \text{ else } 0, \qquad d_{ij} = W_{ij} / 10000 \text{ (scaling)}.

The paper prints :math:`\sigma^2 = 10`; the STGCN reference code, whose accuracy the paper's
teacher matches, uses :math:`\sigma^2 = 0.1`, which is pygkd's default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from pygkd.errors import InputError

__all__ = [
    "interpolate_missing",
    "missing_mask",
    "MISSING_POLICIES",
    "ZScore",
    "gaussian_kernel_adjacency",
    "edge_list_to_matrix",
    "adjacency_to_edges",
    "check_distance_matrix",
    "check_weight_matrix",
]

logger = logging.getLogger(__name__)


#: Missing-value policies: ``zero`` (NaN and exact zeros are missing: traffic speeds, the
#: paper's), ``nan`` (only NaN: counts with true zeros), ``none`` (nothing; NaN is an error).
MISSING_POLICIES = ("zero", "nan", "none")


def missing_mask(speeds: np.ndarray, missing: str = "zero") -> np.ndarray:
    """``True`` where a reading is missing under the policy ``missing``.

    Example:
        >>> missing_mask(np.array([[1.0, 0.0], [np.nan, 2.0]])).tolist()
        [[False, True], [True, False]]
        >>> missing_mask(np.array([[1.0, 0.0], [np.nan, 2.0]]), "nan").tolist()
        [[False, False], [True, False]]
    """
    if missing not in MISSING_POLICIES:
        raise InputError(f"--missing: expected one of {', '.join(MISSING_POLICIES)} "
                         f"(got {missing!r})")
    if missing == "zero":
        return np.isnan(speeds) | (speeds == 0)
    if missing == "nan":
        return np.isnan(speeds)
    return np.zeros(speeds.shape, dtype=bool)


def interpolate_missing(
    speeds: np.ndarray, sensor_names: Sequence[str] | None = None, source: str = "speeds",
    missing: str = "zero",
) -> np.ndarray:
    """Fill missing readings by linear interpolation along time, per sensor.

    Readings before the first (after the last) valid one take that first (last) value.

    Args:
        speeds (np.ndarray): ``[steps, nodes]``.
        sensor_names (sequence of str, optional): names used in error messages.
        missing (str): what is missing: ``zero`` (NaN and 0, default), ``nan`` (NaN only;
            zeros are true readings), ``none`` (nothing is filled; NaN is an error).
        source (str): the file or option the speeds came from, for error messages.

    Raises:
        InputError: if a sensor has no valid reading at all.

    Example:
        >>> interpolate_missing(np.array([[0.0], [2.0], [np.nan], [6.0]]))[:, 0].tolist()
        [2.0, 2.0, 4.0, 6.0]
    """
    if speeds.ndim != 2:
        raise InputError(f"{source}: expected a [steps, sensors] table (got shape {speeds.shape})")
    values = speeds.astype(np.float64, copy=True)
    if missing == "none" and np.isnan(values).any():
        r, c = np.argwhere(np.isnan(values))[0]
        raise InputError(f"{source}: a reading is empty (row {r}, sensor column {c}) but "
                         "--missing none fills nothing; use --missing nan to interpolate it")
    values[missing_mask(values, missing)] = np.nan
    empty = np.flatnonzero(np.isnan(values).all(axis=0))
    if empty.size:
        names = [str(sensor_names[i]) if sensor_names is not None else str(i) for i in empty[:5]]
        more = f" and {empty.size - 5} more" if empty.size > 5 else ""
        raise InputError(
            f"{source}: sensor(s) {', '.join(names)}{more} have no valid reading (all missing); "
            "drop them from the speeds and the graph"
        )
    frame = pd.DataFrame(values).interpolate(method="linear", axis=0, limit_direction="both")
    return frame.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class ZScore:
    r"""Z-score normalisation :math:`z = (x - \mu) / \sigma` (Eq. 15) with fixed statistics.

    Example:
        >>> s = ZScore.fit(np.array([1.0, 3.0]))
        >>> s.mean, s.std, float(s.inverse(s.transform(np.array(5.0))))
        (2.0, 1.0, 5.0)
    """

    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray) -> ZScore:
        """Statistics of ``values`` (the training split); a constant series gets ``std = 1``."""
        std = float(np.std(values))
        return cls(mean=float(np.mean(values)), std=std if std > 0 else 1.0)

    def transform(self, x):  # type: ignore[no-untyped-def]
        """``(x - mean) / std`` for arrays and tensors."""
        return (x - self.mean) / self.std

    def inverse(self, z):  # type: ignore[no-untyped-def]
        """``z * std + mean`` for arrays and tensors."""
        return z * self.std + self.mean


def check_distance_matrix(matrix: np.ndarray, source: str) -> np.ndarray:
    """Validate a dense distance matrix: square, finite, non-negative."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InputError(f"{source}: expected a square distance matrix (got shape {matrix.shape})")
    if not np.isfinite(matrix).all():
        raise InputError(f"{source}: expected finite distances (found NaN or inf)")
    if (matrix < 0).any():
        i, j = np.argwhere(matrix < 0)[0]
        raise InputError(
            f"{source}: expected non-negative distances "
            f"(got {matrix[i, j]:g} at row {i}, column {j})"
        )
    off = ~np.eye(matrix.shape[0], dtype=bool)
    if matrix.shape[0] > 1 and not matrix[off].any():
        raise InputError(f"{source}: every distance between different sensors is zero (a "
                         "distance matrix needs the road distances; for weights use "
                         "graph_kind=weight, --graph-kind weight)")
    return matrix


def check_weight_matrix(matrix: np.ndarray, source: str) -> np.ndarray:
    """Validate a dense weighted adjacency: square, finite, non-negative."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InputError(f"{source}: expected a square adjacency matrix (got shape {matrix.shape})")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise InputError(f"{source}: expected finite, non-negative edge weights")
    return matrix


def gaussian_kernel_adjacency(
    distances: np.ndarray,
    sigma2: float = 0.1,
    epsilon: float = 0.5,
    scaling: bool = True,
    missing: np.ndarray | None = None,
) -> np.ndarray:
    r"""Weighted adjacency from distances by STGCN's thresholded Gaussian kernel (Eq. 16).

    Args:
        distances (np.ndarray): ``[N, N]`` distances (PeMS: metres).
        sigma2 (float): kernel width :math:`\sigma^2` (default: ``0.1``, as STGCN's code; the
            paper prints ``10``).
        epsilon (float): weights below this are dropped (default: ``0.5``).
        scaling (bool): divide distances by 10,000 first, as STGCN does (default: ``True``).
        missing (np.ndarray, optional): boolean ``[N, N]``, ``True`` where there is no road
            link at all (edge lists); those pairs get weight 0.

    Returns:
        np.ndarray: ``[N, N]`` weights in ``[epsilon, 1]`` or 0, zero diagonal.

    Example:
        >>> d = np.array([[0.0, 1000.0], [1000.0, 0.0]])
        >>> gaussian_kernel_adjacency(d, sigma2=0.1).round(4).tolist()
        [[0.0, 0.9048], [0.9048, 0.0]]
    """
    if sigma2 <= 0:
        raise InputError(f"sigma2: expected a positive kernel width (got {sigma2})")
    if not 0 <= epsilon < 1:
        raise InputError(f"epsilon: expected a threshold in [0, 1) (got {epsilon})")
    d = distances / 10000.0 if scaling else distances.astype(np.float64)
    weights = np.exp(-(d**2) / sigma2)
    weights[weights < epsilon] = 0.0
    if missing is not None:
        weights[missing] = 0.0
    np.fill_diagonal(weights, 0.0)
    return weights


def _node_positions(column: pd.Series, num_nodes: int, sensor_ids: Sequence[str] | None,
                    source: str, first_row: int = 2) -> np.ndarray:
    """Positions of an edge list's ``from`` / ``to`` column: sensor names (as in the speeds
    header) or 0-based integer positions."""
    names = column.astype(str).str.strip()
    index = {str(s).strip(): i for i, s in enumerate(sensor_ids or ())}
    if sensor_ids is not None and names.isin(list(index)).all():
        return names.map(index).to_numpy(dtype=np.int64)
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        unknown = bad & ~names.isin(list(index)).to_numpy()
        row = int(np.flatnonzero(unknown if unknown.any() else bad)[0])
        if sensor_ids is not None:
            raise InputError(f"{source}: row {row + first_row}: {names.iloc[row]!r} is not a "
                             f"sensor of the speeds header ({len(sensor_ids)} sensors) nor a "
                             "0-based position")
        raise InputError(f"{source}: expected node ids as 0-based integer positions "
                         f"(got {names.iloc[row]!r} at row {row + first_row})")
    values = values.astype(np.int64)
    if values.min(initial=0) < 0 or values.max(initial=0) >= num_nodes:
        row = int(np.flatnonzero((values < 0) | (values >= num_nodes))[0])
        raise InputError(
            f"{source}: expected node ids in 0..{num_nodes - 1} to match the speeds' "
            f"{num_nodes} sensors (got {values[row]} at row {row + first_row})")
    return values


def edge_list_to_matrix(
    frame: pd.DataFrame, num_nodes: int, source: str, symmetric: bool = True,
    sensor_ids: Sequence[str] | None = None, first_row: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense distances from a ``from,to,cost`` edge list whose ``from`` / ``to`` are sensor
    names (``sensor_ids``, the speeds header) or 0-based positions. Sensors that no edge
    touches are reported with a warning (they are forecast from their own history only), and
    so are edges given more than once (the last one's cost is used). ``first_row``: the file
    row of the frame's first edge, for messages.

    Returns:
        (distances, missing): ``[N, N]`` distances and a boolean mask of pairs with no edge.
    """
    cols = [str(c).strip().lower() for c in frame.columns]
    if len(cols) < 3:
        raise InputError(f"{source}: expected columns 'from,to,cost' (got {list(frame.columns)})")
    if len(frame) == 0:
        raise InputError(f"{source}: expected at least one 'from,to,cost' row (got none)")
    src = _node_positions(frame.iloc[:, 0], num_nodes, sensor_ids, source, first_row)
    dst = _node_positions(frame.iloc[:, 1], num_nodes, sensor_ids, source, first_row)
    cost = pd.to_numeric(frame.iloc[:, 2], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(cost).all():
        row = int(np.flatnonzero(~np.isfinite(cost))[0])
        raise InputError(f"{source}: expected finite numbers in 'cost' (got "
                         f"{frame.iloc[row, 2]!r} at row {row + first_row})")
    if (cost < 0).any():
        row = int(np.flatnonzero(cost < 0)[0])
        raise InputError(f"{source}: expected non-negative distances in 'cost' "
                         f"(got {cost[row]:g} at row {row + first_row})")
    _warn_repeated_edges(src, dst, cost, symmetric, sensor_ids, source, first_row)
    alone = np.setdiff1d(np.arange(num_nodes), np.concatenate([src, dst]))
    if alone.size:
        shown = ", ".join(str(sensor_ids[i] if sensor_ids is not None else i)
                          for i in alone[:5])
        logger.warning(f"{source}: {alone.size} of {num_nodes} sensors have no edge "
                       f"({shown}{', ...' if alone.size > 5 else ''}); they are forecast from "
                       "their own history only")
    distances = np.zeros((num_nodes, num_nodes))
    missing = np.ones((num_nodes, num_nodes), dtype=bool)
    distances[src, dst], missing[src, dst] = cost, False
    if symmetric:
        distances[dst, src], missing[dst, src] = cost, False
    return distances, missing


def _warn_repeated_edges(src: np.ndarray, dst: np.ndarray, cost: np.ndarray, symmetric: bool,
                         sensor_ids: Sequence[str] | None, source: str, first_row: int) -> None:
    """A warning for pairs given again (in either direction when ``symmetric``) with another
    cost: the last row's cost is used (the same cost twice is harmless and not reported)."""
    a, b = (np.minimum(src, dst), np.maximum(src, dst)) if symmetric else (src, dst)
    last: dict[tuple[int, int], tuple[int, float]] = {}
    repeats, first = 0, None
    for row, key in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        if key in last and last[key][1] != float(cost[row]):
            repeats += 1
            if first is None:
                first = (row, key, last[key][1])
        last[key] = (row, float(cost[row]))
    if first is None:
        return
    row, (i, j), before = first

    def name(k: int) -> str:
        return str(sensor_ids[k]) if sensor_ids is not None else str(k)
    kind = " or its reverse" if symmetric else ""
    logger.warning(f"{source}: {repeats} edge(s) repeat an earlier pair{kind} with another "
                   f"cost (first at row "
                   f"{row + first_row}: {name(i)} - {name(j)}, cost {before:g} then "
                   f"{cost[row]:g}); the last row's cost is used")


def adjacency_to_edges(adjacency: np.ndarray) -> tuple[Tensor, Tensor]:
    """``edge_index [2, E]`` (source, target) and ``edge_weight [E]`` of the nonzero entries.

    Example:
        >>> ei, ew = adjacency_to_edges(np.array([[0.0, 0.5], [0.25, 0.0]]))
        >>> ei.tolist(), ew.tolist()
        ([[0, 1], [1, 0]], [0.5, 0.25])
    """
    src, dst = np.nonzero(adjacency)
    edge_index = torch.from_numpy(np.stack([src, dst]).astype(np.int64))
    edge_weight = torch.from_numpy(adjacency[src, dst].astype(np.float32))
    return edge_index, edge_weight
