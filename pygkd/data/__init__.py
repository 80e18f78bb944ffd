"""Traffic data: loaders for the real formats, a synthetic network, preprocessing, windows.

Example:
    >>> from pygkd.data import ForecastDataset, make_synthetic_network
    >>> ds = ForecastDataset.from_traffic(make_synthetic_network(num_nodes=8, num_days=3))
    >>> x, y = ds.batch("train", torch.arange(4))
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 12, 8, 1), (4, 9, 8))
"""

import torch  # noqa: F401  (used by the doctest above)

from pygkd.data.datasets import DATASETS, load_dataset, load_forecast_dataset
from pygkd.data.download import default_data_dir, download_dataset
from pygkd.data.loaders import load_custom, load_los_loop, load_pems0x, load_pemsd7m
from pygkd.data.preprocessing import (
    ZScore,
    adjacency_to_edges,
    gaussian_kernel_adjacency,
    interpolate_missing,
)
from pygkd.data.synthetic import make_synthetic_network
from pygkd.data.traffic import TrafficData
from pygkd.data.windows import (
    ForecastDataset,
    SignalBatcher,
    WindowDataset,
    parse_split,
    window_starts,
)

__all__ = [
    "DATASETS",
    "ForecastDataset",
    "SignalBatcher",
    "TrafficData",
    "WindowDataset",
    "ZScore",
    "adjacency_to_edges",
    "default_data_dir",
    "download_dataset",
    "gaussian_kernel_adjacency",
    "interpolate_missing",
    "load_custom",
    "load_dataset",
    "load_forecast_dataset",
    "load_los_loop",
    "load_pems0x",
    "load_pemsd7m",
    "make_synthetic_network",
    "parse_split",
    "window_starts",
]
classes = __all__
