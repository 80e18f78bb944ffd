"""Small timing helpers for the benchmarks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from pygkd.data.download import default_data_dir
from pygkd.data.preprocessing import check_distance_matrix, gaussian_kernel_adjacency

__all__ = ["time_call", "find_w228", "pemsd7m_adjacency"]


def time_call(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> List[float]:
    """Wall times (seconds) of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def find_w228(path: Optional[Path] = None) -> Optional[Path]:
    """``W_228.csv`` from ``path``, the data folder, or a ``shared/data`` folder nearby."""
    candidates = [path] if path is not None else [
        default_data_dir() / "W_228.csv",
        Path.cwd() / "data" / "W_228.csv",
        Path.cwd().parent / "shared" / "data" / "W_228.csv",
    ]
    for candidate in candidates:
        if candidate is not None and Path(candidate).is_file():
            return Path(candidate)
    return None


def pemsd7m_adjacency(path: Path, sigma2: float) -> np.ndarray:
    """PeMSD7(M) kernel weights ``[228, 228]`` from ``W_228.csv`` at kernel width ``sigma2``."""
    distances = np.loadtxt(path, delimiter=",")
    return gaussian_kernel_adjacency(check_distance_matrix(distances, str(path)), sigma2=sigma2)
