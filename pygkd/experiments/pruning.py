"""``pygkd prune``: Algorithm 1 on a trained model, fine-tuning, export and evaluation.

The run folder holds ``pruning/last.pt`` (the pruning phase as it goes: an interrupted run
resumes it), ``pruned.pt`` (the model right after the pruning phase, with its masks),
``last.pt`` / ``model.pt`` of the fine-tuning, ``channels.json`` (the channels each layer
kept) and ``metrics.json``. In structured mode ``model.pt`` is the physically smaller model
(STGCN, GConvGRU, TGCN or A3TGCN), which ``pygkd evaluate``, ``predict`` and ``export`` load
by themselves.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pygkd.distill.objective import DistillObjective
from pygkd.errors import InputError
from pygkd.files import write_atomic
from pygkd.prune.group_masks import GroupMasks
from pygkd.prune.masks import ChannelMasks, WeightMasks
from pygkd.prune.pruner import KDPruner, pruned_share
from pygkd.runtime.distributed import start_runtime
from pygkd.train.checkpoint import cpu_state, load_checkpoint, load_model, save_checkpoint
from pygkd.train.config import RunConfig
from pygkd.train.runs import (
    build_dataset,
    checkpoint_data_config,
    data_info,
    end_training,
    finish_run,
    start_run_dir,
)
from pygkd.train.trainer import StepLoss, Trainer, next_step_mse

logger = logging.getLogger(__name__)

__all__ = ["run_prune", "channel_report", "PRUNING_SHUFFLE"]

#: The pruning phase shuffles epoch ``e`` with seed ``seed * 100003 + 7919 * e`` (other
#: batches than the fine-tuning's), as it did when it ran its own loop: the published
#: Table 7 / 8 and quickstart runs reproduce.
PRUNING_SHUFFLE = 7919


def channel_report(masks: ChannelMasks | GroupMasks) -> str:
    """A markdown table of the channels each hidden layer kept (the found architecture)."""
    lines = ["| layer | kept / original | kept channels |", "|---|---:|---|"]
    for g in masks.groups:
        kept = masks.kept_indices()[g.name]
        lines.append(f"| {g.name} | {len(kept)} / {g.size} | {', '.join(map(str, kept))} |")
    return "\n".join(lines)


def _same_graph(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("name", "split", "options", "num_nodes")
    return all(a.get(k) == b.get(k) for k in keys)


def run_prune(config: RunConfig, model_path: Path, teacher_path: Path | None, out_dir: Path,
              fresh: bool = False, progress: bool = True) -> dict[str, Any]:
    """Prune the model at ``model_path`` by Algorithm 1 (``config.prune``), fine-tune, export.

    The model is an STGCN or a zoo forecaster with channel groups (``gconvgru``, ``tgcn``,
    ``a3tgcn``); with ``method="kd"`` the teacher is ``teacher_path``, by default the model
    itself. The pruning phase runs inside a :class:`~pygkd.train.Trainer` (resumable, its
    ``last.pt`` in ``out_dir/pruning``) with a :class:`~pygkd.prune.KDPruner` callback."""
    pcfg = config.prune.validate()
    base, base_payload = load_model(model_path)
    from pygkd.nn.models.registry import MODELS, model_family

    family = model_family(base)
    if not MODELS[family].prunable:
        prunable = ", ".join(k for k, v in MODELS.items() if v.prunable)
        raise InputError(f"{model_path}: Algorithm 1 prunes the channel groups of {prunable} "
                         f"models (got a {family} model); distil a smaller {family} instead "
                         "(pygkd distill --student-model)")
    if pcfg.method == "kd" and teacher_path is None:
        teacher_path = model_path
        logger.info(f"distilling from {model_path} itself (no --teacher given)")
    teacher = None
    if teacher_path is not None:
        teacher, teacher_payload = load_model(teacher_path)
        if teacher.num_nodes != base.num_nodes or not _same_graph(
                teacher_payload.get("data", {}), base_payload.get("data", {})):
            raise InputError(f"{teacher_path}: the teacher and {model_path} were trained on "
                             "different graphs or data; they must match")
    config = dataclasses.replace(config, data=checkpoint_data_config(base_payload))
    dataset = build_dataset(config.data)
    if dataset.num_nodes != base.num_nodes:
        raise InputError(f"{model_path}: the model has {base.num_nodes} nodes but the data "
                         f"have {dataset.num_nodes}")
    device, dist = start_runtime(config.device)
    if fresh and dist.is_main:
        (Path(out_dir) / "pruned.pt").unlink(missing_ok=True)
        (Path(out_dir) / "pruning" / "last.pt").unlink(missing_ok=True)
    out_dir = start_run_dir(config, out_dir, fresh, dist)
    resolved = config.to_dict()
    base_params = sum(p.numel() for p in base.parameters())
    if not dist.is_main:
        progress = False

    step_loss: StepLoss
    if pcfg.method == "kd" and teacher is not None:
        objective = DistillObjective(teacher, config.distill, dataset.edge_index,
                                     dataset.edge_weight, num_windows=dataset.num_samples("train"),
                                     cache_gb=config.distill.cache_gb, seed=config.seed)
        step_loss = objective
    else:
        step_loss = next_step_mse(dataset.edge_index, dataset.edge_weight)

    pruned_file = out_dir / "pruned.pt"
    report: dict[str, Any] = {}
    pruner = KDPruner.from_config(base, pcfg)
    if pruned_file.exists():
        saved = load_checkpoint(pruned_file)
        base.load_state_dict(saved["base_state"])
        if "pruner" in saved:
            pruner.load_state_dict(saved["pruner"])
        else:  # written before the pruner existed: masks and history only
            pruner.load_state_dict({"masks": saved["masks"], "scores": {}, "count": 0,
                                    "steps": 0, "share": 0.0, "history": saved["history"]})
            pruner.share = pruned_share(pruner.masks, base_params)
        logger.info(f"pruning phase done earlier: reusing {pruned_file}")
    else:
        logger.info(f"Algorithm 1 ({pcfg.method}, {pcfg.mode}): pruning {pcfg.target:.0%} of "
                    f"{base_params:,} parameters")
        phase = dataclasses.replace(config.train, epochs=pcfg.max_epochs,
                                    patience=pcfg.max_epochs + 1)
        seed = config.seed
        pruning = Trainer(base, dataset, phase, out_dir / "pruning", seed=seed,
                          step_loss=step_loss, meta={"run": resolved}, device=device,
                          distributed=dist, callbacks=[pruner], restore_best=False,
                          shuffle_seed=lambda epoch: seed * 100003 + PRUNING_SHUFFLE * epoch)
        pruning.fit(progress=progress)
        if not pruner.done:
            logger.warning(f"target {pcfg.target:.1%} not reached: stopped after max_epochs="
                           f"{pcfg.max_epochs} at {pruner.share:.1%} pruned (this architecture "
                           "cannot be pruned further, or raise max_epochs)")
        if dist.is_main:
            save_checkpoint(pruned_file, {
                "kind": "pruning-state", "base_config": base.config(),
                "data": base_payload.get("data"), "base_state": cpu_state(base),
                "mode": pcfg.mode, "pruner": pruner.state_dict()})
        dist.barrier()
    pruner.detach()
    masks, history = pruner.masks, pruner.history
    share_after_pruning = pruned_share(masks, base_params)

    student: Any  # a zoo model: config() rebuilds it
    if not isinstance(masks, WeightMasks):
        student = masks.export()
        report = {"kept_channels": masks.kept_indices(), "sizes": masks.sizes()}
        if dist.is_main:
            write_atomic(out_dir / "channels.json", json.dumps(report, indent=2))
        logger.info("\nChannels kept per layer:\n" + channel_report(masks))
        after_step: Callable[[], None] | None = None
    else:
        student = base
        masks.apply()
        after_step = masks.apply
    meta = {"run": resolved, "model_config": student.config(),
            "data": data_info(config.data, dataset)}
    tcfg = dataclasses.replace(config.train, epochs=max(1, pcfg.finetune_epochs))
    trainer = Trainer(student, dataset, tcfg, out_dir, seed=config.seed, step_loss=step_loss,
                      meta=meta, after_step=after_step, device=device, distributed=dist)
    if pcfg.finetune_epochs > 0:
        logger.info(f"\nfine-tuning for up to {pcfg.finetune_epochs} epochs")
        trainer.fit(progress=progress)
    if after_step is not None:
        after_step()
    if not end_training(dist):
        return {}
    nonzero = sum(int((p != 0).sum()) for p in student.parameters())
    extra = {
        "prune": dataclasses.asdict(pcfg), "base_parameters": base_params,
        "pruned_share": 1.0 - (sum(p.numel() for p in student.parameters())
                               if pcfg.mode == "structured" else nonzero) / base_params,
        "pruned_share_after_pruning": share_after_pruning,
        "nonzero_parameters": nonzero, "pruning_history": history, **report,
    }
    return finish_run(trainer, config, out_dir, extra)
