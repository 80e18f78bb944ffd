"""Spatial layer benchmark (issue: FastChebConv vs stock PyG ChebConv vs PyG Temporal's loop).

On the PeMSD7(M) graph as the paper prints it (``W_228.csv``, ``sigma2 = 10``: 44,050 directed
edges, 85 % dense), input ``[B, T, N, C] = [50, 10, 228, 32]``, one ``ChebConv(32, 32, K=3)``,
forward + backward:

1. :class:`~pygkd.nn.layers.FastChebConv` on ``[B, T, N, C]``; where it takes its
   channel-last path (a sparse graph, e.g. ``--sigma2 0.1``, and 16+ channels), also with that
   path switched off (:func:`~pygkd.nn.layers.spatial.row_path`), the node-major path;
2. stock ``ChebConv`` called once on ``[B*T, N, C]`` (same ``lambda_max``);
3. stock ``ChebConv`` called once per ``(b, t)`` slice, as PyG Temporal's ``STConv`` does.

All share weights; outputs and input gradients are compared.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch_geometric.nn import ChebConv

from pygkd.bench.timing import bench_graph, time_call
from pygkd.data.preprocessing import adjacency_to_edges
from pygkd.nn.layers import FastChebConv, scaled_laplacian
from pygkd.nn.layers.spatial import row_path

logger = logging.getLogger(__name__)

__all__ = ["bench_spatial"]


def _random_adjacency(n: int, density: float, seed: int = 0):  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(seed)
    upper = torch.triu((torch.rand(n, n, generator=g) < density).double(), 1)
    weights = torch.rand(n, n, generator=g, dtype=torch.float64) * upper
    return (weights + weights.T).numpy()


def bench_spatial(batch: int = 50, steps: int = 10, channels: int = 32, sigma2: float = 10.0,
                  w228: Path | None = None, repeats: int = 3, loop: bool = True,
                  stock: bool = True, device: str = "cpu", data_dir: Path | None = None,
                  synthetic: bool = False) -> dict[str, float]:
    """Run the spatial benchmark and print a side-by-side table; return the figures (on the
    PeMSD7(M) graph, or with ``synthetic`` a random 228-node graph of its density)."""
    if synthetic:
        adjacency = _random_adjacency(228, 0.85)
        graph = "SYNTHETIC random 228-node graph at 85 % density (--synthetic)"
    else:
        adjacency, graph = bench_graph("pemsd7m", data_dir, False, sigma2, w228)
    from pygkd.bench.timing import bench_device

    dev = bench_device(device)
    edge_index, edge_weight = (t.to(dev) for t in adjacency_to_edges(adjacency))
    n = adjacency.shape[0]
    _, lam = scaled_laplacian(edge_index, edge_weight, n)
    lam_t = torch.tensor(lam, device=dev)
    torch.manual_seed(0)
    fast = FastChebConv(channels, channels, K=3, cached=True).to(dev)
    ref = ChebConv(channels, channels, K=3).to(dev)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(batch, steps, n, channels).to(dev)
    logger.info(f"graph: {graph}: {n} nodes, {edge_index.size(1):,} directed edges "
                f"({edge_index.size(1) / (n * n):.0%} dense), lambda_max={lam:.4f}")
    logger.info(f"input [B, T, N, C] = [{batch}, {steps}, {n}, {channels}], ChebConv({channels}, "
                f"{channels}, K=3), forward + backward, {torch.get_num_threads()} thread(s)")

    def run_fast():
        xi = x.clone().requires_grad_(True)
        out = fast(xi, edge_index, edge_weight)
        out.sum().backward()
        return out, xi.grad

    def run_stock():
        xi = x.reshape(batch * steps, n, channels).clone().requires_grad_(True)
        out = ref(xi, edge_index, edge_weight, lambda_max=lam_t)
        out.sum().backward()
        assert xi.grad is not None
        return out.reshape(x.shape), xi.grad.reshape(x.shape)

    def run_loop():
        xi = x.clone().requires_grad_(True)
        outs = [ref(xi[b, t], edge_index, edge_weight, lambda_max=lam_t)
                for b in range(batch) for t in range(steps)]
        out = torch.stack(outs).reshape(x.shape)
        out.sum().backward()
        return out, xi.grad

    results: dict[str, float] = {"edges": float(edge_index.size(1))}
    run_fast()  # builds the cached operator
    op = fast.cached_operator
    assert op is not None
    channel_last = fast.takes_row_path(x, op)
    kind = "dense" if op.is_dense else "sparse"
    path = "channel-last" if channel_last else "node-major"
    if channel_last:  # the two paths alternately, best of each
        fast_times, node_major = [], []
        for _ in range(repeats):
            fast_times += time_call(run_fast, repeats=1, warmup=0)
            with row_path(False):
                node_major += time_call(run_fast, repeats=1, warmup=0)
    else:
        fast_times = time_call(run_fast, repeats=repeats)
    results["fast_s"] = min(fast_times)
    rows = [(f"FastChebConv ({path}, cached {kind} L)", results["fast_s"])]
    if channel_last:
        results["node_major_s"] = min(node_major)
        rows.append((f"FastChebConv (node-major, cached {kind} L)", results["node_major_s"]))
    if stock:
        results["stock_s"] = min(time_call(run_stock, repeats=1, warmup=0))
        rows.append(("stock ChebConv on [B*T, N, C]", results["stock_s"]))
    if loop:
        results["loop_s"] = min(time_call(run_loop, repeats=1, warmup=0))
        rows.append(("stock ChebConv per (b, t) slice (PyG-T STConv)", results["loop_s"]))
    # Equal outputs and input gradients, checked on two samples to keep it cheap.
    xs = x[:2].clone().requires_grad_(True)
    xr = x[:2].reshape(-1, n, channels).clone().requires_grad_(True)
    out_f, out_r = fast(xs, edge_index, edge_weight), ref(xr, edge_index, edge_weight,
                                                          lambda_max=lam_t)
    (out_f ** 2).sum().backward()
    (out_r ** 2).sum().backward()
    results["max_abs_diff"] = float((out_f.reshape(out_r.shape) - out_r).abs().max().detach())
    assert xs.grad is not None and xr.grad is not None
    results["max_grad_diff"] = float((xs.grad.reshape(xr.grad.shape) - xr.grad).abs().max())
    results["grad_scale"] = float(xr.grad.abs().max())
    logger.info("")
    logger.info("| implementation | forward+backward (s) | vs FastChebConv |")
    logger.info("|---|---:|---:|")
    for name, seconds in rows:
        logger.info(f"| {name} | {seconds:.3f} | {seconds / results['fast_s']:.1f}x |")
    logger.info(f"\nmax |FastChebConv - ChebConv|: output {results['max_abs_diff']:.2e}, "
                f"input gradient {results['max_grad_diff']:.2e} "
                f"(largest gradient {results['grad_scale']:.1f})")
    return results
