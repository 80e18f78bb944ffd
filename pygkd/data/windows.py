"""Day-based splits, forecast windows and batching to ``[B, T, N, C]`` tensors (paper Sec. 4.1).

A window is 12 input steps followed by 9 target steps, all inside one day, so no sample mixes
the end of one day with the start of the next. Samples are exposed as PyG Temporal's
``StaticGraphTemporalSignal`` (features ``[N, C, 12]``, targets ``[N, 9]``); training batches
are cut from the normalised series by one vectorised index, with no Python loop over snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pygkd.compat import static_graph_temporal_signal_class
from pygkd.data.preprocessing import ZScore, adjacency_to_edges, interpolate_missing
from pygkd.data.traffic import TrafficData
from pygkd.errors import InputError

__all__ = [
    "SPLITS",
    "parse_split",
    "ForecastDataset",
    "SignalBatcher",
    "window_starts",
]

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

    Build it with :meth:`from_traffic`. Inputs are ``[B, n_in, N, 1]`` z-scored speeds and
    targets ``[B, n_out, N]`` z-scored speeds; :attr:`scaler` turns them back to speeds.

    Args:
        series (Tensor): ``[steps, N]`` z-scored, interpolated speeds.
        edge_index (Tensor): ``[2, E]``; edge_weight (Tensor): ``[E]``.
        starts (dict): window start steps per split.
        scaler (ZScore): the training split's statistics.
    """

    name: str
    series: Tensor
    edge_index: Tensor
    edge_weight: Tensor
    starts: dict[str, Tensor]
    scaler: ZScore
    split_days: tuple[int, int, int]
    n_in: int = 12
    n_out: int = 9
    steps_per_day: int = 288
    minutes_per_step: int = 5
    sensor_ids: list[str] | None = None

    @classmethod
    def from_traffic(
        cls, data: TrafficData, split: str | None = None, n_in: int = 12, n_out: int = 9
    ) -> ForecastDataset:
        """Interpolate, split by days, z-score with training statistics, and index windows."""
        if n_in < 1 or n_out < 1:
            raise InputError(f"Expected n_in, n_out >= 1 (got {n_in}, {n_out})")
        days = parse_split(split or data.default_split, data.num_days)
        filled = interpolate_missing(data.speeds, data.sensor_ids, data.source)
        train_end = days[0] * data.steps_per_day
        scaler = ZScore.fit(filled[:train_end])
        series = torch.from_numpy(scaler.transform(filled).astype(np.float32))
        first = np.cumsum((0,) + days[:-1])
        starts = {
            name: torch.from_numpy(window_starts(f, d, data.steps_per_day, n_in + n_out))
            for name, f, d in zip(SPLITS, first, days, strict=False)
        }
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
        )

    @property
    def num_nodes(self) -> int:
        return int(self.series.size(1))

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
        return dataclasses.replace(
            self, series=self.series.to(device, dtype), edge_index=self.edge_index.to(device),
            edge_weight=self.edge_weight.to(device, dtype))

    def batch(self, split: str, index: Tensor) -> tuple[Tensor, Tensor]:
        """Windows ``index`` of ``split`` as ``(x [B, n_in, N, 1], y [B, n_out, N])``, on the
        series' device and in its dtype.

        One gather on the series: ``series[start + arange(n_in + n_out)]``.
        """
        start = self._starts(split)[index.cpu()].to(self.series.device)
        steps = start[:, None] + torch.arange(self.n_in + self.n_out, device=start.device)
        window = self.series[steps]  # [B, n_in + n_out, N]
        return window[:, : self.n_in, :, None], window[:, self.n_in :]

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

    def signal(self, split: str):  # type: ignore[no-untyped-def]
        """The windows of ``split`` as a PyG Temporal ``StaticGraphTemporalSignal``.

        Snapshot ``k`` has ``x`` of shape ``[N, 1, n_in]`` and ``y`` of shape ``[N, n_out]``,
        the layout of PyG Temporal's own traffic datasets (``METRLADatasetLoader``).
        """
        x, y = self.batch(split, torch.arange(self.num_samples(split)))
        features = x.permute(0, 2, 3, 1).cpu().numpy()  # [S, N, 1, n_in]
        targets = y.permute(0, 2, 1).cpu().numpy()  # [S, N, n_out]
        cls = static_graph_temporal_signal_class()
        return cls(
            self.edge_index.cpu().numpy(), self.edge_weight.cpu().numpy(), list(features),
            list(targets)
        )


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
        self.targets = torch.as_tensor(np.stack(signal.targets), dtype=torch.float32).transpose(
            1, 2
        )  # [S, H, N]

    def __len__(self) -> int:
        return int(self.features.size(0))

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        return self.features[index], self.targets[index]
