"""``pygkd distill``: train a student from a frozen teacher checkpoint with one KD loss."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pygkd.data.validate import match_sensors
from pygkd.data.windows import ForecastDataset
from pygkd.distill.diagnostics import inert_terms
from pygkd.distill.objective import DistillObjective, MultiTeacherObjective, teacher_share
from pygkd.distill.registry import check_loss
from pygkd.errors import InputError
from pygkd.runtime.distributed import start_runtime
from pygkd.train.checkpoint import load_model
from pygkd.train.config import RunConfig
from pygkd.train.evaluate import evaluate_model
from pygkd.train.runs import (
    build_dataset,
    build_model,
    check_input_channels,
    checkpoint_data_config,
    data_info,
    end_training,
    finish_run,
    start_run_dir,
)
from pygkd.train.trainer import Trainer

__all__ = ["student_width", "STUDENT_SHARE", "run_distill"]

logger = logging.getLogger(__name__)


#: The default student's size against its teacher's, as the paper's (9,283 / 320,143 = 2.9 %).
STUDENT_SHARE = 0.03


def student_width(config: RunConfig, dataset: ForecastDataset, teacher_params: int,
                  share: float = STUDENT_SHARE) -> int:
    """The hidden width of ``config.model``'s family whose model is closest to ``share`` of
    ``teacher_params`` parameters (a zoo student without ``--hidden``), found by bisection
    on the width (parameters grow with it)."""
    target = share * teacher_params

    def size(hidden: int) -> int:
        probe = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                      hidden=hidden))
        model = build_model(probe, dataset.num_nodes, n_in=dataset.n_in,
                            in_channels=dataset.in_channels)
        return sum(p.numel() for p in model.parameters())

    low, high = 1, 1
    while size(high) < target and high < 4096:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if size(mid) < target else (low, mid)
    best = min((low, high), key=lambda h: abs(size(h) - target))
    logger.info(f"student {config.model.name}: hidden {best} ({size(best):,} parameters, "
                f"{size(best) / teacher_params:.1%} of the teacher's {teacher_params:,}); "
                "--hidden chooses another width")
    return best


def run_distill(config: RunConfig, teacher_path: Path | Sequence[Path], out_dir: Path,
                fresh: bool = False, progress: bool = True,
                dataset: ForecastDataset | None = None,
                callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Distil the student of ``config.model`` from the teacher at ``teacher_path``, or from
    several teachers (a sequence of paths; ``config.distill.teacher_weights`` weighs their
    losses, :class:`~pygkd.distill.objective.MultiTeacherObjective`).

    The data are the (first) teacher's (same graph, split and normalisation); every teacher
    must have been trained on them. ``metrics.json`` adds the teachers' own test errors and,
    for the ORD-based losses, the share of training entries that followed the teacher
    (paper Table 3). ``callbacks`` go to the :class:`~pygkd.train.trainer.Trainer` (e.g. a
    tuning study's reporter).
    """
    paths = [Path(teacher_path)] if isinstance(teacher_path, (str, Path)) else \
        [Path(p) for p in teacher_path]
    spec = check_loss(config.distill.loss)
    if not paths:
        raise InputError("--teacher: give at least one teacher checkpoint")
    loaded = [load_model(p) for p in paths]
    teacher, payload = loaded[0]
    weights = config.distill.teacher_weights
    if weights is not None and len(paths) == 1:
        raise InputError("--teacher-weights: weighs several --teacher against each other; "
                         f"with one teacher ({paths[0]}) leave it out")
    if weights is not None and (len(weights) != len(paths) or sum(weights) <= 0):
        raise InputError(f"--teacher-weights: expected {len(paths)} non-negative weights with "
                         f"a positive sum, one per --teacher (got {list(weights)})")
    config = dataclasses.replace(config, data=checkpoint_data_config(
        payload, what=f"the teacher {paths[0]}"))
    config.distill.teacher = str(paths[0])
    config.distill.teachers = [str(p) for p in paths] if len(paths) > 1 else None
    dataset = dataset or build_dataset(config.data)
    for path, (model, saved) in zip(paths, loaded, strict=True):
        if dataset.num_nodes != model.num_nodes:
            raise InputError(f"{path}: the teacher has {model.num_nodes} nodes but the "
                             f"data have {dataset.num_nodes}")
        match_sensors(saved.get("data", {}).get("sensor_ids"), dataset.sensor_ids,
                      f"{path} (teacher)", "the data's")
        check_input_channels(model, dataset, f"{path} (teacher)")
        saved_scaler = saved.get("data", {}).get("scaler")
        if saved_scaler and abs(saved_scaler["mean"] - dataset.scaler.mean) > 1e-6 * max(
                1.0, abs(saved_scaler["mean"])):
            raise InputError(f"{path}: the teacher was trained on differently normalised "
                             "data (another split or dataset) than the first teacher")
    if config.model.name not in ("stgcn",) and config.model.hidden is None:
        t_params = sum(p.numel() for p in teacher.parameters())
        config.model.hidden = student_width(config, dataset, t_params)
    device, dist = start_runtime(config.device)
    out_dir = start_run_dir(config, out_dir, fresh, dist)
    student = build_model(config, dataset.num_nodes, n_in=dataset.n_in,
                          in_channels=dataset.in_channels)
    s_params = sum(p.numel() for p in student.parameters())
    for path, (model, _) in zip(paths, loaded, strict=True):
        t_params = sum(p.numel() for p in model.parameters())
        if t_params <= s_params:
            logger.warning(f"{path}: the teacher has {t_params:,} parameters, no more than "
                           f"the student's {s_params:,}; is it a student checkpoint?")
    meta = {"run": config.to_dict(), "model_config": student.config(),
            "data": data_info(config.data, dataset)}
    objectives = [DistillObjective(model, config.distill, dataset.edge_index,
                                   dataset.edge_weight, num_windows=dataset.num_samples("train"),
                                   cache_gb=config.distill.cache_gb / len(paths),
                                   seed=config.seed) for model, _ in loaded]
    objective: DistillObjective | MultiTeacherObjective = objectives[0] if len(paths) == 1 \
        else MultiTeacherObjective(objectives, weights)
    if not dist.enabled:  # once an epoch, at its first step (not under DDP: see diagnostics)
        steps = math.ceil(dataset.num_samples("train") / config.train.batch_size)
        objective.diagnose_every = min(steps, config.train.max_batches or steps)
    # a loss that learns (a FitNets adapter) makes its parameters on one batch, so that the
    # optimiser trains them with the student's
    x0, y0 = dataset.batch("train", torch.arange(min(2, dataset.num_samples("train"))))
    dtype = next(student.parameters()).dtype
    with torch.random.fork_rng(devices=[]):
        objective.prepare(student, x0.to(dtype), y0.to(dtype))
    trainer = Trainer(student, dataset, config.train, out_dir, seed=config.seed,
                      step_loss=objective, meta=meta, device=device, distributed=dist,
                      callbacks=callbacks,
                      params=list(student.parameters()) + objective.parameters())
    trainer.fit(progress=progress)
    if not end_training(dist):
        return {}
    inert = inert_terms(trainer.state.history)
    for name, share in inert.items():
        logger.warning(f"L_{name.upper()} contributes {100 * share:.2f} % of the student's "
                       "gradient at most (every epoch below 1 %): raise its weight or drop it")
    dataset = trainer.dataset
    extra: dict[str, Any] = {"distill": dataclasses.asdict(config.distill),
                             "inert_terms": inert,
                             "teacher_test": evaluate_model(objectives[0].teacher, dataset,
                                                            "test")}
    if len(paths) > 1:
        extra["teachers_test"] = [evaluate_model(o.teacher, dataset, "test")
                                  for o in objectives]
    if "alpha1" in spec.hyperparameters:  # the L_ORD-based losses
        shares = [teacher_share(o.teacher, dataset.batches("train", config.train.eval_batch_size),
                                config.distill.alpha1, dataset.edge_index, dataset.edge_weight)
                  for o in objectives]
        extra["teacher_share"] = shares[0]
        if len(paths) > 1:  # each teacher's own share (Table 3), in --teacher order
            extra["teacher_shares"] = shares
    return finish_run(trainer, config, out_dir, extra)
