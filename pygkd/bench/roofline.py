"""Roofline benchmark: how close an STGCN training step comes to this machine's matmul speed.

For the teacher and the student of the paper (Table 2), on the PeMSD7(M) graph (228 sensors,
``W_228.csv`` at ``sigma2``, batch 50) and on the built-in synthetic network of 8,600 sensors
(LargeST's California size, batch 8), one training step (forward, MSE loss, backward, Adam) is
timed on four paths side by side in this process:

- ``reference``: the layers as they ran before they were tuned
  (:func:`~pygkd.bench.reference.reference_path`), glibc returning freed memory;
- ``reference, memory kept``: the same layers, freed memory kept in the process
  (:mod:`pygkd.runtime.memory`): its speed-up is the allocator's share;
- ``pygkd, conv weight gradient``: today's layers, freed memory kept, but the temporal
  convolutions' weight gradients from oneDNN's convolution backward
  (:func:`~pygkd.nn.layers.timeconv.weight_gemm` off);
- ``pygkd``: today's layers, freed memory kept: its speed-up over the ``reference, memory
  kept`` row is the layers' share, over the row above the weight gradient's.

The FLOPs of a step are counted once per model and size with
:class:`~torch.utils.flop_counter.FlopCounterMode` on the reference path, and this same
numerator is divided by each path's time, so a faster path is credited by its time only. The
matmul peak is a ``2048 x 2048`` float32 ``torch.matmul`` (the BLAS PyTorch was built with)
timed in this process just before each row (best of several); beside it, the same product by
oneDNN (:func:`onednn_matmul_gflops`), which runs the convolutions: where the BLAS is slower
than oneDNN on this CPU (MKL on AMD processors), a step can exceed the first "peak", and the
share of the second is the stricter figure. The FLOP shares per layer type come from the same
count. For today's path, each layer is also timed alone per type (:func:`layer_times`), which
shows where the step's time goes. The paths are timed in turn twice over (``rounds``) and each
row keeps its best step, so one slow spell of the machine does not decide a ratio.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from pygkd.bench.reference import reference_path
from pygkd.bench.timing import PeakMemory, bench_graph

logger = logging.getLogger(__name__)

__all__ = ["RooflineRow", "bench_roofline", "layer_times", "matmul_gflops",
           "onednn_matmul_gflops", "rows_as_dicts", "step_flops", "time_step"]

#: (sensors, batch) of the two sizes
SIZES = ((228, 50), (8600, 8))
LAYER_TYPES = ("temporal", "spatial", "norm", "other")
#: the timed paths of every model and size, in order (see the module)
PATHS = ("reference", "reference, memory kept", "pygkd, conv weight gradient", "pygkd")
#: most timed calls of one row (short steps are repeated until ``min_seconds`` have passed)
MAX_REPEATS = 50


@dataclass
class RooflineRow:
    """One timed row (``path`` is one of :data:`PATHS`)."""

    model: str
    sensors: int
    batch: int
    path: str
    gflop: float
    step_s: float
    matmul_gflops: float
    user_s: float
    system_s: float
    peak_mb: float
    shares: dict[str, float]
    #: seconds per layer type (temporal, spatial, norm) with each layer timed alone, forward
    #: and backward, on the inputs it received in a step (:func:`layer_times`; today's path)
    layer_seconds: dict[str, float] | None = None
    #: the same product by oneDNN (:func:`onednn_matmul_gflops`), None without it
    onednn_gflops: float | None = None

    @property
    def gflops(self) -> float:
        return self.gflop / self.step_s

    @property
    def peak_share(self) -> float:
        return self.gflops / self.matmul_gflops

    @property
    def onednn_share(self) -> float | None:
        return None if not self.onednn_gflops else self.gflops / self.onednn_gflops


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of a ``size x size`` matrix product in this process."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def onednn_matmul_gflops(size: int = 2048, repeats: int = 5) -> float | None:
    """Best float32 GFLOP/s of a ``size x size`` product by oneDNN (the library of PyTorch's
    CPU convolutions, :func:`~pygkd.nn.layers.onednn.onednn_matmul`) in this process, or
    None where this PyTorch has no oneDNN product."""
    from pygkd.nn.layers.onednn import onednn_matmul

    matmul = onednn_matmul()
    if matmul is None:
        return None
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    matmul(a, b, None, "none", [], "")
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b, None, "none", [], "")
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _layer_type(module: nn.Module) -> str | None:
    from pygkd.nn.blocks import SpatialGraphConv
    from pygkd.nn.layers import TemporalConv, TemporalGatedConv

    if isinstance(module, (TemporalConv, TemporalGatedConv)):
        return "temporal"
    if isinstance(module, SpatialGraphConv):
        return "spatial"
    if isinstance(module, nn.LayerNorm):
        return "norm"
    return None


def step_flops(model: nn.Module, step: Callable[[], None]) -> tuple[int, dict[str, float]]:
    """FLOPs of one call of ``step`` (:class:`~torch.utils.flop_counter.FlopCounterMode`,
    forward and backward) and their share per layer type of ``model``."""
    from pygkd.nn.layers.spatial import grouped_products
    from pygkd.train.evaluate import flop_counter

    with grouped_products(False), flop_counter() as counter:
        step()
    total = counter.get_total_flops()
    counts = counter.get_flop_counts()
    root = type(model).__name__
    per_type = dict.fromkeys(LAYER_TYPES, 0)
    for name, module in model.named_modules():
        kind = _layer_type(module)
        if kind is not None and name:
            per_type[kind] += sum(counts.get(f"{root}.{name}", {}).values())
    per_type["other"] = total - sum(per_type[k] for k in LAYER_TYPES[:-1])
    return total, {k: v / max(total, 1) for k, v in per_type.items()}


def _step_fn(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()

    return step


def time_step(step: Callable[[], None], repeats: int,
              min_seconds: float = 0.0) -> tuple[float, float, float, float]:
    """(best step seconds, user and system seconds per step, peak MB of the first call).

    The step is timed at least ``repeats`` times and, for short steps, until ``min_seconds``
    have passed (at most :data:`MAX_REPEATS` calls): the best of more calls of a short step
    is less exposed to the machine's moment-to-moment load."""
    import gc

    from pygkd.runtime.memory import release_freed_memory

    gc.collect()
    release_freed_memory()  # so the first call's growth is its peak, not the heap's leftovers
    with PeakMemory() as mem:
        step()
    best, calls, spent = float("inf"), 0, 0.0
    before = os.times()
    while calls < repeats or (spent < min_seconds and calls < MAX_REPEATS):
        start = time.perf_counter()
        step()
        elapsed = time.perf_counter() - start
        best, calls, spent = min(best, elapsed), calls + 1, spent + elapsed
    after = os.times()
    return (best, (after.user - before.user) / calls,
            (after.system - before.system) / calls, mem.growth_mb)


def layer_times(model: nn.Module, x: Tensor, repeats: int = 2) -> dict[str, float]:
    """Seconds of forward and backward per layer type (temporal, spatial, norm) of one call of
    ``model(x)``: every layer of a type is timed alone (best of ``repeats``) on the inputs it
    received in that call, with a random output gradient; the parameters' gradients and those
    of inputs that needed one are computed, as in a training step."""
    calls: list[tuple[nn.Module, str, tuple, dict, Tensor]] = []

    def record(module: nn.Module, args: tuple, kwargs: dict, output: Tensor) -> None:
        calls.append((module, str(_layer_type(module)), args, kwargs, output.detach()))

    hooks = [m.register_forward_hook(record, with_kwargs=True)
             for m in model.modules() if _layer_type(m) is not None]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    gen = torch.Generator(device=x.device).manual_seed(0)
    seconds = dict.fromkeys(LAYER_TYPES[:-1], 0.0)
    for module, kind, args, kwargs, output in calls:
        inputs = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a
                  for a in args]
        wrt = [a for a in inputs if isinstance(a, Tensor) and a.requires_grad]
        wrt += [p for p in module.parameters() if p.requires_grad]
        grad = torch.randn(output.shape, generator=gen, device=output.device, dtype=output.dtype)

        best = float("inf")
        for repeat in range(repeats + 1):  # the first call warms up
            start = time.perf_counter()
            torch.autograd.grad(module(*inputs, **kwargs), wrt, grad, allow_unused=True)
            if repeat:
                best = min(best, time.perf_counter() - start)
        seconds[kind] += best
    return seconds


def _graph(sensors: int, data_dir: Path | None, sigma2: float) -> tuple[Tensor, Tensor, str]:
    from pygkd.data.preprocessing import adjacency_to_edges
    from pygkd.data.synthetic import make_synthetic_network

    if sensors == 228:
        adjacency, title = bench_graph("pemsd7m", data_dir, False, sigma2, offer_synthetic=False)
    else:
        adjacency = make_synthetic_network(num_nodes=sensors, num_days=3).adjacency
        title = f"synthetic {sensors:,}-sensor network"
    edge_index, edge_weight = adjacency_to_edges(adjacency)
    return edge_index, edge_weight, title


def bench_roofline(data_dir: Path | None = None, sigma2: float = 0.1,
                   models: Sequence[str] = ("teacher", "student"),
                   sizes: Sequence[tuple[int, int]] = SIZES, repeats: int = 3,
                   threads: int = 1, min_seconds: float = 3.0,
                   rounds: int = 2) -> list[RooflineRow]:
    """Time the rows (see the module) and print the table; returns the rows.

    The paths of a model and size are timed in turn, ``rounds`` times over (each round on a
    fresh model), and each row is the best step of all its rounds: a path is not judged by one
    window of time in which the machine may be slower than in its neighbours'. A round times
    at least ``ceil(repeats / rounds)`` steps and, for short steps, as many as fit in
    ``min_seconds / rounds`` (up to 50). User and system time are the rounds' mean, peak
    memory the first round's.

    ``data_dir`` must hold ``W_228.csv`` when 228 sensors are timed (an error otherwise).
    """
    from pygkd.nn.layers.timeconv import weight_gemm
    from pygkd.nn.models.stgcn import PRESETS, STGCN
    from pygkd.runtime.memory import freed_memory_retained

    if rounds < 1:
        raise ValueError(f"Expected rounds >= 1 (got {rounds})")
    torch.set_num_threads(threads)
    graphs = {n: _graph(n, data_dir, sigma2) for n, _ in sizes}  # fail early on missing data
    per_round = (-(-repeats // rounds), min_seconds / rounds)
    rows: list[RooflineRow] = []
    for sensors, batch in sizes:
        edge_index, edge_weight, title = graphs[sensors]
        logger.info(f"{title}: {sensors:,} sensors, {edge_index.size(1):,} edges, batch {batch}, "
                    f"{torch.get_num_threads()} thread(s), {rounds} round(s)")
        for name in models:
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(batch, 12, sensors, 1, generator=gen)
            y = torch.randn(batch, 1, sensors, 1, generator=gen)
            timed: dict[str, list[tuple[float, float, float, float]]] = {p: [] for p in PATHS}
            peaks: dict[str, tuple[float, float | None]] = {}
            seconds = None
            for round_ in range(rounds):
                for path in PATHS:
                    torch.manual_seed(0)
                    model = STGCN(sensors, PRESETS[name]).cache_graph(edge_index,
                                                                       edge_weight).train()
                    step = _step_fn(model, x, y)
                    if path == "reference":
                        with reference_path():
                            if round_ == 0:
                                flops, shares = step_flops(model, step)
                            peaks[path] = matmul_gflops(), onednn_matmul_gflops()
                            timed[path].append(time_step(step, *per_round))
                    elif path == "reference, memory kept":
                        with freed_memory_retained(True), reference_path(allocator=False):
                            peaks[path] = matmul_gflops(), onednn_matmul_gflops()
                            timed[path].append(time_step(step, *per_round))
                    else:
                        with freed_memory_retained(True), weight_gemm(path == "pygkd"):
                            peaks[path] = matmul_gflops(), onednn_matmul_gflops()
                            timed[path].append(time_step(step, *per_round))
                            if path == "pygkd" and round_ == rounds - 1:
                                seconds = layer_times(model, x)
                    logger.info(f"  {name} {path}, round {round_ + 1}: "
                                f"{timed[path][-1][0] * 1e3:,.0f} ms per step")
                    del model, step
            for path in PATHS:
                runs = timed[path]
                best = min(r[0] for r in runs)
                user = sum(r[1] for r in runs) / len(runs)
                system = sum(r[2] for r in runs) / len(runs)
                peak, onednn = peaks[path]
                rows.append(RooflineRow(name, sensors, batch, path, flops / 1e9, best, peak, user,
                                        system, runs[0][3], shares,
                                        seconds if path == "pygkd" else None, onednn))
                logger.info(f"  {name} {path}: {best * 1e3:,.0f} ms per step "
                            f"({flops / best / 1e9:.1f} GFLOP/s, matmul {peak:.1f})")
    _print_table(rows)
    return rows


def _print_table(rows: list[RooflineRow]) -> None:
    reference = {(r.model, r.sensors): r for r in rows if r.path == "reference"}
    logger.info("")
    logger.info("| model | sensors | batch | path | GFLOP / step | step (ms) | GFLOP/s | matmul "
                "GFLOP/s | % of matmul peak | oneDNN matmul GFLOP/s | % of oneDNN peak | "
                "speed-up vs reference | user s / step | system s / step | peak MB | FLOPs: "
                "temporal / spatial / norm / other | layers alone (ms): temporal / spatial / "
                "norm |")
    logger.info("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
                "---|")
    for r in rows:
        ref = reference[(r.model, r.sensors)]
        shares = " / ".join(f"{r.shares[k]:.1%}" for k in LAYER_TYPES)
        times = (" / ".join(f"{r.layer_seconds[k] * 1e3:,.0f}" for k in LAYER_TYPES[:-1])
                 if r.layer_seconds else "-")
        onednn = "-" if r.onednn_gflops is None else f"{r.onednn_gflops:.1f}"
        onednn_share = "-" if r.onednn_share is None else f"{r.onednn_share:.1%}"
        logger.info(f"| {r.model} | {r.sensors:,} | {r.batch} | {r.path} | {r.gflop:.2f} | "
                    f"{r.step_s * 1e3:,.0f} | {r.gflops:.1f} | {r.matmul_gflops:.1f} | "
                    f"{r.peak_share:.1%} | {onednn} | {onednn_share} | "
                    f"{ref.step_s / r.step_s:.2f}x | {r.user_s:.3f} | "
                    f"{r.system_s:.3f} | {r.peak_mb:,.0f} | {shares} | {times} |")
    logger.info("")
    logger.info("FLOPs are counted on the reference path (the same numerator for every row); "
                "'reference, memory kept' runs the reference layers with freed memory kept in the "
                "process (its speed-up is the allocator's share, today's over it the layers'); "
                "'pygkd, conv weight gradient' is today's path with the temporal convolutions' "
                "weight gradients from oneDNN's convolution backward; the matmul peak is a 2048 x "
                "2048 float32 torch.matmul timed before each row, the oneDNN peak the same "
                "product by oneDNN (the library of the convolutions; a step above the first "
                "peak means the BLAS is the slower of the two on this CPU); 'layers alone' times "
                "each layer of today's path alone, forward and backward, on the inputs it "
                "received in a step (the rest of the step: loss, readout, Adam).")
    last = [r for r in rows if r.model == "teacher" and r.sensors == 228 and r.path == "pygkd"]
    if last:
        if last[0].onednn_share is not None:
            logger.info(f"teacher step: {last[0].onednn_share:.0%} of oneDNN's matmul peak "
                        "(228 sensors)")
        logger.info(f"teacher step: {last[0].peak_share:.0%} of matmul peak (228 sensors)")


def rows_as_dicts(rows: list[RooflineRow]) -> list[dict[str, object]]:
    """The rows as plain dictionaries (for JSON)."""
    return [{**asdict(r), "gflops": r.gflops, "peak_share": r.peak_share} for r in rows]
