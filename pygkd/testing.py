"""Small, fast factories for tests and doctests (shipped in the package, as PyG's ``testing``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pygkd.data.synthetic import make_synthetic_network
from pygkd.data.windows import ForecastDataset

__all__ = ["toy_forecast_dataset", "toy_graph"]


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
