"""Training and evaluation: configuration, loop, checkpoints, metrics and whole runs."""

from pygkd.train.checkpoint import load_checkpoint, load_model, save_checkpoint
from pygkd.train.config import (
    DataConfig,
    DistillConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    load_recipe,
)
from pygkd.train.evaluate import (
    autoregressive_forecast,
    count_flops,
    count_parameters,
    evaluate_model,
    forecast_split,
    measure_latency,
    persistence_split,
)
from pygkd.train.runs import build_dataset, build_model, run_evaluate, run_train
from pygkd.train.trainer import Trainer, next_step_mse

__all__ = [
    "DataConfig",
    "DistillConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "Trainer",
    "autoregressive_forecast",
    "build_dataset",
    "build_model",
    "count_flops",
    "count_parameters",
    "evaluate_model",
    "forecast_split",
    "load_checkpoint",
    "load_model",
    "load_recipe",
    "measure_latency",
    "next_step_mse",
    "persistence_split",
    "run_evaluate",
    "run_train",
    "save_checkpoint",
]
