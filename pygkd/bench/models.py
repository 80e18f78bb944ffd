"""Model benchmark: teacher vs student (and pruning base) forward latency, parameters, FLOPs.

Measured side by side in one run on the same batch (the paper times a batch of 1,140 test
samples, mean of 100 runs; defaults here are smaller so it finishes in a minute on a laptop).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch

from pygkd.bench.timing import bench_device, bench_graph, time_call
from pygkd.data.preprocessing import adjacency_to_edges
from pygkd.nn.models.stgcn import PRESETS, STGCN
from pygkd.train.evaluate import count_flops, count_parameters

logger = logging.getLogger(__name__)

__all__ = ["bench_models"]


def bench_models(batch: int = 1140, repeats: int = 10, presets: Sequence[str] = ("teacher",
                 "pruning-base", "student"), sigma2: float = 0.1, w228: Path | None = None,
                 device: str = "cpu", data_dir: Path | None = None,
                 synthetic: bool = False) -> dict[str, dict[str, float]]:
    """Time one forward pass of each preset on the same ``[batch, 12, N, 1]`` input, on the
    PeMSD7(M) graph (:func:`~pygkd.bench.timing.bench_graph`)."""
    dev = bench_device(device)
    adjacency, graph = bench_graph("pemsd7m", data_dir, synthetic, sigma2, w228)
    edge_index, edge_weight = adjacency_to_edges(adjacency)
    n = adjacency.shape[0]
    x = torch.randn(batch, 12, n, 1, generator=torch.Generator().manual_seed(0)).to(dev)
    edge_index, edge_weight = edge_index.to(dev), edge_weight.to(dev)
    logger.info(f"{graph}: {n} nodes, {edge_index.size(1):,} edges; batch {batch}, mean of "
                f"{repeats} "
        f"runs, {torch.get_num_threads()} threads, device {dev}")
    results: dict[str, dict[str, float]] = {}
    for name in presets:
        torch.manual_seed(0)
        model = STGCN(n, PRESETS[name]).to(dev).eval().cache_graph(edge_index, edge_weight)
        with torch.no_grad():
            times = time_call(partial(model, x), repeats=repeats, device=dev)
        results[name] = {
            "parameters": count_parameters(model),
            "flops_per_sample": count_flops(model, x[:1], edge_index, edge_weight),
            "latency_s": sum(times) / len(times),
        }
    base = results[presets[0]]
    logger.info("")
    logger.info("| model | blocks | parameters | FLOPs / sample | latency (s) | params vs "
                f"{presets[0]} "
        f"| FLOPs vs {presets[0]} | latency vs {presets[0]} |")
    logger.info("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        logger.info(f"| {name} | {PRESETS[name]} | {r['parameters']:,} | "
                    f"{r['flops_per_sample']:,} | "
            f"{r['latency_s']:.3f} | {r['parameters'] / base['parameters']:.1%} | "
            f"{r['flops_per_sample'] / base['flops_per_sample']:.1%} | "
            f"{r['latency_s'] / base['latency_s']:.1%} |")
    return results
