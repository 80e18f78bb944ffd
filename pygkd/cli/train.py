"""``pygkd train`` and ``pygkd evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pygkd.cli.main import main
from pygkd.cli.options import (
    OUT_FILE,
    OUT_FOLDER,
    data_options,
    data_overrides,
    runtime_options,
)
from pygkd.cli.recipe_args import (
    echo_results,
    merge_runtime,
    merge_section,
    model_options,
    model_section,
    recipe_dict,
    recipe_option,
    refuse_unused_overrides,
)


@main.command()
@recipe_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set train.lr=0.0005 (repeatable).")
@model_options()
@data_options()
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Maximum epochs [30].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size [50].")
@click.option("--lr", type=float, default=None, help="Learning rate [0.001].")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default=None,
              help="Optimiser [adam].")
@click.option("--patience", type=int, default=None, help="Early-stopping patience in epochs [10].")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed [0].")
@runtime_options()
@click.option("--out", type=OUT_FOLDER, default=None,
              help="Run folder [default: runs/train-<dataset>-<model>-seed<seed>].")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming a run in --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(recipe: str | None, overrides: tuple[str, ...], out: Path | None, fresh: bool,
          quiet: bool, **kwargs: Any) -> None:
    """Train a forecaster (STGCN teacher, student, pruning base, any --blocks, or another
    family of the zoo with --model) and evaluate it.

    Writes config.yaml, last.pt (resumable), model.pt and metrics.json into the run folder.
    A run that is interrupted continues from its last finished epoch when started again.
    Several processes: torchrun --nproc-per-node N -m pygkd train ... (same global batch).
    """
    from pygkd.seed import seed_everything
    from pygkd.train.config import RunConfig, apply_overrides
    from pygkd.train.runs import run_train

    refuse_unused_overrides(overrides, "train")
    raw = recipe_dict(recipe)
    merge_runtime(raw, kwargs)
    merge_section(raw, "data", data_overrides(kwargs))
    merge_section(raw, "model", model_section(kwargs))
    train_keys = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                  "optimizer": "optimizer", "patience": "patience"}
    merge_section(raw, "train", {dst: kwargs.pop(src) for src, dst in train_keys.items()})
    if kwargs.get("seed") is not None:
        raw["seed"] = kwargs.pop("seed")
    config = RunConfig.from_dict(apply_overrides(raw, overrides), str(recipe or "options"))
    m = config.model
    name = (m.preset if m.blocks is None else "custom") if m.name == "stgcn" else m.name
    dataset_name = Path(config.data.name).stem
    out = out or Path("runs") / f"train-{dataset_name}-{name}-seed{config.seed}"
    seed_everything(config.seed)
    metrics = run_train(config, out, fresh=fresh, progress=not quiet)
    if not metrics:  # a torchrun rank other than 0
        return
    echo_results(metrics, (str(name).capitalize() if m.name == "stgcn" else str(name)))
    click.echo(f"\nResults in {out}/ (metrics.json, model.pt, config.yaml)")


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@data_options()
@click.option("--json-out", type=OUT_FILE, default=None,
              help="Also write the metrics to this JSON file.")
@click.option("--latency-batch", type=click.IntRange(min=1), default=1140, show_default=True,
              help="Batch size for the latency measurement.")
@runtime_options(training=False)
def evaluate(checkpoint: Path, json_out: Path | None, latency_batch: int,
             device: str | None, **kwargs: Any) -> None:
    """Evaluate a saved model (model.pt) on its test split: its own multi-step forecast,
    MAE/RMSE/MAPE at the model's horizons (the paper's 15/30/45 min for five-minute traffic
    data) in the data's own units, plus parameters, FLOPs and latency (the table names the
    batch).

    By default the model's own dataset and split are used (its files checked against the
    fingerprints stored at training); data options override them.
    """
    from pygkd.files import ensure_writable, write_atomic
    from pygkd.train.checkpoint import load_checkpoint
    from pygkd.train.runs import checkpoint_data_config, run_evaluate

    if json_out is not None:
        ensure_writable(json_out, "--json-out")
    section = data_overrides(kwargs)
    data_cfg = None
    if section:
        data_cfg = checkpoint_data_config(load_checkpoint(checkpoint), section)
    metrics = run_evaluate(checkpoint, data_cfg, latency_batch=latency_batch,
                           device=device or "auto")
    echo_results(metrics, checkpoint.parent.name or "Model")
    if json_out is not None:
        write_atomic(json_out, json.dumps(metrics, indent=2))
        click.echo(f"\nMetrics written to {json_out}")
