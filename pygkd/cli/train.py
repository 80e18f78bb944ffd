"""``pygkd train`` and ``pygkd evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import click
import yaml

from pygkd.cli.main import main
from pygkd.cli.options import (
    data_config_from,
    data_options,
    data_overrides,
    runtime_options,
    runtime_overrides,
)
from pygkd.errors import InputError
from pygkd.nn.models.stgcn import PRESETS


def _load_raw(recipe: Optional[Path]) -> Dict[str, Any]:
    if recipe is None:
        return {}
    try:
        raw = yaml.safe_load(Path(recipe).read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{recipe}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{recipe}: expected a mapping with seed/data/model/train")
    return raw


def _merge_runtime(raw: Dict[str, Any], kwargs: Dict[str, Any]) -> None:
    """Put the --device / --precision / --compile / --scd-nodes values into the recipe."""
    sections = runtime_overrides(kwargs)
    raw.update(sections.pop(""))
    for section, values in sections.items():
        _merge(raw, section, values)


def _merge(raw: Dict[str, Any], section: str, values: Dict[str, Any]) -> None:
    values = {k: v for k, v in values.items() if v is not None}
    if values:
        target = raw.setdefault(section, {}) or {}
        raw[section] = target
        options = values.pop("options", None)
        target.update(values)
        if options:
            target.setdefault("options", {}).update(options)


def _model_section(preset: Optional[str], blocks: Optional[str]) -> Dict[str, Any]:
    """The ``model`` recipe values given by --preset / --blocks (explicit blocks win)."""
    from pygkd.train.config import parse_blocks

    if blocks is not None:
        return {"blocks": parse_blocks(blocks), "preset": None}
    if preset is not None:
        return {"preset": preset, "blocks": None}
    return {}


def _echo_results(metrics: Dict[str, Any], name: str) -> None:
    from pygkd.tables import results_table

    click.echo(results_table([
        ("Persistence (last observed value)", metrics["persistence_test"], None),
        (name, metrics["test"], metrics["model"]),
    ]))


@main.command()
@click.option("--recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Recipe YAML (seed/data/model/train); flags override it.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set train.lr=0.0005 (repeatable).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="Named STGCN configuration [default: teacher].")
@click.option("--blocks", default=None, metavar="C,C,C;C,C,C",
              help="Explicit block channels, e.g. '1,32,64;64,32,128' (overrides --preset).")
@data_options()
@click.option("--epochs", type=int, default=None, help="Maximum epochs [30].")
@click.option("--batch-size", type=int, default=None, help="Batch size [50].")
@click.option("--lr", type=float, default=None, help="Learning rate [0.001].")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default=None,
              help="Optimiser [adam].")
@click.option("--patience", type=int, default=None, help="Early-stopping patience in epochs [10].")
@click.option("--seed", type=int, default=None, help="Random seed [0].")
@runtime_options()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder [default: runs/train-<dataset>-<model>-seed<seed>].")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming a run in --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(recipe: Optional[Path], overrides: Tuple[str, ...], preset: Optional[str],
          blocks: Optional[str], out: Optional[Path], fresh: bool, quiet: bool,
          **kwargs: Any) -> None:
    """Train an STGCN (teacher, student, pruning base or any --blocks) and evaluate it.

    Writes config.yaml, last.pt (resumable), model.pt and metrics.json into the run folder.
    A run that is interrupted continues from its last finished epoch when started again.
    Several processes: torchrun --nproc-per-node N -m pygkd train ... (same global batch).
    """
    from pygkd.seed import seed_everything
    from pygkd.train.config import RunConfig, apply_overrides
    from pygkd.train.runs import run_train

    raw = _load_raw(recipe)
    _merge_runtime(raw, kwargs)
    _merge(raw, "data", data_overrides(kwargs))
    _merge(raw, "model", _model_section(preset, blocks))
    train_keys = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                  "optimizer": "optimizer", "patience": "patience"}
    _merge(raw, "train", {dst: kwargs.pop(src) for src, dst in train_keys.items()})
    if kwargs.get("seed") is not None:
        raw["seed"] = kwargs.pop("seed")
    config = RunConfig.from_dict(apply_overrides(raw, overrides), str(recipe or "options"))
    name = config.model.preset if config.model.blocks is None else "custom"
    dataset_name = Path(config.data.name).stem
    out = out or Path("runs") / f"train-{dataset_name}-{name}-seed{config.seed}"
    seed_everything(config.seed)
    metrics = run_train(config, out, fresh=fresh, progress=not quiet)
    if not metrics:  # a torchrun rank other than 0
        return
    _echo_results(metrics, name.capitalize() if name else "Model")
    click.echo(f"\nResults in {out}/ (metrics.json, model.pt, config.yaml)")


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@data_options()
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the metrics to this JSON file.")
@click.option("--latency-batch", type=int, default=1140, show_default=True,
              help="Batch size for the latency measurement.")
@runtime_options(training=False)
def evaluate(checkpoint: Path, json_out: Optional[Path], latency_batch: int,
             device: Optional[str], **kwargs: Any) -> None:
    """Evaluate a saved model (model.pt): 9-step autoregressive forecast, MAE/RMSE/MAPE at
    15/30/45 min on de-normalised speeds, plus parameters, FLOPs and latency.

    By default the model's own dataset and split are used; data options override them.
    """
    from pygkd.train.checkpoint import load_checkpoint
    from pygkd.train.runs import run_evaluate

    section = data_overrides(kwargs)
    data_cfg = None
    if section:
        saved = load_checkpoint(checkpoint).get("data", {})
        base = {"name": saved.get("name"), "root": saved.get("root"), "split": saved.get("split"),
                "options": dict(saved.get("options", {}))}
        if "name" in section and section["name"] != base["name"]:
            base["options"] = {}
        options = section.pop("options", {})
        base.update(section)
        base["options"].update(options)
        data_cfg = data_config_from(base)
    metrics = run_evaluate(checkpoint, data_cfg, latency_batch=latency_batch,
                           device=device or "auto")
    _echo_results(metrics, checkpoint.parent.name or "Model")
    if json_out is not None:
        json_out.write_text(json.dumps(metrics, indent=2))
        click.echo(f"\nMetrics written to {json_out}")
