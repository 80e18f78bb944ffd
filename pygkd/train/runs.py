"""Whole runs: build data and model from a :class:`RunConfig`, train, evaluate, write results.

A run folder holds:

- ``config.yaml``: the resolved configuration (recipe + overrides + defaults);
- ``last.pt``: resumable training state, rewritten atomically after every epoch;
- ``model.pt``: the best model with everything ``pygkd evaluate`` needs;
- ``metrics.json``: test (and validation) MAE / RMSE / MAPE at 15/30/45 min, the persistence
  baseline, parameters, FLOPs, latency and the per-epoch history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from pygkd.data.datasets import load_forecast_dataset
from pygkd.data.validate import fingerprint, match_sensors, verify_fingerprints
from pygkd.data.windows import ForecastDataset
from pygkd.errors import InputError
from pygkd.files import probe_folder, read_json, write_atomic
from pygkd.metrics import horizon_metrics
from pygkd.nn.models.registry import build_forecaster, model_family
from pygkd.nn.models.stgcn import resolve_blocks
from pygkd.runtime.device import resolve_device
from pygkd.runtime.distributed import DistributedContext, start_runtime
from pygkd.train.checkpoint import cpu_state, load_model, save_checkpoint
from pygkd.train.config import DataConfig, RunConfig, config_changes, validated
from pygkd.train.evaluate import (
    count_flops,
    count_parameters,
    evaluate_model,
    measure_latency,
    persistence_split,
)
from pygkd.train.trainer import Trainer, place_model

__all__ = ["build_dataset", "build_model", "run_train", "run_evaluate", "model_summary",
           "write_json", "prepare_run_dir", "start_run_dir", "end_training", "finish_run",
           "data_info", "evaluation_metrics", "checkpoint_data_config",
           "check_same_config", "reuse_finished", "REUSE_IGNORES", "check_input_channels",
           "training_range"]


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (:func:`pygkd.files.write_atomic`)."""
    write_atomic(path, json.dumps(payload, indent=2, default=float))


def build_dataset(cfg: DataConfig) -> ForecastDataset:
    """The preprocessed windows of ``cfg`` (name, folder, split, options, window lengths,
    horizons, missing-value policy, sampling step)."""
    return load_forecast_dataset(cfg.name, cfg.root, cfg.split, cfg.options,
                                 n_in=cfg.in_steps, n_out=cfg.out_steps,
                                 horizons=tuple(cfg.horizons) if cfg.horizons else None,
                                 missing=cfg.missing, step=cfg.step, inputs=cfg.inputs)


def build_model(config: RunConfig, num_nodes: int, n_in: int = 12,
                in_channels: int = 1) -> Any:
    """The model of ``config.model`` (any family of :data:`pygkd.nn.models.MODELS`), built by
    :func:`~pygkd.nn.models.build_forecaster` and initialised from ``config.seed`` (global
    RNG untouched). Defaults a family does not use (``kernel_size``, ``dropout`` of a
    recurrent family) are left out; a value set for such an option is an error."""
    from pygkd.nn.models.registry import model_options
    from pygkd.train.config import ModelConfig

    m = config.model
    defaults = ModelConfig()
    options: dict[str, Any] = {"n_in": n_in, "in_channels": in_channels, "hidden": m.hidden,
                               "layers": m.layers, "K": m.K, "kernel_size": m.kernel_size,
                               "dropout": m.dropout}
    if m.name == "stgcn":
        blocks = [list(b) for b in resolve_blocks(m.preset, m.blocks)]
        blocks[0][0] = in_channels
        options["blocks"] = blocks
        del options["in_channels"]
    accepted = model_options(m.name)
    unused_defaults = {"K": defaults.K, "kernel_size": defaults.kernel_size,
                       "dropout": defaults.dropout, "in_channels": 1}
    for key, default in unused_defaults.items():
        if key not in accepted and options.get(key) == default:
            options.pop(key, None)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        try:
            return build_forecaster(m.name, num_nodes, **options)
        except ValueError as err:
            raise InputError(f"model ({m.name}): {err}") from None


def check_input_channels(model: nn.Module, dataset: ForecastDataset, source: str) -> None:
    """One line when ``model`` reads another number of input channels than ``dataset``'s
    windows carry (the forecast quantity and the extra ``--inputs``)."""
    expected = int(getattr(model, "in_channels", dataset.in_channels))
    if expected != dataset.in_channels:
        given = ", ".join(dataset.input_names) or "none"
        raise InputError(f"{source}: the model reads {expected} input channel(s) but the data "
                         f"give {dataset.in_channels} (the forecast quantity and --inputs: "
                         f"{given}); use the inputs it was trained with")


def checkpoint_data_config(payload: dict[str, Any],
                           overrides: dict[str, Any] | None = None,
                           what: str = "the model") -> DataConfig:
    """The dataset a checkpoint's model was trained on (the one place a run's data are
    rebuilt from a checkpoint), with ``overrides`` (``name``, ``root``, ``split``,
    ``options``) applied; a new ``name`` drops the saved loader options.

    A stored path is data, not an instruction: unless ``overrides`` name the data (``name``,
    ``root`` or a ``graph`` option), the files the model was trained on must still have
    their stored size and SHA-256 (an error naming the file otherwise)."""
    saved = payload.get("data", {}) or {}
    explicit = bool({"name", "root"} & set(overrides or {})) or \
        "graph" in ((overrides or {}).get("options") or {})
    if not explicit and saved.get("files"):
        verify_fingerprints(saved["files"], what)
    base: dict[str, Any] = {"name": saved.get("name", "synthetic"), "root": saved.get("root"),
                            "split": saved.get("split"),
                            "options": dict(saved.get("options", {}) or {})}
    for key, legacy in (("in_steps", "n_in"), ("out_steps", "n_out"), ("horizons", None),
                        ("missing", None), ("step", None), ("inputs", None)):
        value = saved.get(key, saved.get(legacy) if legacy else None)
        if value is not None:
            base[key] = list(value) if key in ("horizons", "inputs") else value
    section = dict(overrides or {})
    if "name" in section and section["name"] != base["name"]:
        base["options"] = {}
    options = section.pop("options", {}) or {}
    base.update(section)
    base["options"].update(options)
    return validated(DataConfig, base, "data")


def data_info(cfg: DataConfig, dataset: ForecastDataset) -> dict[str, Any]:
    """What a checkpoint needs to rebuild and de-normalise its dataset."""
    from pygkd.data.datasets import DATASETS

    root = str(Path(cfg.root).resolve()) if cfg.root is not None else None
    # own files by absolute path, so runs that read this checkpoint work from any folder
    name = cfg.name if cfg.name in DATASETS or not Path(cfg.name).exists() \
        else str(Path(cfg.name).resolve())
    options = dict(cfg.options)
    if options.get("graph") and Path(options["graph"]).exists():
        options["graph"] = str(Path(options["graph"]).resolve())
    return {
        "name": name, "root": root, "split": cfg.split, "options": options,
        "num_nodes": dataset.num_nodes,
        "split_days": list(dataset.split_days) if dataset.split_days is not None else None,
        "split_steps": [list(b) for b in dataset.split_steps or ()],
        "horizons": list(dataset.horizons), "missing": cfg.missing, "step": cfg.step,
        "inputs": list(dataset.input_names),
        "scaler": {"mean": dataset.scaler.mean, "std": dataset.scaler.std},
        "minutes_per_step": dataset.minutes_per_step, "n_in": dataset.n_in,
        "n_out": dataset.n_out, "sensor_ids": dataset.sensor_ids,
        "files": {path: fingerprint(path) for path in dataset.files},
        "range": training_range(dataset),
    }


def training_range(dataset: ForecastDataset) -> list[float]:
    """The smallest and largest value of the forecast quantity in the training part (after
    filling missing readings), which forecasts compare new readings with."""
    end = dataset.split_steps[0][1] if dataset.split_steps else dataset.series.size(0)
    part = dataset.series[:end].double()
    return [dataset.scaler.inverse(float(part.min())), dataset.scaler.inverse(float(part.max()))]


def model_summary(model: nn.Module, dataset: ForecastDataset, latency_batch: int = 1140,
                  latency_repeats: int = 3) -> dict[str, Any]:
    """Parameters, FLOPs of one forward pass on one sample, and batch latency."""
    param = next(model.parameters())
    dataset = dataset.to(param.device, param.dtype)
    x, _ = dataset.batch("test", torch.arange(1))
    return {
        "family": model_family(model),
        "blocks": model.config().get("blocks"),  # type: ignore[operator]
        "parameters": count_parameters(model),
        "nonzero_parameters": count_parameters(model, nonzero=True),
        "flops_per_sample": count_flops(model, x, dataset.edge_index, dataset.edge_weight),
        "latency": measure_latency(model, dataset, latency_batch, latency_repeats),
    }


def prepare_run_dir(out_dir: Path, fresh: bool) -> Path:
    """Create the run folder; with ``fresh``, drop what an earlier run left there."""
    out_dir = Path(out_dir)
    try:
        if fresh and out_dir.exists():
            for name in ("last.pt", "model.pt", "metrics.json", "config.yaml"):
                (out_dir / name).unlink(missing_ok=True)
        probe_folder(out_dir)
    except OSError as err:
        raise InputError(f"--out {out_dir}: cannot write the run folder there "
                         f"({err.strerror or type(err).__name__})") from None
    return out_dir


def finish_run(trainer: Trainer, config: RunConfig, out_dir: Path,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """After training: write ``model.pt`` and ``metrics.json``; return the metrics."""
    model: Any = trainer.model
    dataset, state, meta = trainer.dataset, trainer.state, trainer.meta
    save_checkpoint(out_dir / "model.pt", {
        "kind": model_family(model), "model_config": model.config(),
        "model_state": cpu_state(model),
        "graph": {"edge_index": dataset.edge_index.cpu(),
                  "edge_weight": dataset.edge_weight.detach().float().cpu()},
        "data": meta["data"], "run": meta["run"], "best_epoch": state.best_epoch,
    })
    metrics = evaluation_metrics(model, dataset, config.train.eval_batch_size,
                                 config.train.latency_batch, config.train.latency_repeats)
    metrics.update({
        "dataset": meta["data"], "epochs_run": state.epoch, "best_epoch": state.best_epoch,
        "best_val_mae": state.best_val, "best_epoch_is_last": trainer.best_epoch_is_last,
        "train_seconds": state.seconds, "history": state.history,
        **(extra or {}),
    })
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def start_run_dir(config: RunConfig, out_dir: Path, fresh: bool,
                  dist: DistributedContext) -> Path:
    """Rank 0 prepares the run folder and writes ``config.yaml``; the others wait for it."""
    out_dir = Path(out_dir)
    if dist.is_main:
        if not fresh:
            check_same_config(config, out_dir)
        prepare_run_dir(out_dir, fresh)
        write_atomic(out_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    dist.barrier()
    return out_dir


def check_same_config(config: RunConfig, out_dir: Path, ignore: tuple[str, ...] = (),
                      hint: str = "give another --out, or --fresh to start it again") -> None:
    """Refuse to continue a run folder that holds another configuration (a resumed run, or
    a prune run reusing its pruning phase, must be the same run); ``device`` may differ, and
    keys starting with an ``ignore`` prefix."""
    from pygkd.train.recipes import read_yaml

    saved_file = Path(out_dir) / "config.yaml"
    if not saved_file.is_file():
        return
    changes = config_changes(read_yaml(saved_file, "run configuration"), config.to_dict(),
                             ignore)
    if changes:
        raise InputError(f"{out_dir}: holds a run with another configuration ({changes}); "
                         f"{hint}")


#: What a comparison may find changed in a finished run it reuses: the data and teacher come
#: from the teacher's checkpoint, not from the recipe.
REUSE_IGNORES = ("data.", "distill.teacher")


def reuse_finished(config: RunConfig, run_dir: Path) -> dict[str, Any] | None:
    """The metrics of a finished run in ``run_dir`` made with ``config`` (the comparisons and
    tune reuse them), ``None`` when it has not finished; an error when it was made with other
    settings (so a rerun with new settings never reports old results)."""
    metrics_file = Path(run_dir) / "metrics.json"
    if not metrics_file.is_file():
        return None
    check_same_config(config, run_dir, ignore=REUSE_IGNORES,
                      hint="give another --out, or delete that folder")
    return read_json(metrics_file, "run metrics")


def end_training(dist: DistributedContext) -> bool:
    """After ``fit``: all ranks meet and leave the process group; True on rank 0, which alone
    evaluates and writes the results."""
    dist.barrier()
    dist.close()
    return dist.is_main


def run_train(config: RunConfig, out_dir: Path, fresh: bool = False, progress: bool = True,
              dataset: ForecastDataset | None = None) -> dict[str, Any]:
    """Train and evaluate the model of ``config``; write the run folder; return the metrics
    (an empty dict on ranks other than 0 of a ``torchrun`` job)."""
    device, dist = start_runtime(config.device)
    out_dir = start_run_dir(config, out_dir, fresh, dist)
    dataset = dataset or build_dataset(config.data)
    model = build_model(config, dataset.num_nodes, n_in=dataset.n_in,
                        in_channels=dataset.in_channels)
    meta = {"run": config.to_dict(), "model_config": model.config(),
            "data": data_info(config.data, dataset)}
    trainer = Trainer(model, dataset, config.train, out_dir, seed=config.seed, meta=meta,
                      device=device, distributed=dist)
    trainer.fit(progress=progress)
    if not end_training(dist):
        return {}
    return finish_run(trainer, config, out_dir)


def evaluation_metrics(model: nn.Module, dataset: ForecastDataset, batch_size: int = 200,
                       latency_batch: int = 1140, latency_repeats: int = 3) -> dict[str, Any]:
    """Test and validation errors, the persistence baseline and the model summary."""
    persistence = horizon_metrics(*persistence_split(dataset, "test"),
                                  steps=dataset.horizons,
                                  minutes_per_step=dataset.minutes_per_step)
    return {
        "test": evaluate_model(model, dataset, "test", batch_size),
        "val": evaluate_model(model, dataset, "val", batch_size),
        "persistence_test": persistence,
        "model": model_summary(model, dataset, latency_batch, latency_repeats),
    }


def run_evaluate(checkpoint: Path, data: DataConfig | None = None,
                 latency_batch: int = 1140, latency_repeats: int = 3,
                 device: str = "auto") -> dict[str, Any]:
    """Evaluate a saved model on its own dataset (or ``data``), as ``pygkd evaluate`` does."""
    model, payload = load_model(checkpoint)
    where = resolve_device(device)
    cfg = data or checkpoint_data_config(payload, what=str(checkpoint))
    dataset = build_dataset(cfg)
    if dataset.num_nodes != model.num_nodes:
        raise InputError(
            f"{checkpoint}: the model has {model.num_nodes} nodes but dataset {cfg.name!r} has "
            f"{dataset.num_nodes}"
        )
    match_sensors((payload.get("data") or {}).get("sensor_ids"), dataset.sensor_ids,
                  f"{cfg.name} (data for {checkpoint})")
    check_input_channels(model, dataset, str(checkpoint))
    dataset = dataset.to(where)
    model = place_model(model, where, dataset.edge_index, dataset.edge_weight)
    metrics = evaluation_metrics(model, dataset, 200, latency_batch, latency_repeats)
    metrics["dataset"] = data_info(cfg, dataset)
    return metrics


