"""Serving benchmark: the exported forecaster (normalisation and 9-step rollout inside) in
eager PyTorch and ONNX Runtime (and ``torch.compile`` when asked), side by side.

For each runtime: p50 / p99 latency of one window and of a batch of 1,140 windows, the largest
absolute difference from eager PyTorch on the test windows, and the test MAE at each evaluated
horizon (de-normalised, as ``pygkd evaluate``; the raw test windows are the interpolated
readings, so the numbers match the evaluation's).
"""

from __future__ import annotations

import copy
import functools
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pygkd.bench.timing import time_call
from pygkd.data.timing import horizon_label
from pygkd.deploy.module import ForecastModule, load_forecast_module

logger = logging.getLogger(__name__)

__all__ = ["bench_serve", "latency_percentiles"]


def latency_percentiles(fn: Callable[[], object], repeats: int, warmup: int = 3
                        ) -> tuple[float, float]:
    """p50 and p99 wall time (ms) of ``repeats`` calls after ``warmup`` calls."""
    times = [1000 * t for t in time_call(fn, repeats, warmup)]
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def _test_windows(path: Path, module: ForecastModule
                  ) -> tuple[Tensor, Tensor, Sequence[int], float | None]:
    """Raw test windows ``[S, T, N, 1]``, raw targets ``[S, H, N]``, the evaluated steps and
    the minutes per step."""
    from pygkd.train.checkpoint import load_checkpoint
    from pygkd.train.runs import build_dataset, checkpoint_data_config

    dataset = build_dataset(checkpoint_data_config(load_checkpoint(path)))
    x, y = dataset.batch("test", torch.arange(dataset.num_samples("test")))
    steps = [s for s in dataset.horizons if s <= module.horizon]
    return (dataset.scaler.inverse(x), dataset.scaler.inverse(y[:, : module.horizon]), steps,
            dataset.minutes_per_step)


def _runtimes(module: ForecastModule, folder: Path, compile_model: bool, onnx: bool,
              device: torch.device) -> dict[str, Callable[[Tensor], np.ndarray]]:
    """``name -> run(readings) -> forecast`` for every runtime compared (inputs on the CPU)."""
    placed = copy.deepcopy(module).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def eager(t: Tensor) -> np.ndarray:
        out = placed(t.to(device))
        sync()
        return out.cpu().numpy()

    runtimes: dict[str, Callable[[Tensor], np.ndarray]] = {"eager PyTorch": eager}
    if compile_model:
        torch._dynamo.reset()
        compiled = torch.compile(placed, fullgraph=True, dynamic=True)

        def run_compiled(t: Tensor) -> np.ndarray:
            out = compiled(t.to(device))
            sync()
            return out.cpu().numpy()

        runtimes["torch.compile"] = run_compiled
    if onnx:
        from pygkd.deploy.export import export_forecaster, onnx_session

        file = export_forecaster(module, "onnx", folder / "model.onnx")
        threads = torch.get_num_threads()  # as many as PyTorch's rows use
        session = onnx_session(file, threads)
        runtimes["ONNX Runtime"] = lambda t: session.run(None, {"readings": t.numpy()})[0]
    return runtimes


def bench_serve(models: Sequence[Path], batch: int = 1140, repeats: int = 20,
                single_repeats: int = 200, compile_model: bool = False, onnx: bool = True,
                device: str = "cpu") -> list[dict[str, float]]:
    """Run the serving benchmark for each checkpoint in ``models``; print one table.

    Eager and compiled PyTorch run on ``device``; ONNX Runtime on its CPU provider."""
    from pygkd.bench.timing import bench_device

    dev = bench_device(device)
    rows: list[dict[str, float]] = []
    logger.info(f"{torch.get_num_threads()} threads (PyTorch and ONNX Runtime); PyTorch on "
                f"{dev}; one window: p50/p99 of {single_repeats} runs; batch of {batch}: "
                f"p50/p99 of {repeats} runs")
    files = [Path(p) / "model.pt" if Path(p).is_dir() else Path(p) for p in models]
    # rows are named by the run folders' last parts, as many as tell the models apart
    depth = 2
    while (depth < max(len(f.parent.parts) for f in files)
           and len({f.parent.parts[-depth:] for f in files}) < len(files)):
        depth += 1
    for model_file in files:
        module, _ = load_forecast_module(model_file)
        x, truth, steps, minutes = _test_windows(model_file, module)
        big = x[torch.arange(batch) % x.size(0)]
        one = x[:1]
        with torch.no_grad():
            eager_out = module(x).numpy()
        tmp = tempfile.TemporaryDirectory()
        runtimes = _runtimes(module, Path(tmp.name), compile_model, onnx, dev)
        name = "/".join(model_file.parent.parts[-depth:]) or model_file.name
        for runtime, run in runtimes.items():
            with torch.no_grad():
                out = run(x)
                p50_1, p99_1 = latency_percentiles(functools.partial(run, one), single_repeats)
                p50_b, p99_b = latency_percentiles(functools.partial(run, big), repeats,
                                                   warmup=1)
            row: dict[str, Any] = {
                "model": name, "runtime": runtime, "p50_one_ms": p50_1, "p99_one_ms": p99_1,
                "p50_batch_ms": p50_b, "p99_batch_ms": p99_b,
                "max_diff": float(np.abs(out - eager_out).max())}
            for s in steps:
                error = np.abs(out[:, s - 1] - truth[:, s - 1].numpy())
                row[f"MAE {horizon_label(s, minutes)}"] = float(error.mean())
            rows.append(row)
        tmp.cleanup()
    maes = [k for k in rows[0] if k.startswith("MAE")] if rows else []
    logger.info("\n| model | runtime | one window p50 / p99 (ms) | batch p50 / p99 (ms) | "
                "vs eager (batch p50) | max abs diff vs eager | " + " | ".join(maes) + " |")
    logger.info("|---|---|---:|---:|---:|---:|" + "---:|" * len(maes))
    eager = {r["model"]: r for r in rows if r["runtime"] == "eager PyTorch"}
    for r in rows:
        base = eager[r["model"]]
        logger.info(f"| {r['model']} | {r['runtime']} | {r['p50_one_ms']:.2f} / "
                    f"{r['p99_one_ms']:.2f} | "
            f"{r['p50_batch_ms']:.1f} / {r['p99_batch_ms']:.1f} | "
            f"{base['p50_batch_ms'] / r['p50_batch_ms']:.2f}x | {r['max_diff']:.1e} | "
            + " | ".join(f"{r[k]:.3f}" for k in maes) + " |")
    return rows
