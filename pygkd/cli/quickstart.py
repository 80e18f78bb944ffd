"""``pygkd quickstart``: the main job on the built-in synthetic network."""

from __future__ import annotations

from pathlib import Path

import click

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FOLDER
from pygkd.cli.recipe_args import recipe_option
from pygkd.experiments.quickstart import QUICKSTART, STUDENT_LR


@main.command()
@recipe_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set train.epochs=5.")
@click.option("--out", type=OUT_FOLDER,
              default=Path("runs/quickstart"), show_default=True, help="Output folder.")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--student-lr", type=float, default=STUDENT_LR, show_default=True,
              help="Learning rate of the students and of Algorithm 1 (the teacher's is "
                   "train.lr).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report at the end.")
def quickstart(recipe: str | None, overrides: tuple[str, ...], out: Path, fresh: bool,
               quiet: bool, student_lr: float, no_report: bool) -> None:
    """Train a teacher STGCN on the built-in synthetic network, distil two students from it
    (W/O KD and L_STCD), find a third by pruning the teacher with Algorithm 1 (structured) to
    the student's size, and print parameters, test latency and 15/30/45-min errors side by
    side with the persistence baseline."""
    import copy

    from pygkd.experiments.quickstart import run_quickstart
    from pygkd.train.config import RunConfig, apply_overrides, load_recipe

    if recipe is not None:
        config = load_recipe(recipe, overrides)
    else:
        config = RunConfig.from_dict(apply_overrides(copy.deepcopy(QUICKSTART), overrides),
                                     "quickstart")
    result = run_quickstart(config, out, fresh=fresh, progress=not quiet,
                            student_lr=student_lr, report=not no_report, say=click.echo)
    click.echo("\n" + result.table + "\n\n" + result.note)
    if result.report is not None:
        click.echo(f"Report: {result.report}")
    click.echo(f"Results in {out}/ ({result.seconds:.0f} s)")
