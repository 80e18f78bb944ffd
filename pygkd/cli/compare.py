"""``pygkd compare``: whole comparisons written as markdown tables."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import click

from pygkd.cli.main import main
from pygkd.train.config import DISTILL_LOSSES


def _int_list(text: str, option: str) -> Tuple[int, ...]:
    from pygkd.errors import InputError

    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{option}: expected comma-separated whole numbers (got {text!r})") \
            from None


@main.group()
def compare() -> None:
    """Run a whole comparison and write it as a markdown table."""


@compare.command("distill")
@click.option("--teacher", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Teacher checkpoint (model.pt); its dataset and split are used.")
@click.option("--losses", default=",".join(DISTILL_LOSSES), show_default=True,
              help="Comma-separated losses ('none' = student W/O KD).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated seeds.")
@click.option("--recipes", "recipe_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("recipes/distill"), show_default=True,
              help="Folder of <loss>.yaml recipes (paper Table 6 defaults).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override every recipe, e.g. --set train.epochs=30.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/compare-distill"), show_default=True)
def compare_distill(teacher: Path, losses: str, seeds: str, recipe_dir: Optional[Path],
                    overrides: Tuple[str, ...], out: Path) -> None:
    """Students with every loss, over seeds, from one teacher: the paper's Tables 2, 4, 5."""
    from pygkd.distill.compare import run_distill_comparison

    table = run_distill_comparison(
        teacher, out, [v.strip() for v in losses.split(",") if v.strip()],
        _int_list(seeds, "--seeds"), recipe_dir if recipe_dir and recipe_dir.exists() else None,
        overrides, log=click.echo)
    click.echo("\n" + table)
    click.echo(f"\nWritten to {out / 'comparison.md'}")


@main.command("tune")
@click.option("--teacher", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Teacher checkpoint (model.pt).")
@click.option("--loss", type=click.Choice(["rd-l2", "rd-kl", "skd", "ord", "tcd", "scd", "stcd"]),
              default="stcd", show_default=True)
@click.option("--trials", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the search and every trial.")
@click.option("--recipes", "recipe_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("recipes/distill"), show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override the recipe, e.g. --set train.epochs=15.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/tune"), show_default=True)
def tune(teacher: Path, loss: str, trials: int, seed: int, recipe_dir: Optional[Path],
         overrides: Tuple[str, ...], out: Path) -> None:
    """Random search of a loss's alphas / beta on the VALIDATION split only; writes the best
    recipe to OUT/best.yaml."""
    from pygkd.distill.tune import run_tuning

    summary = run_tuning(teacher, loss, out / loss, trials, seed,
                         recipe_dir if recipe_dir and recipe_dir.exists() else None, overrides,
                         log=click.echo)
    best = summary["best"]
    click.echo(f"\nbest: trial {best['trial']}, validation MAE {best['val_mae']:.4f}: "
               + ", ".join(f"{k}={v}" for k, v in best.items() if k not in ("trial", "val_mae")))
    click.echo(f"recipe written to {out / loss / 'best.yaml'}")
