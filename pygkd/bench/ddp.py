"""Data-parallel benchmark: one process vs ``torchrun`` with N processes on the same global
batch, time per epoch and the largest weight difference, side by side."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

__all__ = ["bench_ddp"]


def bench_ddp(processes: Sequence[int] = (1, 2), preset: str = "teacher", nodes: int = 228,
              epochs: int = 2, batch: int = 50, threads_per_process: int = 1
              ) -> dict[int, dict[str, float]]:
    """Train the same run with each process count (gloo on CPU) and compare."""
    args = ["train", "--preset", preset, "--epochs", str(epochs), "--batch-size", str(batch),
            "--nodes", str(nodes), "--device", "cpu", "--quiet", "--set",
            "train.latency_repeats=1", "--set", "train.latency_batch=8"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads_per_process))
    env.pop("WORLD_SIZE", None)
    results: dict[int, dict[str, float]] = {}
    states = {}
    logger.info(f"pygkd train --preset {preset}, synthetic network of {nodes} sensors, global "
                "batch "
        f"{batch}, {epochs} epochs, {threads_per_process} thread(s) per process, gloo")
    with tempfile.TemporaryDirectory() as tmp:
        for count in processes:
            out = Path(tmp) / f"p{count}"
            if count == 1:
                cmd = [sys.executable, "-m", "pygkd", *args, "--out", str(out)]
            else:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       f"--nproc-per-node={count}", "-m", "pygkd", *args, "--out", str(out)]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - start
            metrics = json.loads((out / "metrics.json").read_text())
            states[count] = torch.load(out / "model.pt", weights_only=True)["model_state"]
            results[count] = {"epoch_s": metrics["train_seconds"] / metrics["epochs_run"],
                              "wall_s": wall, "test_mae": metrics["test"][
                                  next(iter(metrics["test"]))]["MAE"]}
    one = processes[0]
    logger.info("\n| processes | seconds / epoch | speed-up | wall (s, with start-up and "
                "evaluation) |"
        " first-horizon test MAE | max |weight diff| vs 1 process |")
    logger.info("|---:|---:|---:|---:|---:|---:|")
    for count, r in results.items():
        diff = max(float((states[count][k] - states[one][k]).abs().max()) for k in states[one])
        r["max_weight_diff"] = diff
        speedup = results[one]['epoch_s'] / r['epoch_s']
        logger.info(f"| {count} | {r['epoch_s']:.2f} | {speedup:.2f}x | "
                    f"{r['wall_s']:.1f} | {r['test_mae']:.4f} | {diff:.1e} |")
    return results
