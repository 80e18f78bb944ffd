"""Scale benchmark: graph operator build, training steps and a KD step with sampled ``L_SCD``
on synthetic networks of 228 to 8,600 sensors (LargeST's California size), side by side.

For each size the built-in synthetic network is generated with that many sensors and a batch
of ``[B, 12, N, 1]`` random windows is timed through:

- the graph operator (:class:`~pygkd.nn.layers.GraphOperator`, sparse from the edge list with
  an ARPACK :math:`\\lambda_{max}`) against the dense ``N x N`` Laplacian with a full
  eigendecomposition that pygkd used to build (``dense_limit`` caps its sizes);
- one training step (forward, backward, Adam) of the teacher and of the student;
- one KD step of the student (``L_STCD``, teacher on the fly, ``L_SCD`` on ``scd_nodes``
  random nodes).

Peak memory is the resident-memory growth sampled during the first call of each (Linux).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from pygkd.bench.timing import PeakMemory, bench_device, time_call
from pygkd.data.preprocessing import adjacency_to_edges
from pygkd.data.synthetic import make_synthetic_network
from pygkd.distill.objective import DistillObjective
from pygkd.nn.layers import GraphOperator
from pygkd.nn.models.stgcn import PRESETS, STGCN
from pygkd.train.config import DistillConfig

logger = logging.getLogger(__name__)

__all__ = ["bench_scale", "dense_reference_operator", "training_step"]

SIZES = (228, 1000, 2000, 4000, 8600)


def dense_reference_operator(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """The operator as pygkd built it before: a dense float64 ``N x N`` Laplacian and a full
    eigendecomposition for :math:`\\lambda_{max}` (the reference row of the benchmark)."""
    from torch_geometric.utils import get_laplacian, remove_self_loops

    ei, ew = remove_self_loops(edge_index, edge_weight.double())
    index, weight = get_laplacian(ei, ew, "sym", torch.float64, num_nodes)
    dense = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    dense.index_put_((index[1], index[0]), weight, accumulate=True)
    lam = float(torch.linalg.eigvalsh(dense).max())
    return 2.0 * dense / lam - torch.eye(num_nodes, dtype=torch.float64)


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                  loss_fn: Callable[[], Tensor]) -> None:
    """One optimiser step on ``loss_fn()``."""
    optimizer.zero_grad(set_to_none=True)
    loss_fn().backward()
    optimizer.step()


def _plain_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters())
    return lambda: training_step(model, opt, lambda: torch.mean((model(x)[:, 0, :, 0]
                                                                 - y[:, 0]) ** 2))


def _kd_step(student: nn.Module, objective: DistillObjective, x: Tensor,
             y: Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(student.parameters())
    index = torch.arange(x.size(0))  # window indices stay on the CPU
    return lambda: training_step(student, opt, lambda: objective(student, x, y, index)[0])


def _measure(fn: Callable[[], object], repeats: int,
             device: torch.device | None = None) -> dict[str, float]:
    """Best time of ``repeats`` calls after a warm-up call, whose resident-memory growth is
    the peak reported (later calls reuse memory the allocator already holds)."""
    with PeakMemory() as mem:
        fn()
    times = time_call(fn, repeats=repeats, warmup=0, device=device)
    return {"seconds": min(times), "peak_mb": mem.growth_mb}


def bench_scale(sizes: Sequence[int] = SIZES, batch: int = 8, scd_nodes: int = 256,
                repeats: int = 2, dense_limit: int = 2000, device: str = "cpu"
                ) -> list[dict[str, float]]:
    """Run the scale benchmark and print one table; return one row per size (peak memory is
    the process's resident memory, meaningful on the CPU)."""
    dev = bench_device(device)
    logger.info(f"synthetic networks (3 days), batch {batch}, best of {repeats}, "
                f"{torch.get_num_threads()} threads; teacher {PRESETS['teacher']}, student "
        f"{PRESETS['student']}; KD: L_STCD, teacher on the fly, L_SCD on {scd_nodes} nodes; "
        f"device {dev}")
    rows: list[dict[str, float]] = []
    for n in sizes:
        start = time.perf_counter()
        data = make_synthetic_network(num_nodes=n, num_days=3)
        ei, ew = adjacency_to_edges(data.adjacency)
        del data
        row: dict[str, float] = {"nodes": n, "edges": ei.size(1),
                                 "generate_s": time.perf_counter() - start}
        with PeakMemory() as mem:
            start = time.perf_counter()
            op = GraphOperator.from_edges(ei.to(dev), ew.to(dev), n)
            row["operator_s"] = time.perf_counter() - start
        row["operator_mb"] = op.memory_bytes() / 2**20
        row["operator_peak_mb"] = mem.growth_mb
        if n <= dense_limit:
            with PeakMemory() as mem:
                start = time.perf_counter()
                dense_reference_operator(ei, ew, n)
                row["dense_s"] = time.perf_counter() - start
            row["dense_peak_mb"] = mem.growth_mb
        x = torch.randn(batch, 12, n, 1, generator=torch.Generator().manual_seed(0)).to(dev)
        y = torch.randn(batch, 9, n, generator=torch.Generator().manual_seed(1)).to(dev)
        ei, ew = ei.to(dev), ew.to(dev)
        torch.manual_seed(0)
        teacher = STGCN(n, PRESETS["teacher"]).to(dev).cache_graph(ei, ew)
        student = STGCN(n, PRESETS["student"]).to(dev).cache_graph(ei, ew)
        for name, model in (("teacher", teacher), ("student", student)):
            result = _measure(_plain_step(model, x, y), repeats, dev)
            row[f"{name}_s"], row[f"{name}_peak_mb"] = result["seconds"], result["peak_mb"]
        frozen = STGCN(n, PRESETS["teacher"]).to(dev)
        frozen.load_state_dict(teacher.state_dict())
        objective = DistillObjective(frozen.cache_graph(ei, ew), DistillConfig(
            loss="stcd", scd_nodes=scd_nodes), ei, ew, cache_gb=0.0)
        result = _measure(_kd_step(student, objective, x, y), repeats, dev)
        row["kd_s"], row["kd_peak_mb"] = result["seconds"], result["peak_mb"]
        rows.append(row)
        logger.info(f"N={n}: done ({row['edges']:,} edges)")

    def cell(value: float, fmt: str) -> str:
        return "-" if value != value else format(value, fmt)

    logger.info("\n| N | edges | operator build (s) | operator MB | dense reference build (s) | "
                "dense peak MB | teacher step (s) | teacher peak MB | student step (s) | "
                "student peak MB | KD step (s) | KD peak MB | KD / teacher step |")
    logger.info("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        logger.info(f"| {r['nodes']:,} | {r['edges']:,} | {r['operator_s']:.3f} | "
                    f"{r['operator_mb']:.1f} | {cell(r.get('dense_s', float('nan')), '.2f')} | "
                    f"{cell(r.get('dense_peak_mb', float('nan')), '.0f')} | {r['teacher_s']:.3f} | "
                    f"{cell(r['teacher_peak_mb'], '.0f')} | {r['student_s']:.3f} | "
                    f"{cell(r['student_peak_mb'], '.0f')} | {r['kd_s']:.3f} | "
                    f"{cell(r['kd_peak_mb'], '.0f')} | {r['kd_s'] / r['teacher_s']:.2f}x |")
    return rows
