"""``pygkd distill``: a student from a frozen teacher with one of the paper's losses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FOLDER, CombinableChoice, runtime_options
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
from pygkd.distill.registry import loss_names


@main.command()
@click.option("--teacher", "teachers", type=click.Path(dir_okay=False, path_type=Path),
              required=True, multiple=True,
              help="Teacher checkpoint (model.pt of 'pygkd train'), any family; repeat it to "
                   "distil from several teachers.")
@click.option("--teacher-weights", default=None, metavar="W,W,...",
              help="With several --teacher: the weight of each one's loss [equal].")
@click.option("--loss", type=CombinableChoice(loss_names), default=None,
              help="Distillation loss ('none' = student W/O KD), or losses joined by '+' "
                   "(skd+tcd: the response term once, each part's feature terms added) [stcd].")
@recipe_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set distill.alpha1=0.5 (repeatable).")
@model_options(student=True)
@click.option("--alpha1", type=float, default=None, help="L_ORD threshold (Eq. 6).")
@click.option("--alpha2", type=float, default=None, help="SCD vs TCD weight (Eq. 11).")
@click.option("--alpha3", type=float, default=None, help="Feature-loss weight (Eq. 11).")
@click.option("--alpha", type=float, default=None, help="L_SKD weight.")
@click.option("--beta", type=float, default=None, help="L_RD weight (Eq. 2-3).")
@click.option("--mixup", type=float, default=None,
              help="Weight of function matching on mixed windows (the student follows the "
                   "teacher on windows mixed from two training windows; not in the paper) [0].")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Maximum epochs [30].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size [50].")
@click.option("--lr", type=float, default=None, help="Learning rate [0.001].")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed [0].")
@runtime_options()
@click.option("--out", type=OUT_FOLDER, default=None,
              help="Run folder [default: runs/distill-<loss>-seed<seed>].")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming a run in --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def distill(teachers: tuple[Path, ...], teacher_weights: str | None, recipe: str | None,
            overrides: tuple[str, ...], out: Path | None, fresh: bool, quiet: bool,
            **kwargs: Any) -> None:
    """Distil a student (STGCN or any family of the zoo, --student-model) from a frozen
    teacher checkpoint of any family (on the teacher's data); with several --teacher, from
    all of them (their losses weighted by --teacher-weights).

    Writes config.yaml, last.pt (resumable), model.pt and metrics.json (with the teacher's
    errors and, for ORD-based losses, the share of entries that followed the teacher).
    """
    from pygkd.experiments.distillation import run_distill
    from pygkd.seed import seed_everything
    from pygkd.train.config import RunConfig, apply_overrides

    refuse_unused_overrides(overrides, "distill")
    raw = recipe_dict(recipe)
    merge_runtime(raw, kwargs)
    raw.setdefault("model", {"preset": "student"})
    merge_section(raw, "model", model_section(kwargs))
    merge_section(raw, "distill", {k: kwargs.pop(k) for k in ("loss", "alpha1", "alpha2", "alpha3",
                                                       "alpha", "beta", "mixup")})
    merge_section(raw, "train", {k: kwargs.pop(k) for k in ("epochs", "batch_size", "lr")})
    if kwargs.get("seed") is not None:
        raw["seed"] = kwargs.pop("seed")
    if teacher_weights is not None:
        merge_section(raw, "distill", {"teacher_weights": _weights(teacher_weights)})
    config = RunConfig.from_dict(apply_overrides(raw, overrides), str(recipe or "options"))
    out = out or Path("runs") / f"distill-{config.distill.loss}-seed{config.seed}"
    seed_everything(config.seed)
    metrics = run_distill(config, list(teachers), out, fresh=fresh, progress=not quiet)
    if not metrics:  # a torchrun rank other than 0
        return
    echo_results(metrics, f"Student ({config.distill.loss})")
    if "teacher_share" in metrics:
        click.echo(f"\nShare of training entries that followed the teacher (L_ORD): "
                   f"{metrics['teacher_share']:.3%}")
    click.echo(f"\nResults in {out}/ (metrics.json, model.pt, config.yaml)")


def _weights(text: str) -> list[float]:
    from pygkd.errors import InputError

    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--teacher-weights: expected comma-separated numbers like '0.7,0.3' "
                         f"(got {text!r})") from None
