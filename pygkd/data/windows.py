"""Splits, forecast windows and batching to ``[B, T, N, C]`` tensors (paper Sec. 4.1).

A window is ``n_in`` input steps followed by ``n_out`` target steps (the paper: 12 and 9).
Splits are whole days (``5/1/1``, the paper's) or fractions of the series (``0.7/0.1/0.2``).
With day splits of a series that has a day structure, windows stay inside one day, as in the
paper, so no sample mixes the end of one day with the start of the next; otherwise (fractional
splits, a step of a day or longer, no timestamps) they run through the split's steps.
Samples are exposed as PyG Temporal's ``StaticGraphTemporalSignal`` (features
``[N, C, n_in]``, targets ``[N, n_out]``); training batches are cut from the normalised series
by one vectorised index, with no Python loop over snapshots.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pygkd.compat import static_graph_temporal_signal_class
from pygkd.data.inputs import CALENDAR_INPUTS, calendar_input, check_inputs
from pygkd.data.preprocessing import (
    ZScore,
    adjacency_to_edges,
    interpolate_missing,
    missing_mask,
)
from pygkd.data.traffic import TrafficData
from pygkd.data.validate import (
    check_normalised,
    warn_constant_sensors,
    warn_empty_windows,
    warn_zero_share,
)
from pygkd.errors import InputError

__all__ = [
    "SPLITS",
    "parse_split",
    "split_bounds",
    "minimum_steps",
    "ForecastDataset",
    "SignalBatcher",
    "WindowDataset",
    "window_starts",
    "extra_input",
]

logger = logging.getLogger(__name__)

#: Split names, in day order.
SPLITS = ("train", "val", "test")


def parse_split(spec: str, num_days: int, option: str = "--split") -> tuple[int, int, int]:
    """Days per split from ``"train/val/test"`` day counts or ``"a:b:c"`` ratios.

    Ratios are turned into whole days (validation and test rounded, at least one day each;
    training gets the rest).

    Example:
        >>> parse_split("5/1/1", 7), parse_split("6:2:2", 62)
        ((5, 1, 1), (38, 12, 12))
    """
    text = str(spec).strip()
    counts = re.fullmatch(r"(\d+)\s*/\s*(\d+)\s*/\s*(\d+)", text)
    ratios = re.fullmatch(r"([\d.]+)\s*:\s*([\d.]+)\s*:\s*([\d.]+)", text)
    if counts:
        days = tuple(int(g) for g in counts.groups())
    elif ratios:
        try:
            parts = [float(g) for g in ratios.groups()]
        except ValueError:
            parts = [-1.0]
        if min(parts) < 0 or sum(parts) <= 0:
            raise InputError(f"{option}: expected non-negative ratios 'a:b:c' (got {spec!r})")
        total = sum(parts)
        val = max(1, round(num_days * parts[1] / total))
        test = max(1, round(num_days * parts[2] / total))
        days = (num_days - val - test, val, test)
    else:
        raise InputError(
            f"{option}: expected day counts 'train/val/test' like '5/1/1' or ratios like "
            f"'6:2:2' (got {spec!r})"
        )
    if min(days) < 1:
        raise InputError(f"{option}: every split needs at least one day (got {spec!r} -> {days})")
    if sum(days) > num_days:
        raise InputError(
            f"{option}: {spec!r} asks for {sum(days)} days but the data has only {num_days}"
        )
    return days  # type: ignore[return-value]


def split_bounds(spec: str, num_steps: int, steps_per_day: int | None,
                 option: str = "--split") -> tuple[list[tuple[int, int]], tuple[int, ...] | None]:
    """Step ranges ``[(start, end)]`` of train / val / test, and the days per split (``None``
    for a fractional split).

    ``"5/1/1"``: whole days (needs a day structure); ``"0.7/0.1/0.2"``: fractions of the
    series' steps, summing to 1; ``"6:2:2"``: ratios, of days when the series has a day
    structure, else of steps.

    Example:
        >>> split_bounds("0.7/0.1/0.2", 100, None)
        ([(0, 70), (70, 80), (80, 100)], None)
        >>> split_bounds("2/1/1", 96, 24)
        ([(0, 48), (48, 72), (72, 96)], (2, 1, 1))
    """
    text = str(spec).strip()
    parts = re.fullmatch(r"([\d.]+)\s*([/:])\s*([\d.]+)\s*\2\s*([\d.]+)", text)
    fractional = parts is not None and parts.group(2) == "/" and "." in text
    if parts is not None and (fractional or (parts.group(2) == ":" and not steps_per_day)):
        try:
            shares = [float(parts.group(i)) for i in (1, 3, 4)]
        except ValueError:
            shares = [-1.0]
        if min(shares) < 0 or sum(shares) <= 0 or (fractional and abs(sum(shares) - 1) > 1e-6):
            raise InputError(f"{option}: expected fractions 'train/val/test' summing to 1, like "
                             f"'0.7/0.1/0.2' (got {spec!r})")
        total = sum(shares)
        ends = [round(num_steps * sum(shares[: i + 1]) / total) for i in range(3)]
        bounds = list(zip([0, *ends[:2]], ends, strict=True))
        if any(end - start < 1 for start, end in bounds):
            raise InputError(f"{option}: {spec!r} leaves a split without steps "
                             f"({num_steps} steps in all)")
        return bounds, None
    if not steps_per_day:
        raise InputError(f"{option}: the series has no day structure (no timestamps, or a "
                         f"step of a day or longer); give fractions like '0.7/0.1/0.2' "
                         f"(got {spec!r})")
    days = parse_split(text, num_steps // steps_per_day, option)
    edges = np.cumsum((0, *days)) * steps_per_day
    return [(int(edges[i]), int(edges[i + 1])) for i in range(3)], days


def minimum_steps(spec: str, length: int, steps_per_day: int | None,
                  start: int = 1) -> int | None:
    """The fewest steps a series needs so that every part of the split ``spec`` holds one
    window of ``length`` steps (searched from ``start`` up, as :func:`split_bounds` rounds);
    ``None`` when no length up to 100 times the window's works (a split the series cannot
    take, such as days without a day structure).

    Example:
        >>> minimum_steps("0.7/0.1/0.2", 21, None)
        202
    """
    total = max(1, start)
    limit = total + 100 * length * (steps_per_day or 1)
    while total < limit:
        try:
            bounds, _ = split_bounds(spec, total, steps_per_day)
            if min(hi - lo for lo, hi in bounds) >= length:
                return total
        except InputError:
            pass
        total += 1
    return None


def range_starts(start: int, end: int, length: int, split: str = "split") -> np.ndarray:
    """Start steps of all windows of ``length`` steps inside ``[start, end)``.

    Example:
        >>> range_starts(10, 16, 4).tolist()
        [10, 11, 12]
    """
    if end - start < length:
        raise InputError(f"the {split} split has {end - start} steps, fewer than one window of "
                         f"{length} (input + output steps); the series needs more steps, or "
                         "smaller --in-steps / --out-steps")
    return np.arange(start, end - length + 1)


def extra_input(data: TrafficData, name: str, train_end: int, missing: str) -> np.ndarray:
    """The extra input channel ``name`` of ``data`` as ``[steps, N]``: a measured channel
    with its NaN interpolated (zeros kept; with ``missing='none'`` NaN is an error) and
    z-scored with the statistics of steps ``[0, train_end)``, or a calendar covariate."""
    if name not in data.channels:
        return calendar_input(name, data.num_steps, data.num_nodes, data.steps_per_day,
                              data.start_offset)
    filled = interpolate_missing(data.channels[name], data.sensor_ids,
                                 f"{data.source} ({name})",
                                 missing="none" if missing == "none" else "nan")
    return ZScore.fit(filled[:train_end]).transform(filled)


def window_starts(first_day: int, num_days: int, steps_per_day: int, length: int) -> np.ndarray:
    """Start steps of all windows of ``length`` steps that stay inside one day.

    Example:
        >>> window_starts(1, 2, steps_per_day=5, length=4).tolist()
        [5, 6, 10, 11]
    """
    per_day = steps_per_day - length + 1
    if per_day < 1:
        raise InputError(
            f"A day has {steps_per_day} steps, too few for windows of {length} steps"
        )
    days = np.arange(first_day, first_day + num_days)
    return (days[:, None] * steps_per_day + np.arange(per_day)[None, :]).reshape(-1)


@dataclass
class ForecastDataset:
    """A preprocessed dataset: normalised series, graph, and window starts per split.

    Build it with :meth:`from_traffic`. Inputs are ``[B, n_in, N, C]``: channel 0 the
    z-scored speeds (the forecast quantity), channels ``1 .. C-1`` the extra inputs
    :attr:`input_names` (:mod:`pygkd.data.inputs`); targets are ``[B, n_out, N]`` z-scored
    speeds; :attr:`scaler` turns them back to speeds.

    Args:
        series (Tensor): ``[steps, N]`` z-scored, interpolated speeds.
        extra_inputs (Tensor, optional): ``[steps, N, C - 1]`` the extra input channels
            (measured ones z-scored with the training part's statistics, calendar ones in
            ``[0, 1)``); ``None`` for speeds only.
        edge_index (Tensor): ``[2, E]``; edge_weight (Tensor): ``[E]``.
        starts (dict): window start steps per split.
        scaler (ZScore): the training split's statistics.
        files (tuple of str): the data files read (absolute paths), which checkpoints
            fingerprint.
    """

    name: str
    series: Tensor
    edge_index: Tensor
    edge_weight: Tensor
    starts: dict[str, Tensor]
    scaler: ZScore
    split_days: tuple[int, ...] | None
    n_in: int = 12
    n_out: int = 9
    steps_per_day: int | None = 288
    minutes_per_step: float | None = 5
    sensor_ids: list[str] | None = None
    horizons: tuple[int, ...] = (3, 6, 9)
    split_steps: tuple[tuple[int, int], ...] | None = None
    extra_inputs: Tensor | None = None
    input_names: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @classmethod
    def from_traffic(
        cls, data: TrafficData, split: str | None = None, n_in: int = 12, n_out: int = 9,
        horizons: tuple[int, ...] | None = None, missing: str | None = None,
        inputs: Sequence[str] = (),
    ) -> ForecastDataset:
        """Fill missing readings (``missing``: ``zero`` zeros and NaN, ``nan`` NaN only,
        ``none`` nothing; default: the dataset's), split, z-score with training statistics,
        and index windows of ``n_in + n_out`` steps. ``horizons``: the steps evaluated
        (default: 3 / 6 / 9 where they fit). ``inputs``: extra input channels, by name (the
        data's :attr:`~pygkd.data.TrafficData.channels`, ``time-of-day``, ``day-of-week``;
        a measured channel's NaN are interpolated, its zeros kept)."""
        from pygkd.data.timing import check_horizons, default_horizons

        if n_in < 1 or n_out < 1:
            raise InputError(f"--in-steps / --out-steps: expected >= 1 (got {n_in}, {n_out})")
        horizons = check_horizons(horizons, n_out) if horizons else default_horizons(n_out)
        spec = split or data.default_split
        policy = missing or data.missing
        warn_zero_share(data.speeds, data.source, policy)
        filled = interpolate_missing(data.speeds, data.sensor_ids, data.source, missing=policy)
        names = check_inputs(inputs, list(data.channels), data.source)
        for name in names:  # calendar inputs need a day structure: say so before anything else
            if name in CALENDAR_INPUTS:
                calendar_input(name, 1, data.num_nodes, data.steps_per_day, data.start_offset)
        try:
            bounds, days = split_bounds(spec, data.num_steps, data.steps_per_day)
        except InputError as err:
            if "leaves a split without steps" not in str(err):
                raise
            bounds, days = [(0, 0)] * 3, None
        length = n_in + n_out
        within = days is not None and data.steps_per_day is not None \
            and data.steps_per_day >= length and data.within_day_windows
        if not within and min(hi - lo for lo, hi in bounds) < length:
            needed = minimum_steps(spec, length, data.steps_per_day, data.num_steps)
            if needed is None:  # the split itself cannot work: its own message says why
                split_bounds(spec, data.num_steps, data.steps_per_day)
            shortest = min(hi - lo for lo, hi in bounds)
            raise InputError(
                f"{data.source}: {data.num_steps} steps are too few for windows of "
                f"{n_in} + {n_out} steps with the split {spec!r} (its shortest part has "
                f"{shortest} steps); this split needs at least {needed} steps, or give "
                "smaller --in-steps / --out-steps")
        train_end = bounds[0][1]
        scaler = ZScore.fit(filled[:train_end])
        normalised = scaler.transform(filled)
        check_normalised(normalised, data.source, data.sensor_ids, (scaler.mean, scaler.std))
        warn_constant_sensors(filled[:train_end], data.source, data.sensor_ids)
        series = torch.from_numpy(normalised.astype(np.float32))
        extra = [extra_input(data, name, bounds[0][1], missing or data.missing)
                 for name in names]
        extra_inputs = torch.from_numpy(np.stack(extra, axis=-1).astype(np.float32)) \
            if extra else None
        if within:
            assert days is not None and data.steps_per_day is not None
            per_day = data.steps_per_day - length + 1
            if length - 1 > 0.5 * data.steps_per_day:  # most steps never forecast first
                logger.warning(
                    f"{data.source}: windows stay inside one day (a split by days): with "
                    f"{data.steps_per_day} steps a day and windows of {n_in} + {n_out} steps, "
                    f"{per_day} window(s) start each day and their first forecast step is "
                    f"always step {n_in + 1}-{n_in + per_day} of the day, so the other steps "
                    "of the day are never forecast first; a split by fractions (--split "
                    "0.7/0.1/0.2) lets windows run across days")
            first = np.cumsum((0,) + days[:-1])
            starts = {name: torch.from_numpy(window_starts(f, d, data.steps_per_day, length))
                      for name, f, d in zip(SPLITS, first, days, strict=True)}
        else:
            starts = {name: torch.from_numpy(range_starts(lo, hi, length, name))
                      for name, (lo, hi) in zip(SPLITS, bounds, strict=True)}
        warn_empty_windows(missing_mask(data.speeds, policy), starts, n_in, data.source)
        edge_index, edge_weight = adjacency_to_edges(data.adjacency)
        return cls(
            name=data.name,
            series=series,
            edge_index=edge_index,
            edge_weight=edge_weight,
            starts=starts,
            scaler=scaler,
            split_days=days,
            n_in=n_in,
            n_out=n_out,
            steps_per_day=data.steps_per_day,
            minutes_per_step=data.minutes_per_step,
            sensor_ids=list(data.sensor_ids) if data.sensor_ids is not None else None,
            horizons=horizons,
            split_steps=tuple(bounds),
            extra_inputs=extra_inputs,
            input_names=tuple(names),
            files=data.files,
        )

    @classmethod
    def from_signal(cls, signal: Any, split: str = "0.7/0.1/0.2", step: str | None = None,
                    missing: str = "none", horizons: tuple[int, ...] | None = None,
                    name: str = "signal") -> ForecastDataset:
        """A dataset from a PyG Temporal ``StaticGraphTemporalSignal`` of sliding windows.

        Snapshot features are windows ``[N, F, T]`` (channel 0 is the forecast quantity,
        channels ``1 .. F-1`` extra inputs named ``channel1`` ...) or
        lags as features ``[N, L]`` (oldest first); targets are the next step ``[N]`` or
        steps ``[N, H]``. Consecutive snapshots must be windows one step apart of one series
        (as PyG Temporal's loaders make them); the series is rebuilt from them and split by
        ``split`` (fractions, default ``0.7/0.1/0.2``). Values are used as they are
        (``missing='none'``: nothing is interpolated) and z-scored with the training part's
        statistics. ``step`` (``5min``, ``7D``) names the horizons by duration.

        Example:
            >>> from pygkd.data import make_synthetic_network
            >>> raw = make_synthetic_network(num_nodes=6, num_days=3, steps_per_day=48)
            >>> signal = ForecastDataset.from_traffic(raw, "0.6/0.2/0.2").signal("train")
            >>> data = ForecastDataset.from_signal(signal, split="0.4/0.3/0.3")
            >>> data.n_in, data.n_out, data.num_nodes, data.horizons, data.series.shape[0]
            (12, 9, 6, (3, 6, 9), 86)
        """
        from pygkd.data.timing import parse_step, steps_per_day_of

        feats = [np.asarray(f, dtype=np.float64) for f in signal.features]
        targets = [np.asarray(t, dtype=np.float64) for t in signal.targets]
        if len(feats) < 2 or len(feats) != len(targets):
            raise InputError(f"signal: expected at least 2 snapshots with features and targets "
                             f"(got {len(feats)} and {len(targets)})")
        x = np.stack(feats)
        y = np.stack(targets)
        if x.ndim == 3:  # lags as features [S, N, L]
            x = x[:, :, None, :]
        if y.ndim == 2:  # the next step [S, N]
            y = y[:, :, None]
        if x.ndim != 4 or y.ndim != 3 or y.shape[:2] != x.shape[:2]:
            raise InputError(f"signal: expected features [N, F, T] or [N, L] and targets [N] or "
                             f"[N, H] (got {feats[0].shape} and {targets[0].shape})")
        window = x[:, :, 0, :]  # [S, N, T]
        slides = np.allclose(x[1:, :, :, :-1], x[:-1, :, :, 1:], equal_nan=True) and \
            np.allclose(window[1:, :, -1], y[:-1, :, 0], equal_nan=True)
        if not slides:
            raise InputError("signal: the snapshots are not sliding windows one step apart of "
                             "one series (snapshot k+1 must repeat snapshot k shifted by one "
                             "step, its last input being k's first target)")
        series = np.concatenate([window[0].T, window[1:, :, -1], y[-1].T])  # [T + S - 1 + H, N]
        # channels 1.. are extra inputs; their last H steps are never a window's input
        channels = {}
        for c in range(1, x.shape[2]):
            seen = np.concatenate([x[0, :, c].T, x[1:, :, c, -1]])  # [T + S - 1, N]
            tail = np.repeat(seen[-1:], y.shape[2], axis=0)
            channels[f"channel{c}"] = np.concatenate([seen, tail])
        nodes = series.shape[1]
        adjacency = np.zeros((nodes, nodes))
        index = np.asarray(signal.edge_index, dtype=np.int64)
        weight = np.ones(index.shape[1]) if signal.edge_weight is None else \
            np.asarray(signal.edge_weight, dtype=np.float64)
        pairs = index[0].astype(np.int64) * nodes + index[1]
        if len(np.unique(pairs)) < len(pairs):
            logger.warning(f"{name}: {len(pairs) - len(np.unique(pairs))} edge(s) of the "
                           "signal repeat an earlier (source, target) pair; their weights "
                           "are summed")
        np.add.at(adjacency, (index[0], index[1]), weight)
        minutes = parse_step(step) if step is not None else None
        data = TrafficData(name=name, speeds=series, adjacency=adjacency,
                           steps_per_day=steps_per_day_of(minutes), minutes_per_step=minutes,
                           default_split=split, missing=missing, source=name,
                           graph_source=f"{name} edges", channels=channels)
        return cls.from_traffic(data, split, n_in=window.shape[2], n_out=y.shape[2],
                                horizons=horizons, missing=missing, inputs=list(channels))

    @property
    def split_text(self) -> str:
        """The split for people: ``5/1/1 days`` or ``700/100/200 steps``."""
        if self.split_days is not None:
            return "/".join(str(d) for d in self.split_days) + " days"
        bounds = self.split_steps or ()
        return "/".join(str(hi - lo) for lo, hi in bounds) + " steps"

    @property
    def num_nodes(self) -> int:
        return int(self.series.size(1))

    @property
    def in_channels(self) -> int:
        """Input channels :math:`C` of a window: the forecast quantity and the extra inputs."""
        return 1 + len(self.input_names)

    def num_samples(self, split: str) -> int:
        return int(self._starts(split).numel())

    def _starts(self, split: str) -> Tensor:
        if split not in self.starts:
            raise KeyError(f"Unknown split {split!r} (choose from: {', '.join(SPLITS)})")
        return self.starts[split]

    @property
    def device(self) -> torch.device:
        return self.series.device

    def to(self, device: torch.device | None = None,
           dtype: torch.dtype | None = None) -> ForecastDataset:
        """A copy whose series and graph live on ``device`` (and whose series and edge weights
        have floating ``dtype``); batches are then cut on that device. Window starts stay on
        the CPU, where the shuffling happens."""
        import dataclasses

        device = self.series.device if device is None else torch.device(device)
        dtype = dtype or self.series.dtype
        if self.series.device == device and self.series.dtype == dtype:
            return self
        extra = None if self.extra_inputs is None else self.extra_inputs.to(device, dtype)
        return dataclasses.replace(
            self, series=self.series.to(device, dtype), edge_index=self.edge_index.to(device),
            edge_weight=self.edge_weight.to(device, dtype), extra_inputs=extra)

    def batch(self, split: str, index: Tensor) -> tuple[Tensor, Tensor]:
        """Windows ``index`` of ``split`` as ``(x [B, n_in, N, C], y [B, n_out, N])``, on the
        series' device and in its dtype (``C`` = :attr:`in_channels`).

        One gather on the series: ``series[start + arange(n_in + n_out)]``.
        """
        start = self._starts(split)[index.cpu()].to(self.series.device)
        steps = start[:, None] + torch.arange(self.n_in + self.n_out, device=start.device)
        window = self.series[steps]  # [B, n_in + n_out, N]
        x = window[:, : self.n_in, :, None]
        if self.extra_inputs is not None:
            x = torch.cat([x, self.extra_inputs[steps[:, : self.n_in]]], dim=-1)
        return x, window[:, self.n_in :]

    def future_inputs(self, split: str, index: Tensor, horizon: int) -> Tensor | None:
        """The extra inputs of the ``horizon`` steps after windows ``index`` of ``split``, as
        far as they are known when forecasting: ``[B, horizon, N, C - 1]`` with the calendar
        inputs' true values and the measured ones held at their last input value (no
        measured value of the forecast period is used); ``None`` without extra inputs."""
        if self.extra_inputs is None:
            return None
        start = self._starts(split)[index.cpu()].to(self.series.device)
        steps = start[:, None] + self.n_in + torch.arange(horizon, device=start.device)
        future = self.extra_inputs[steps.clamp_max(self.series.size(0) - 1)]
        held = self.extra_inputs[start + self.n_in - 1][:, None].expand_as(future)
        calendar = torch.tensor([name in CALENDAR_INPUTS for name in self.input_names],
                                device=future.device)
        return torch.where(calendar, future, held)

    def shuffled_order(self, split: str, generator: torch.Generator | None = None,
                       limit: int | None = None) -> Tensor:
        """A random order of the windows of ``split`` (on the CPU; the first ``limit``)."""
        order = torch.randperm(self.num_samples(split), generator=generator)
        return order if limit is None else order[:limit]

    def batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        limit: int | None = None,
        with_index: bool = False,
    ) -> Iterator[tuple[Tensor, ...]]:
        """Iterate over ``split`` in batches (the last may be smaller).

        Args:
            limit (int, optional): use only the first ``limit`` windows (after shuffling).
            with_index (bool): also yield the window indices ``[B]`` (for caches keyed by window).
        """
        if shuffle:
            order = self.shuffled_order(split, generator, limit)
        else:
            order = torch.arange(self.num_samples(split))[:limit]
        for i in range(0, order.numel(), batch_size):
            index = order[i : i + batch_size]
            x, y = self.batch(split, index)
            yield (x, y, index) if with_index else (x, y)

    def windows(self, split: str) -> WindowDataset:
        """The windows of ``split`` as a ``torch.utils.data.Dataset`` (:class:`WindowDataset`)
        for a ``DataLoader`` of your own."""
        return WindowDataset(self, split)

    def signal(self, split: str):  # type: ignore[no-untyped-def]
        """The windows of ``split`` as a PyG Temporal ``StaticGraphTemporalSignal``.

        Snapshot ``k`` has ``x`` of shape ``[N, C, n_in]`` and ``y`` of shape ``[N, n_out]``,
        the layout of PyG Temporal's own traffic datasets (``METRLADatasetLoader``).
        """
        x, y = self.batch(split, torch.arange(self.num_samples(split)))
        features = x.permute(0, 2, 3, 1).cpu().numpy()  # [S, N, C, n_in]
        targets = y.permute(0, 2, 1).cpu().numpy()  # [S, N, n_out]
        cls = static_graph_temporal_signal_class()
        return cls(
            self.edge_index.cpu().numpy(), self.edge_weight.cpu().numpy(), list(features),
            list(targets)
        )


class WindowDataset(torch.utils.data.Dataset):
    """The windows of one split as a ``torch.utils.data.Dataset``, for your own
    ``DataLoader`` (or a Lightning ``LightningDataModule``): item ``i`` is
    ``(x [T, N, C], y [H, N])``, and the default collate stacks a batch to
    ``(x [B, T, N, C], y [B, H, N])``, the tensors :meth:`ForecastDataset.batch` gives.

    Example:
        >>> from pygkd.testing import toy_forecast_dataset
        >>> loader = torch.utils.data.DataLoader(toy_forecast_dataset().windows("train"),
        ...                                      batch_size=4, shuffle=True)
        >>> x, y = next(iter(loader))
        >>> tuple(x.shape), tuple(y.shape)
        ((4, 12, 6, 1), (4, 9, 6))
    """

    def __init__(self, data: ForecastDataset, split: str) -> None:
        self.data, self.split = data, split
        data.num_samples(split)  # an unknown split fails here

    def __len__(self) -> int:
        return self.data.num_samples(self.split)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} of {len(self)} in split {self.split!r}")
        x, y = self.data.batch(self.split, torch.tensor([index % len(self)]))
        return x[0], y[0]


class SignalBatcher:
    """Vectorised batches ``(x [B, T, N, C], y [B, H, N])`` from a ``StaticGraphTemporalSignal``.

    The snapshots are stacked once at construction; every batch is then one index into the
    stacked tensors, with no Python loop over snapshots.

    Example:
        >>> from pygkd.testing import toy_forecast_dataset
        >>> signal = toy_forecast_dataset().signal("train")
        >>> x, y = SignalBatcher(signal).batch(torch.tensor([0, 3]))
        >>> tuple(x.shape), tuple(y.shape)
        ((2, 12, 6, 1), (2, 9, 6))
    """

    def __init__(self, signal) -> None:  # type: ignore[no-untyped-def]
        self.edge_index = torch.as_tensor(signal.edge_index, dtype=torch.long)
        self.edge_weight = torch.as_tensor(signal.edge_weight, dtype=torch.float32)
        feats = torch.as_tensor(np.stack(signal.features), dtype=torch.float32)  # [S, N, C, T]
        if feats.dim() == 3:
            feats = feats.unsqueeze(2)
        self.features = feats.permute(0, 3, 1, 2).contiguous()  # [S, T, N, C]
        targets = torch.as_tensor(np.stack(signal.targets), dtype=torch.float32)
        if targets.dim() == 2:  # the next step only: [S, N]
            targets = targets.unsqueeze(-1)
        self.targets = targets.transpose(1, 2)  # [S, H, N]

    def __len__(self) -> int:
        return int(self.features.size(0))

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        return self.features[index], self.targets[index]
