"""Small timing helpers for the benchmarks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pygkd.data.download import default_data_dir
from pygkd.data.preprocessing import check_distance_matrix, gaussian_kernel_adjacency

__all__ = ["time_call", "BENCH_GRAPHS", "bench_graph", "pemsd7m_adjacency", "PeakMemory",
           "bench_device"]


def bench_device(device: str | None = "cpu"):  # type: ignore[no-untyped-def]
    """The :class:`torch.device` a benchmark runs on (``--device``)."""
    from pygkd.runtime.device import resolve_device

    return resolve_device(device or "cpu")


def _synchronizer(device: object | None) -> Callable[[], None]:
    import torch

    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


class PeakMemory:
    """Context manager sampling this process's resident memory every 0.5 ms (Linux
    ``/proc/self/statm``): :attr:`growth_mb` is the peak above the level at entry (``nan``
    where ``/proc`` is missing).

    Example (a fresh anonymous mapping, so its pages cannot be ones the allocator already
    holds):

        >>> import mmap
        >>> with PeakMemory() as mem:
        ...     block = mmap.mmap(-1, 50 * 2**20)
        ...     for start in range(0, len(block), 4096):
        ...         block[start] = 1  # touch every page, so it becomes resident
        >>> block.close()
        >>> mem.growth_mb > 40 or mem.growth_mb != mem.growth_mb
        True
    """

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.growth_mb = float("nan")
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int | None:
        try:
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * self._page
        except OSError:
            return None

    def __enter__(self) -> PeakMemory:
        self._base = self._rss()
        self._peak = self._base or 0
        self._done = threading.Event()
        if self._base is not None:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.is_set():
            self._peak = max(self._peak, self._rss() or 0)
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._base is not None:
            self._thread.join()
            self._peak = max(self._peak, self._rss() or 0)
            self.growth_mb = (self._peak - self._base) / 2**20


def time_call(fn: Callable[[], object], repeats: int = 3, warmup: int = 1,
              device: object | None = None) -> list[float]:
    """Wall times (seconds) of ``repeats`` calls after ``warmup`` untimed ones (on a CUDA
    ``device``, synchronised before and after each call)."""
    sync = _synchronizer(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


#: The real graphs the benchmarks time on: name -> (file in the data folder, sensors, what).
BENCH_GRAPHS = {"pemsd7m": ("W_228.csv", 228, "PeMSD7(M)"),
                "los-loop": ("los_adj.csv", 207, "Los-loop")}


def bench_graph(name: str, data_dir: Path | None = None, synthetic: bool = False,
                sigma2: float = 0.1, file: Path | None = None,
                offer_synthetic: bool = True) -> tuple[np.ndarray, str]:
    """The adjacency ``[N, N]`` of a benchmark's real graph (:data:`BENCH_GRAPHS`) and the
    words that name it in the benchmark's title.

    The file is ``file``, else ``<data_dir>/<file name>`` (default: the data folder,
    :func:`~pygkd.data.download.default_data_dir`); when it is absent the benchmark stops with
    an error saying where it looked. Only with ``synthetic`` does it time the built-in
    synthetic network of the same size instead, and the title says so (the error offers
    ``--synthetic`` when ``offer_synthetic``). PeMSD7(M) distances become kernel weights at
    ``sigma2``.
    """
    from pygkd.data.synthetic import make_synthetic_network
    from pygkd.errors import InputError

    filename, nodes, what = BENCH_GRAPHS[name]
    if synthetic:
        return (make_synthetic_network(num_nodes=nodes, num_days=3).adjacency,
                f"SYNTHETIC {nodes}-node graph (--synthetic; not the {what} graph)")
    path = Path(file) if file is not None else \
        (Path(data_dir) if data_dir is not None else default_data_dir()) / filename
    if not path.is_file():
        alternative = (f", or --synthetic to time a synthetic {nodes}-node graph instead"
                       if offer_synthetic else "")
        raise InputError(f"this benchmark times the {what} graph and needs {filename}: not "
                         f"found at {path}; give --data-dir DIR holding it{alternative}")
    if name == "pemsd7m":
        return pemsd7m_adjacency(path, sigma2), f"{what} graph ({path}, sigma2={sigma2})"
    return np.loadtxt(path, delimiter=","), f"{what} graph ({path})"


def pemsd7m_adjacency(path: Path, sigma2: float) -> np.ndarray:
    """PeMSD7(M) kernel weights ``[228, 228]`` from ``W_228.csv`` at kernel width ``sigma2``."""
    distances = np.loadtxt(path, delimiter=",")
    return gaussian_kernel_adjacency(check_distance_matrix(distances, str(path)), sigma2=sigma2)
