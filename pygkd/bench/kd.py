"""Distillation cost benchmark: one KD training step against plain student and teacher steps,
its parts, and ``L_SCD`` forward + backward time and peak memory (printed side by side)."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

from pygkd.bench.timing import find_w228, pemsd7m_adjacency, time_call
from pygkd.data.preprocessing import adjacency_to_edges
from pygkd.data.synthetic import make_synthetic_network
from pygkd.distill import FeatureCapture
from pygkd.distill import functional as Fd
from pygkd.nn.models.stgcn import PRESETS, STGCN

__all__ = ["bench_kd", "scd_peak_memory"]

_SCD_SCRIPT = """
import os, sys, threading, time, torch
from pygkd.distill.functional import spatial_correlation
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
b, t, n, c = (int(v) for v in sys.argv[1:5])
g = torch.Generator().manual_seed(0)
f_s = torch.randn(b, t, n, c, generator=g, requires_grad=True)
f_t = torch.randn(b, t, n, c, generator=g)
base = peak = rss()
done = False
def watch():
    global peak
    while not done:
        peak = max(peak, rss())
        time.sleep(0.0005)
thread = threading.Thread(target=watch); thread.start()
start = time.perf_counter()
spatial_correlation(f_s, f_t).backward()
seconds = time.perf_counter() - start
done = True; thread.join()
print(seconds, (peak - base) / 2**20, peak / 2**20)
"""


def scd_peak_memory(batch: int = 50, steps: int = 10, nodes: int = 228,
                    channels: int = 32) -> Dict[str, float]:
    """``L_SCD`` forward + backward in a fresh process: seconds, and the peak resident memory
    (MB) above what the process held with its inputs allocated (sampled every 0.5 ms from
    ``/proc/self/statm``, Linux only), and the process peak."""
    out = subprocess.run([sys.executable, "-c", _SCD_SCRIPT, str(batch), str(steps), str(nodes),
                          str(channels)], capture_output=True, text=True, check=True)
    seconds, growth, peak = (float(v) for v in out.stdout.split())
    return {"seconds": seconds, "growth_mb": growth, "process_peak_mb": peak}


def bench_kd(batch: int = 50, repeats: int = 3, w228: Optional[Path] = None,
             log: Callable[[str], None] = print) -> Dict[str, float]:
    path = find_w228(w228)
    adjacency = (pemsd7m_adjacency(path, 0.1) if path is not None
                 else make_synthetic_network(num_nodes=228, num_days=3).adjacency)
    ei, ew = adjacency_to_edges(adjacency)
    n = adjacency.shape[0]
    torch.manual_seed(0)
    teacher, student = STGCN(n, PRESETS["teacher"]), STGCN(n, PRESETS["student"])
    x = torch.randn(batch, 12, n, 1)
    y = torch.randn(batch, n)
    opt_s = torch.optim.Adam(student.parameters())
    opt_t = torch.optim.Adam(teacher.parameters())

    def plain(model, opt):  # type: ignore[no-untyped-def]
        opt.zero_grad()
        torch.mean((model(x, ei, ew)[:, 0, :, 0] - y) ** 2).backward()
        opt.step()

    t_names = teacher.temporal_layer_names + teacher.spatial_layer_names
    s_names = student.temporal_layer_names + student.spatial_layer_names
    parts: Dict[str, float] = {}

    def kd_step() -> None:
        t0 = time.perf_counter()
        teacher.eval()
        with torch.no_grad(), FeatureCapture(teacher, t_names, detach=True) as ct:
            y_t = teacher(x, ei, ew)[:, 0, :, 0]
        t1 = time.perf_counter()
        opt_s.zero_grad()
        with FeatureCapture(student, s_names) as cs:
            y_s = student(x, ei, ew)[:, 0, :, 0]
        t2 = time.perf_counter()
        ord_loss, _ = Fd.overseen_response(y_s, y_t, y, 0.17)
        fs, ft = cs.ordered(), ct.ordered()
        tcd = torch.stack([Fd.temporal_correlation(a, b) for a, b in zip(fs[:4], ft[:4])]).mean()
        t3 = time.perf_counter()
        scd = torch.stack([Fd.spatial_correlation(a, b) for a, b in zip(fs[4:], ft[4:])]).mean()
        t4 = time.perf_counter()
        loss = Fd.spatio_temporal_correlation(ord_loss, scd, tcd, 0.047, 0.313)
        loss.backward()
        opt_s.step()
        t5 = time.perf_counter()
        for key, value in (("teacher forward", t1 - t0), ("student forward", t2 - t1),
                           ("L_ORD + L_TCD forward", t3 - t2), ("L_SCD forward", t4 - t3),
                           ("backward (all) + step", t5 - t4)):
            parts[key] = min(parts.get(key, float("inf")), value)

    rows = {
        "plain student step": min(time_call(lambda: plain(student, opt_s), repeats)),
        "plain teacher training step": min(time_call(lambda: plain(teacher, opt_t), repeats)),
        "KD step (L_STCD)": min(time_call(kd_step, repeats)),
    }
    log(f"graph: {n} nodes, {ei.size(1):,} edges; batch {batch}; best of {repeats}; "
        f"{torch.get_num_threads()} threads")
    log("\n| step | seconds | vs plain student | vs teacher step |")
    log("|---|---:|---:|---:|")
    for name, sec in rows.items():
        log(f"| {name} | {sec:.3f} | {sec / rows['plain student step']:.1f}x | "
            f"{sec / rows['plain teacher training step']:.2f}x |")
    log("\n| KD step part | seconds |")
    log("|---|---:|")
    for name, sec in parts.items():
        log(f"| {name} | {sec:.3f} |")
    mem = scd_peak_memory(batch, 10, 228, 32)
    log(f"\nL_SCD forward + backward at [B, T, N, C] = [{batch}, 10, 228, 32]: "
        f"{mem['seconds']:.2f} s, peak memory {mem['growth_mb']:.0f} MB above the inputs "
        f"(process peak {mem['process_peak_mb']:.0f} MB)")
    return {**rows, **{f"part: {k}": v for k, v in parts.items()}, **mem}
