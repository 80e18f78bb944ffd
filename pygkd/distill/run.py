"""``pygkd distill``: train a student from a frozen teacher checkpoint with one KD loss."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from pygkd.data.windows import ForecastDataset
from pygkd.distill.objective import DistillObjective, teacher_share
from pygkd.errors import InputError
from pygkd.runtime.distributed import start_runtime
from pygkd.train.checkpoint import load_model
from pygkd.train.config import RunConfig
from pygkd.train.evaluate import evaluate_model
from pygkd.train.runs import (
    build_dataset,
    build_model,
    checkpoint_data_config,
    data_info,
    end_training,
    finish_run,
    start_run_dir,
)
from pygkd.train.trainer import Trainer

__all__ = ["run_distill"]

logger = logging.getLogger(__name__)


def run_distill(config: RunConfig, teacher_path: Path, out_dir: Path, fresh: bool = False,
                progress: bool = True,
                dataset: ForecastDataset | None = None) -> dict[str, Any]:
    """Distil the student of ``config.model`` from the teacher at ``teacher_path``.

    The data are the teacher's (same graph, split and normalisation). ``metrics.json`` adds the
    teacher's own test errors and, for the ORD-based losses, the share of training entries that
    followed the teacher (paper Table 3).
    """
    teacher, payload = load_model(teacher_path)
    config = dataclasses.replace(config, data=checkpoint_data_config(payload))
    config.distill.teacher = str(teacher_path)
    dataset = dataset or build_dataset(config.data)
    if dataset.num_nodes != teacher.num_nodes:
        raise InputError(f"{teacher_path}: the teacher has {teacher.num_nodes} nodes but the "
                         f"data have {dataset.num_nodes}")
    saved_scaler = payload.get("data", {}).get("scaler")
    if saved_scaler and abs(saved_scaler["mean"] - dataset.scaler.mean) > 1e-6 * max(
            1.0, abs(saved_scaler["mean"])):
        raise InputError(f"{teacher_path}: the teacher was trained on differently normalised "
                         "data (another split or dataset)")
    device, dist = start_runtime(config.device)
    out_dir = start_run_dir(config, out_dir, fresh, dist)
    student = build_model(config, dataset.num_nodes)
    t_params = sum(p.numel() for p in teacher.parameters())
    s_params = sum(p.numel() for p in student.parameters())
    if t_params <= s_params:
        logger.warning(f"{teacher_path}: the teacher has {t_params:,} parameters, no more than "
                       f"the student's {s_params:,}; is it a student checkpoint?")
    meta = {"run": config.to_dict(), "model_config": student.config(),
            "data": data_info(config.data, dataset)}
    objective = DistillObjective(teacher, config.distill, dataset.edge_index, dataset.edge_weight,
                                 num_windows=dataset.num_samples("train"),
                                 cache_gb=config.distill.cache_gb, seed=config.seed)
    trainer = Trainer(student, dataset, config.train, out_dir, seed=config.seed,
                      step_loss=objective, meta=meta, device=device, distributed=dist)
    trainer.fit(progress=progress)
    if not end_training(dist):
        return {}
    dataset = trainer.dataset
    extra: dict[str, Any] = {"distill": dataclasses.asdict(config.distill),
                             "teacher_test": evaluate_model(objective.teacher, dataset, "test")}
    if config.distill.loss in ("ord", "tcd", "scd", "stcd"):
        extra["teacher_share"] = teacher_share(
            teacher, dataset.batches("train", config.train.eval_batch_size),
            config.distill.alpha1, dataset.edge_index, dataset.edge_weight)
    return finish_run(trainer, config, out_dir, extra)
