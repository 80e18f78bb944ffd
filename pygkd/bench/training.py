"""Training-step benchmarks printed side by side: the graph product (one product per
propagation vs the per-(batch, time) product pygkd used before), ``torch.compile`` and mixed
precision.

All three use the Los-loop graph (``los_adj.csv``) when it is found and the synthetic network
of the same size (207 sensors) otherwise, with random ``[B, 12, N, 1]`` windows.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from pygkd.bench.scale import training_step
from pygkd.bench.timing import bench_device, bench_graph, time_call
from pygkd.data.preprocessing import adjacency_to_edges
from pygkd.nn.layers import FastChebConv
from pygkd.nn.models.recurrent import RecurrentForecaster
from pygkd.nn.models.stgcn import PRESETS, STGCN

logger = logging.getLogger(__name__)

__all__ = ["bench_product", "bench_compile", "bench_precision", "bench_recurrent",
           "los_loop_graph", "use_slice_product", "reference_recurrent"]


def los_loop_graph(data_dir: Path | None = None, synthetic: bool = False
                   ) -> tuple[Tensor, Tensor, int, str]:
    """``(edge_index, edge_weight, N, description)`` of Los-loop (``los_adj.csv`` in
    ``data_dir``; an error without it), or with ``synthetic`` of a 207-sensor synthetic
    network (:func:`~pygkd.bench.timing.bench_graph`)."""
    adjacency, graph = bench_graph("los-loop", data_dir, synthetic)
    ei, ew = adjacency_to_edges(adjacency)
    return ei, ew, adjacency.shape[0], graph


def _slice_forward(self: FastChebConv, x: Tensor, edge_index: Tensor | None = None,
                   edge_weight: Tensor | None = None, batch: Tensor | None = None,
                   lambda_max: Tensor | None = None, operator=None,  # type: ignore[no-untyped-def]
                   residual: Tensor | None = None) -> Tensor:
    """FastChebConv as pygkd computed it before: ``torch.matmul(L, x)`` broadcast over every
    (batch, time) slice of ``x [B, T, N, C]``."""
    op = operator if operator is not None else self.cached_operator
    assert op is not None, "expected a cached or given operator"
    dense = op.to_dense().to(x.dtype)
    tx0, out = x, self.lins[0](x)
    if residual is not None:  # the spatial layer's skip connection (FastChebConv folds it)
        out = out + x @ residual.t()
    if len(self.lins) > 1:
        tx1 = torch.matmul(dense, x)
        out = out + self.lins[1](tx1)
        for lin in self.lins[2:]:
            tx2 = 2.0 * torch.matmul(dense, tx1) - tx0
            out = out + lin(tx2)
            tx0, tx1 = tx1, tx2
    return out + self.bias if self.bias is not None else out


def use_slice_product(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose Chebyshev layers use the per-slice product (the reference)."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, FastChebConv):
            module.forward = types.MethodType(_slice_forward, module)  # type: ignore[method-assign]
    return model


def _mse_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters())
    return lambda: training_step(model, opt, lambda: torch.mean((model(x)[:, 0, :, 0] - y) ** 2))


def _inputs(n: int, batch: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, 12, n, 1, generator=g), torch.randn(batch, n, generator=g)
    return x.to(device), y.to(device)


def _placed(ei: Tensor, ew: Tensor, n: int, name: str, device: torch.device,
            dense: bool = False) -> STGCN:
    """A seeded STGCN preset on ``device`` with its graph cached (stored dense if asked)."""
    torch.manual_seed(0)
    model = STGCN(n, PRESETS[name]).to(device)
    if dense:
        for module in model.modules():
            if isinstance(module, FastChebConv):
                module.dense_threshold = 0.0
    return model.cache_graph(ei.to(device), ew.to(device))


def bench_product(batch: int = 50, repeats: int = 3, data_dir: Path | None = None,
                  synthetic: bool = False, device: str = "cpu") -> dict[str, float]:
    """Training steps with one graph product per propagation vs the per-slice reference."""
    dev = bench_device(device)
    ei, ew, n, graph = los_loop_graph(data_dir, synthetic)
    x, y = _inputs(n, batch, dev)
    logger.info(f"{graph}: {n} nodes, {ei.size(1):,} edges; batch {batch}; best of {repeats}; "
        f"{torch.get_num_threads()} threads; device {dev}; the operator stored dense for both "
        "rows")
    results: dict[str, float] = {}
    logger.info("\n| model | one product (s) | per-slice product (s) | speed-up |")
    logger.info("|---|---:|---:|---:|")
    for name in ("student", "pruning-base", "teacher"):
        model = _placed(ei, ew, n, name, dev, dense=True)  # same storage for both rows
        reference = use_slice_product(model)
        fast = min(time_call(_mse_step(model, x, y), repeats, device=dev))
        slow = min(time_call(_mse_step(reference, x, y), repeats, device=dev))
        results[name] = fast
        results[f"{name} (per-slice)"] = slow
        logger.info(f"| {name} | {fast:.4f} | {slow:.4f} | {slow / fast:.2f}x |")
    return results


def reference_recurrent(model: RecurrentForecaster) -> RecurrentForecaster:
    """A copy of a recurrent forecaster whose cell is PyG Temporal's own (PyG ``ChebConv`` /
    ``GCNConv`` layers, the same weights) run on the folded edge list: pygkd's implementation
    before its graph operators."""
    from pygkd.compat import import_pyg_temporal
    from pygkd.nn.models.recurrent import A3TGCNForecaster

    recurrent = import_pyg_temporal().nn.recurrent
    param = next(model.parameters())
    reference = type(model).from_config(model.config()).to(param.device, param.dtype)
    reference.load_state_dict(model.state_dict())
    kind = type(model.cell).__name__  # GConvGRU, TGCN, A3TGCN, DCRNN
    args = {"GConvGRU": (model.in_channels, model.hidden, model.K),
            "TGCN": (model.in_channels, model.hidden),
            "A3TGCN": (model.in_channels, model.hidden, model.n_in),
            "DCRNN": (model.in_channels, model.hidden, model.K)}[kind]
    cell = getattr(recurrent, kind)(*args).to(param.device, param.dtype)
    cell.load_state_dict(model.cell.state_dict())  # type: ignore[union-attr]
    if isinstance(reference, A3TGCNForecaster):
        cell._base_tgcn.register_forward_hook(reference._collect)
    reference.cell = cell
    setattr(reference, "build_graph_operator",  # noqa: B010 (an instance override, on purpose)
            lambda *args: None)
    if kind == "GConvGRU":  # the folded loop of the base class
        setattr(reference, "hidden_states",  # noqa: B010
                types.MethodType(RecurrentForecaster.hidden_states, reference))
    return reference


def bench_recurrent(batch: int = 50, repeats: int = 3, data_dir: Path | None = None,
                    synthetic: bool = False, device: str = "cpu") -> dict[str, float]:
    """Training steps of recurrent students of about the STGCN student's size (``TGCN`` and
    ``A3TGCN`` with 38 hidden channels, ``GConvGRU`` with 31) as pygkd runs them (one graph
    operator per forward pass, one product per propagation) vs PyG Temporal's own layers on
    the folded edge list (:func:`reference_recurrent`)."""
    from pygkd.nn.models.registry import build_forecaster

    dev = bench_device(device)
    ei, ew, n, graph = los_loop_graph(data_dir, synthetic)
    off = ei[0] != ei[1]  # no self-loops, as the datasets give the graph (zero diagonal)
    ei, ew = ei[:, off].to(dev), ew[off].to(dev)
    x, y = _inputs(n, batch, dev)
    logger.info(f"{graph}: {n} nodes, {ei.size(1):,} edges; batch {batch} (folded into "
                f"{batch * n:,} nodes); best of {repeats}; {torch.get_num_threads()} threads; "
                f"device {dev}")
    results: dict[str, float] = {}
    logger.info("\n| model | params | pygkd step (s) | PyG Temporal layers, edge list (s) | "
                "speed-up | max |output diff| |")
    logger.info("|---|---:|---:|---:|---:|---:|")
    for name, hidden in (("tgcn", 38), ("a3tgcn", 38), ("gconvgru", 31)):
        torch.manual_seed(0)
        model = build_forecaster(name, n, hidden=hidden, K=3).to(dev)
        assert isinstance(model, RecurrentForecaster)
        reference = reference_recurrent(model)
        fast = min(time_call(_graph_step(model, x, y, ei, ew), repeats, device=dev))
        slow = min(time_call(_graph_step(reference, x, y, ei, ew), repeats, device=dev))
        with torch.no_grad():
            diff = float((model(x, ei, ew) - reference(x, ei, ew)).abs().max())
        params = sum(p.numel() for p in model.parameters())
        results[name], results[f"{name} (reference)"] = fast, slow
        logger.info(f"| {name} | {params:,} | {fast:.3f} | {slow:.3f} | {slow / fast:.2f}x | "
                    f"{diff:.1e} |")
    return results


def _graph_step(model: nn.Module, x: Tensor, y: Tensor, ei: Tensor,
                ew: Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters())
    return lambda: training_step(
        model, opt, lambda: torch.mean((model(x, ei, ew)[:, 0, :, 0] - y) ** 2))


def bench_compile(batch: int = 50, repeats: int = 5, data_dir: Path | None = None,
                  synthetic: bool = False, device: str = "cpu") -> dict[str, float]:
    """Eager vs ``torch.compile(model, fullgraph=True)`` training steps (teacher, student)."""
    dev = bench_device(device)
    ei, ew, n, graph = los_loop_graph(data_dir, synthetic)
    x, y = _inputs(n, batch, dev)
    logger.info(f"{graph}: {n} nodes; batch {batch}; best of {repeats} after warm-up; "
                f"{torch.get_num_threads()} threads; device {dev}; fullgraph=True (no graph breaks "
                "allowed)")
    results: dict[str, float] = {}
    logger.info("\n| model | eager step (s) | compiled step (s) | compile time (s) | speed-up | "
                "max |output diff| |")
    logger.info("|---|---:|---:|---:|---:|---:|")
    for name in ("teacher", "student"):
        model = _placed(ei, ew, n, name, dev)
        twin = copy.deepcopy(model)
        torch._dynamo.reset()
        compiled = torch.compile(twin, fullgraph=True)
        eager = min(time_call(_mse_step(model, x, y), repeats, device=dev))
        start = time.perf_counter()
        step = _mse_step(compiled, x, y)  # type: ignore[arg-type]
        step()
        compile_s = time.perf_counter() - start
        fast = min(time_call(step, repeats, device=dev))
        with torch.no_grad():
            diff = float((compiled(x) - twin(x)).abs().max())
        results[name], results[f"{name} (compiled)"] = eager, fast
        logger.info(f"| {name} | {eager:.4f} | {fast:.4f} | {compile_s:.1f} | "
                    f"{eager / fast:.2f}x | {diff:.1e} |")
    return results


def bench_precision(epochs: int = 5, nodes: int = 40, batch: int = 50, repeats: int = 3,
                    data_dir: Path | None = None, synthetic: bool = False,
                    device: str = "cpu") -> dict[str, dict[str, float]]:
    """float32 vs bfloat16 autocast: training-step time on the Los-loop-size graph, and test
    accuracy of a student trained ``epochs`` epochs on the synthetic network each way."""
    from pygkd.runtime.precision import Precision
    from pygkd.train.config import RunConfig
    from pygkd.train.runs import run_train

    dev = bench_device(device)
    ei, ew, n, graph = los_loop_graph(data_dir, synthetic)
    x, y = _inputs(n, batch, dev)
    logger.info(f"step time: {graph}, batch {batch}, best of {repeats}, device {dev}, "
        f"{torch.get_num_threads()} threads; accuracy: student, synthetic network of {nodes} "
        f"sensors, {epochs} epochs, seed 0")
    results: dict[str, dict[str, float]] = {}
    for precision in ("32", "bf16"):
        row: dict[str, float] = {}
        for name in ("teacher", "student"):
            model = _placed(ei, ew, n, name, dev)
            opt = torch.optim.Adam(model.parameters())
            context = Precision(precision, dev)

            def step(m: nn.Module = model, o: torch.optim.Optimizer = opt,
                     c: Precision = context) -> None:
                o.zero_grad(set_to_none=True)
                with c.autocast():
                    loss = torch.mean((m(x)[:, 0, :, 0] - y) ** 2)
                loss.float().backward()
                o.step()

            row[f"{name}_s"] = min(time_call(step, repeats, device=dev))
        config = RunConfig.from_dict({
            "device": str(dev), "data": {"name": "synthetic", "options": {"num_nodes": nodes}},
            "model": {"preset": "student"},
            "train": {"epochs": epochs, "precision": precision, "lr": 5e-3,
                      "latency_repeats": 1, "latency_batch": 8}})
        with tempfile.TemporaryDirectory() as tmp:
            metrics = run_train(config, Path(tmp), progress=False)
        for horizon, values in metrics["test"].items():
            row[f"MAE {horizon}"] = values["MAE"]
        results[precision] = row
    base = results["32"]
    logger.info("\n| precision | teacher step (s) | student step (s) | "
        + " | ".join(k for k in base if k.startswith("MAE")) + " |")
    logger.info("|---|---:|---:|" + "---:|" * sum(k.startswith("MAE") for k in base))
    for precision, row in results.items():
        maes = " | ".join(f"{row[k]:.3f}" for k in base if k.startswith("MAE"))
        t_ratio = base['teacher_s'] / row['teacher_s']
        s_ratio = base['student_s'] / row['student_s']
        logger.info(f"| {precision} | {row['teacher_s']:.4f} ({t_ratio:.2f}x)"
                    f" | {row['student_s']:.4f} ({s_ratio:.2f}x) | {maes} |")
    return results
