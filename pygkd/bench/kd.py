"""Distillation cost benchmark: one KD training step against plain student and teacher steps,
its parts, and ``L_SCD`` forward + backward time and peak memory (printed side by side)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from pygkd.bench.timing import bench_graph, time_call
from pygkd.data.preprocessing import adjacency_to_edges
from pygkd.distill import FeatureCapture
from pygkd.distill import functional as Fd
from pygkd.distill.objective import DistillObjective
from pygkd.nn.models.stgcn import PRESETS, STGCN
from pygkd.train.config import DistillConfig

__all__ = ["bench_kd", "scd_peak_memory"]

logger = logging.getLogger(__name__)

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
                    channels: int = 32) -> dict[str, float]:
    """``L_SCD`` forward + backward in a fresh process: seconds, and the peak resident memory
    (MB) above what the process held with its inputs allocated (sampled every 0.5 ms from
    ``/proc/self/statm``, Linux only), and the process peak."""
    out = subprocess.run([sys.executable, "-c", _SCD_SCRIPT, str(batch), str(steps), str(nodes),
                          str(channels)], capture_output=True, text=True, check=True)
    seconds, growth, peak = (float(v) for v in out.stdout.split())
    return {"seconds": seconds, "growth_mb": growth, "process_peak_mb": peak}


def bench_kd(batch: int = 50, repeats: int = 3, w228: Path | None = None,
             device: str = "cpu", data_dir: Path | None = None,
             synthetic: bool = False) -> dict[str, float]:
    """Time one ``L_STCD`` training step of the student against plain steps, side by side.

    The KD step is timed with the teacher run on the fly (the first epoch) and served from the
    :class:`~pygkd.distill.teacher.TeacherCache` (every later epoch); its parts are timed on
    the on-the-fly path. Graph: PeMSD7(M) (``W_228.csv``, sigma2 = 0.1;
    :func:`~pygkd.bench.timing.bench_graph`).
    """
    adjacency, graph = bench_graph("pemsd7m", data_dir, synthetic, 0.1, w228)
    from pygkd.bench.timing import bench_device

    dev = bench_device(device)
    ei, ew = (t.to(dev) for t in adjacency_to_edges(adjacency))
    n = adjacency.shape[0]
    torch.manual_seed(0)
    teacher = STGCN(n, PRESETS["teacher"]).to(dev).cache_graph(ei, ew)
    student = STGCN(n, PRESETS["student"]).to(dev).cache_graph(ei, ew)
    trainable_teacher = STGCN(n, PRESETS["teacher"]).to(dev).cache_graph(ei, ew)
    x = torch.randn(batch, 12, n, 1).to(dev)
    y = torch.randn(batch, 9, n).to(dev)
    index = torch.arange(batch)
    opt_s = torch.optim.Adam(student.parameters())
    opt_t = torch.optim.Adam(trainable_teacher.parameters())
    config = DistillConfig(loss="stcd", alpha1=0.17, alpha2=0.047, alpha3=0.313)
    on_the_fly = DistillObjective(teacher, config, ei, ew)
    cached = DistillObjective(teacher, config, ei, ew, num_windows=batch, cache_gb=8.0)
    cached(student, x, y, index)  # fills the cache, as the first epoch does

    def plain(model: nn.Module, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad()
        torch.mean((model(x, ei, ew)[:, 0, :, 0] - y[:, 0]) ** 2).backward()
        opt.step()

    def kd(objective: DistillObjective) -> None:
        opt_s.zero_grad()
        objective(student, x, y, index)[0].backward()
        opt_s.step()

    rows = {
        "plain student step": min(time_call(lambda: plain(student, opt_s), repeats)),
        "plain teacher training step": min(time_call(lambda: plain(trainable_teacher, opt_t),
                                                     repeats)),
        "KD step, teacher on the fly (epoch 1)": min(time_call(lambda: kd(on_the_fly), repeats)),
        "KD step, teacher cached (later epochs)": min(time_call(lambda: kd(cached), repeats)),
    }
    pairs = on_the_fly.layer_pairs(student)
    teach = on_the_fly.terms[0].teacher_targets(x, pairs, "distances")
    captured: dict[str, Tensor] = {}

    def student_forward() -> None:
        with FeatureCapture(student, [p[1] for p in pairs]) as cap:
            captured["y"] = student(x, ei, ew)[:, 0, :, 0]
        captured.update(cap.features)

    def losses(kind: str) -> Tensor:
        parts = [(captured[s], teach[t]) for k, s, t in pairs if k == kind]
        fn = Fd.temporal_correlation if kind == "t" else Fd.spatial_correlation
        return torch.stack([fn(a, teacher_distances=d) for a, d in parts]).mean()

    def backward() -> None:
        student_forward()
        ord_loss = Fd.overseen_response(captured["y"], teach["y"], y[:, 0], 0.17)
        Fd.spatio_temporal_correlation(ord_loss, losses("s"), losses("t"), 0.047,
                                       0.313).backward()

    student_forward()
    parts = {
        "teacher forward + its TCD/SCD distances": min(time_call(
            lambda: on_the_fly.terms[0].teacher_targets(x, pairs, "distances"), repeats)),
        "student forward (hooked)": min(time_call(student_forward, repeats)),
        "L_ORD": min(time_call(lambda: Fd.overseen_response(captured["y"], teach["y"], y[:, 0],
                                                            0.17), repeats)),
        f"L_TCD forward ({sum(p[0] == 't' for p in pairs)} layers)":
            min(time_call(lambda: losses("t"), repeats)),
        f"L_SCD forward ({sum(p[0] == 's' for p in pairs)} layers)":
            min(time_call(lambda: losses("s"), repeats)),
        "student forward + all losses + backward": min(time_call(backward, repeats)),
    }
    base_s, base_t = rows["plain student step"], rows["plain teacher training step"]
    logger.info(f"{graph}: {n} nodes, {ei.size(1):,} edges; batch {batch}; best of {repeats}; "
        f"{torch.get_num_threads()} threads; device {dev}; teacher {PRESETS['teacher']}, student "
        f"{PRESETS['student']}")
    logger.info("\n| step | seconds | vs plain student step | vs plain teacher step |")
    logger.info("|---|---:|---:|---:|")
    for name, sec in rows.items():
        logger.info(f"| {name} | {sec:.3f} | {sec / base_s:.1f}x | {sec / base_t:.2f}x |")
    logger.info("\n| KD step part (teacher on the fly) | seconds |")
    logger.info("|---|---:|")
    for name, sec in parts.items():
        logger.info(f"| {name} | {sec:.3f} |")
    skd = _skd_rows(student, teacher, x, y, ei, ew, repeats)
    logger.info("\n| L_SKD forward + backward (last blocks' features) | seconds |")
    logger.info("|---|---:|")
    for name, sec in skd.items():
        logger.info(f"| {name} | {sec:.3f} |")
    before, today = skd["torch.cdist and autograd (before)"], skd["fused gradient (today)"]
    logger.info(f"L_SKD speed-up: {before / today:.2f}x")
    mem = scd_peak_memory(batch, 10, 228, 32)
    logger.info(f"\nL_SCD forward + backward at [B, T, N, C] = [{batch}, 10, 228, 32]: "
                f"{mem['seconds']:.2f} s, peak memory {mem['growth_mb']:.0f} MB above the inputs "
                f"(process peak {mem['process_peak_mb']:.0f} MB)")
    return {**rows, **{f"part: {k}": v for k, v in parts.items()},
            **{f"skd: {k}": v for k, v in skd.items()}, **mem}


def _skd_rows(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, ei: Tensor,
              ew: Tensor, repeats: int) -> dict[str, float]:
    """Seconds of ``L_SKD``'s forward and backward on the two models' last-block features
    ``[B, T, N, C]``: today's fused gradient against the ``torch.cdist`` version."""
    from pygkd.bench.reference import structural_kd_cdist

    s_name, t_name = str(student.hidden_layer_name), str(teacher.hidden_layer_name)
    with torch.no_grad(), FeatureCapture(teacher, [t_name]) as t_cap:
        teacher(x, ei, ew)
    with torch.no_grad(), FeatureCapture(student, [s_name]) as s_cap:
        student(x, ei, ew)
    h_s = s_cap.features[s_name].detach().requires_grad_()
    h_t = t_cap.features[t_name]

    def step(loss) -> None:  # type: ignore[no-untyped-def]
        h_s.grad = None
        loss(h_s, h_t, y[:, 0], y[:, 0], 0.333).mean().backward()

    logger.info(f"L_SKD features: student {tuple(h_s.shape)}, teacher {tuple(h_t.shape)}")
    return {
        "torch.cdist and autograd (before)": min(time_call(lambda: step(structural_kd_cdist),
                                                           repeats)),
        "fused gradient (today)": min(time_call(lambda: step(Fd.structural_kd), repeats)),
    }
