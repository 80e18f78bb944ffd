"""``pygkd prune``: Algorithm 1 (KD-aware pruning) or the Taylor baseline on a trained STGCN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FOLDER, runtime_options
from pygkd.cli.recipe_args import (
    echo_results,
    merge_runtime,
    merge_section,
    recipe_dict,
    recipe_option,
    refuse_unused_overrides,
)


@main.command()
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True,
              help="The STGCN to prune (model.pt), e.g. the teacher or pruning base.")
@click.option("--teacher", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Frozen teacher for --method kd (L_STCD scores and fine-tuning).")
@click.option("--method", type=click.Choice(["kd", "taylor"]), default=None,
              help="kd: scores from L_STCD (Algorithm 1); taylor: from the task loss [kd].")
@click.option("--mode", type=click.Choice(["structured", "unstructured"]), default=None,
              help="structured: channels, exports a smaller STGCN [structured].")
@click.option("--target", type=float, default=None, help="Share of parameters to prune [0.97].")
@click.option("--exact-target", is_flag=True, default=None,
              help="Shrink the last pruning step so it stops at --target instead of passing it.")
@recipe_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set prune.step_share=0.2.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed [0].")
@runtime_options()
@click.option("--out", type=OUT_FOLDER, default=None,
              help="Run folder [default: runs/prune-<method>-<mode>-<target>-seed<seed>].")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def prune(model_path: Path, teacher: Path | None, recipe: str | None,
          overrides: tuple[str, ...], out: Path | None, fresh: bool, quiet: bool,
          **kwargs: Any) -> None:
    """Prune a trained STGCN by Algorithm 1 and fine-tune it; in structured mode export the
    smaller STGCN (model.pt) and report the channels each layer kept (channels.json)."""
    from pygkd.experiments.pruning import run_prune
    from pygkd.seed import seed_everything
    from pygkd.train.config import RunConfig, apply_overrides

    refuse_unused_overrides(overrides, "prune")
    raw = recipe_dict(recipe)
    merge_runtime(raw, kwargs)
    merge_section(raw, "prune", {k: kwargs.pop(k) for k in ("method", "mode", "target")})
    if kwargs.pop("exact_target"):
        merge_section(raw, "prune", {"exact_target": True})
    if kwargs.get("seed") is not None:
        raw["seed"] = kwargs.pop("seed")
    config = RunConfig.from_dict(apply_overrides(raw, overrides), str(recipe or "options"))
    p = config.prune
    name = f"prune-{p.method}-{p.mode}-{round(100 * p.target)}-seed{config.seed}"
    out = out or Path("runs") / name
    seed_everything(config.seed)
    metrics = run_prune(config, model_path, teacher, out, fresh=fresh, progress=not quiet)
    if not metrics:  # a torchrun rank other than 0
        return
    click.echo("")
    echo_results(metrics, f"Pruned ({p.method}, {p.mode})")
    click.echo(f"\n{metrics['pruned_share']:.1%} of {metrics['base_parameters']:,} parameters "
               f"pruned; {metrics['model']['parameters']:,} parameters in the model, "
               f"{metrics['nonzero_parameters']:,} nonzero.")
    click.echo(f"Results in {out}/ (metrics.json, model.pt, channels.json)")
