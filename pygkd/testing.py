"""Small, fast factories for tests and doctests (shipped in the package, as PyG's ``testing``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from pygkd.data.synthetic import make_synthetic_network
from pygkd.data.windows import ForecastDataset

__all__ = ["toy_forecast_dataset", "toy_graph", "weekly_count_files"]


def toy_forecast_dataset(num_nodes: int = 6, seed: int = 0) -> ForecastDataset:
    """A 3-day synthetic dataset with 48 steps a day (28 windows a day), split 1/1/1."""
    data = make_synthetic_network(num_nodes=num_nodes, num_days=3, steps_per_day=48, seed=seed)
    return ForecastDataset.from_traffic(data, split="1/1/1")


def toy_graph(num_nodes: int = 5) -> tuple[Tensor, Tensor]:
    """A weighted, undirected ring with one chord: ``edge_index [2, E]``, ``edge_weight [E]``."""
    src = np.arange(num_nodes)
    dst = (src + 1) % num_nodes
    pairs = np.concatenate([np.stack([src, dst]), np.stack([dst, src]), [[0, 2], [2, 0]]], axis=1)
    edge_index = torch.from_numpy(pairs.astype(np.int64))
    weight = torch.linspace(0.5, 1.0, num_nodes).repeat(2)
    edge_weight = torch.cat([weight, torch.tensor([0.7, 0.7])])
    return edge_index, edge_weight


def weekly_count_files(folder: Path, num_nodes: int = 20, num_steps: int = 520,
                       seed: int = 0) -> tuple[Path, Path]:
    """A weekly count series of ``num_nodes`` regions (timestamps 7 days apart, a yearly
    season, a slow trend, Poisson noise, so true zeros) and a dense weight matrix between the
    regions, written as ``counts.csv`` and ``weights.csv`` in ``folder`` (nothing is fetched).

    Example:
        >>> import tempfile
        >>> counts, weights = weekly_count_files(Path(tempfile.mkdtemp()), num_steps=60)
        >>> frame = pd.read_csv(counts)
        >>> frame.shape, frame.columns[0], bool((frame.iloc[:, 1:] == 0).any().any())
        ((60, 21), 'week', True)
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weeks = np.arange(num_steps)
    position = rng.uniform(0, 1, size=(num_nodes, 2))
    base = rng.uniform(0.3, 6.0, num_nodes)
    season = 1 + 0.8 * np.sin(2 * np.pi * (weeks[:, None] / 52.18 + position[None, :, 0]))
    trend = 1 + 0.3 * weeks[:, None] / num_steps
    counts = rng.poisson(base[None, :] * season * trend)
    stamps = pd.date_range("2010-01-04", periods=num_steps, freq="7D")
    frame = pd.DataFrame(counts, columns=[f"region{i:02d}" for i in range(num_nodes)])
    frame.insert(0, "week", stamps.strftime("%Y-%m-%d"))
    frame.to_csv(folder / "counts.csv", index=False)
    distance = np.sqrt(((position[:, None, :] - position[None, :, :]) ** 2).sum(-1))
    weights = np.exp(-(distance / 0.3) ** 2)
    np.fill_diagonal(weights, 0.0)
    np.savetxt(folder / "weights.csv", weights, delimiter=",", fmt="%.6f")
    return folder / "counts.csv", folder / "weights.csv"
