"""Pruning benchmark: the model a structured run pruned, its masked form and the exported
smaller STGCN (and optionally a hand-designed student), side by side: outputs, parameters,
FLOPs and latency on the same batch."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import torch

from pygkd.bench.timing import time_call
from pygkd.errors import InputError
from pygkd.nn.models.stgcn import STGCN
from pygkd.prune.masks import ChannelMasks
from pygkd.train.checkpoint import load_checkpoint, load_model
from pygkd.train.evaluate import count_flops
from pygkd.train.runs import build_dataset, checkpoint_data_config

logger = logging.getLogger(__name__)

__all__ = ["bench_prune"]


def bench_prune(run_dir: Path, student: Path | None = None, batch: int = 1140,
                repeats: int = 10, device: str = "cpu") -> dict[str, Any]:
    """Compare the base model, the masked model and the exported model of a structured run."""
    from pygkd.bench.timing import bench_device

    dev = bench_device(device)
    state = load_checkpoint(Path(run_dir) / "pruned.pt")
    if state.get("mode") != "structured" or "base_config" not in state:
        raise InputError(f"{run_dir}: expected the folder of a structured 'pygkd prune' run")
    base = STGCN.from_config(state["base_config"])
    base.load_state_dict(state["base_state"])
    masks = ChannelMasks(base)
    saved = state["pruner"]["masks"] if "pruner" in state else state["masks"]  # older runs
    for key, value in saved.items():
        masks.keep[key] = value
    exported = masks.export()
    dataset = build_dataset(checkpoint_data_config(state, what=str(run_dir)))
    dataset = dataset.to(dev)
    x, _ = dataset.batch("test", torch.arange(batch) % dataset.num_samples("test"))
    ei, ew = dataset.edge_index, dataset.edge_weight
    models = {"model pruned from (base)": base, "exported pruned STGCN": exported}
    if student is not None:
        models["hand-designed student"] = load_model(student)[0]
    for model in models.values():  # operators cached once, as in a served model
        model.to(dev).cache_graph(ei, ew)
    with torch.no_grad():
        with masks:
            masked_out = base(x[:64], ei, ew)
        diff = float((exported(x[:64], ei, ew) - masked_out).abs().max())
        rows: dict[str, dict[str, Any]] = {}
        for name, model in models.items():
            model.eval()
            times = time_call(functools.partial(model, x, ei, ew), repeats, device=dev)
            rows[name] = {"parameters": sum(p.numel() for p in model.parameters()),
                          "flops_per_sample": count_flops(model, x[:1], ei, ew),
                          "latency_s": sum(times) / len(times), "blocks": model.block_channels}
        with masks:
            times = time_call(lambda: base(x, ei, ew), repeats, device=dev)
        rows["masked base (same function as exported)"] = {
            **rows["model pruned from (base)"], "latency_s": sum(times) / len(times)}
    ref = rows["model pruned from (base)"]["latency_s"]
    logger.info(f"{run_dir}: batch {batch}, mean of {repeats} runs, {torch.get_num_threads()} "
                "threads, "
        f"device {dev}")
    logger.info("\n| model | blocks | parameters | FLOPs / sample | latency (s) | vs base |")
    logger.info("|---|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        logger.info(f"| {name} | {r['blocks']} | {r['parameters']:,} | {r['flops_per_sample']:,} | "
                    f"{r['latency_s']:.4f} | {r['latency_s'] / ref:.1%} |")
    if student is not None:
        ratio = (rows["exported pruned STGCN"]["latency_s"]
                 / rows["hand-designed student"]["latency_s"])
        logger.info(f"\nexported pruned / hand-designed student latency: {ratio:.2f}x")
    logger.info(f"max |exported - masked| on 64 test windows: {diff:.2e}")
    return {"rows": rows, "max_abs_diff": diff}
