"""``pygkd compare``: whole comparisons written as markdown tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FOLDER, runtime_options, runtime_set_items
from pygkd.cli.recipe_args import refuse_unused_overrides
from pygkd.distill.registry import PAPER_LOSSES, loss_names


def _int_list(text: str, option: str) -> tuple[int, ...]:
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
@click.option("--losses", default=",".join(PAPER_LOSSES), show_default=True,
              help="Comma-separated losses ('none' = student W/O KD; a+b combines two), "
                   f"of: {', '.join(loss_names())} [the paper's Tables 4 and 5].")
@click.option("--seeds", default="0,1,2,3,4", show_default=True,
              help="Comma-separated seeds; rows are compared seed by seed with W/O KD.")
@click.option("--students", default=None, metavar="NAME[:HIDDEN],...",
              help="Student families of the zoo, each with its hidden size, e.g. "
                   "'stgcn,gconvgru:31,tgcn:38' [the recipes' STGCN student].")
@click.option("--recipes", "recipe_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None,
              help="Folder of <loss>.yaml recipes [the installed distill/ recipes, paper "
                   "Table 6].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override every recipe, e.g. --set train.epochs=30.")
@click.option("--own-train-settings", is_flag=True,
              help="Train each loss with its recipe's own train settings [default: all with "
                   "the W/O KD recipe's, like for like].")
@runtime_options()
@click.option("--out", type=OUT_FOLDER,
              default=Path("runs/compare-distill"), show_default=True)
def compare_distill(teacher: Path, losses: str, seeds: str, students: str | None,
                    recipe_dir: Path | None, overrides: tuple[str, ...],
                    own_train_settings: bool, out: Path, **runtime: Any) -> None:
    """Students with every loss, over seeds, from one teacher: the paper's Tables 2, 4, 5."""
    refuse_unused_overrides(overrides, "compare distill")
    overrides = runtime_set_items(runtime) + overrides
    from pygkd.experiments.distill_tables import run_distill_comparison

    result = run_distill_comparison(
        teacher, out, [v.strip() for v in losses.split(",") if v.strip()],
        _int_list(seeds, "--seeds"), recipe_dir,
        overrides, students=[v for v in students.split(",") if v.strip()] if students else None,
        own_train_settings=own_train_settings)
    click.echo("\n" + result.text)
    click.echo(f"\nWritten to {result.markdown}")


@main.command("tune")
@click.option("--teacher", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Teacher checkpoint (model.pt).")
@click.option("--loss", "losses", multiple=True, metavar="NAME[+NAME]",
              help="Loss to tune, a combination like skd+tcd, or several (repeat the option "
                   "or separate by commas): the loss is then a searched choice too [stcd].")
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True,
              help="Trials this process adds to the study.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop adding trials after this many seconds.")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna RDB storage shared by processes and machines, e.g. "
                   "sqlite:///study.db [OUT/<loss>/study.db].")
@click.option("--study-name", default=None,
              help="[pygkd-<loss>-<teacher file digest>: the same for the same teacher and "
                   "loss, loaded if it exists]")
@click.option("--tune-lr", is_flag=True,
              help="Search train.lr too (tune the W/O KD control's the same way: --loss none).")
@click.option("--tune-mixup", is_flag=True,
              help="Search distill.mixup too (function matching on mixed windows, 0-0.8; "
                   "not in the paper).")
@click.option("--batch-sizes", default=None, metavar="B1,B2[,...]",
              help="Search train.batch_size too, among these sizes (tune the W/O KD "
                   "control's the same way: --loss none).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seeds the sampler, and every trial's training unless --seeds is given.")
@click.option("--seeds", default=None, metavar="S1,S2[,...]",
              help="Train every trial once per seed and score it by the mean validation MAE "
                   "(a study of its own).")
@click.option("--recipes", "recipe_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder of <loss>.yaml recipes [the installed distill/].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override the recipe, e.g. --set train.epochs=15.")
@runtime_options()
@click.option("--out", type=OUT_FOLDER,
              default=Path("runs/tune"), show_default=True)
def tune(teacher: Path, losses: tuple[str, ...], trials: int, timeout: float | None,
         storage: str | None, study_name: str | None, tune_lr: bool, tune_mixup: bool,
         batch_sizes: str | None, seed: int, seeds: str | None,
         recipe_dir: Path | None, overrides: tuple[str, ...], out: Path,
         **runtime: Any) -> None:
    """An Optuna study (TPE sampler, median pruner) of a loss's weights on the VALIDATION
    split only; writes the best recipe to OUT/<loss>/best.yaml and the study's figure beside
    it."""
    refuse_unused_overrides(overrides, "tune")
    overrides = runtime_set_items(runtime) + overrides
    from pygkd.experiments.tuning import run_tuning

    names = [v.strip() for item in (losses or ("stcd",)) for v in item.split(",") if v.strip()]
    summary = run_tuning(teacher, names, out / ",".join(names), trials, seed, recipe_dir,
                         overrides, storage=storage, study_name=study_name, timeout=timeout,
                         tune_lr=tune_lr, tune_mixup=tune_mixup,
                         batch_sizes=_int_list(batch_sizes, "--batch-sizes") if batch_sizes
                         else None,
                         seeds=_int_list(seeds, "--seeds") if seeds is not None else None)
    best = summary.best
    shown = {k: v for k, v in best.items()
             if k not in ("trial", "state", "val_mae", "best_epoch", "epochs_run", "same_as",
                          "seed_val_mae")}
    click.echo(f"\n{len(summary.trials)} trial(s) in the study; best: trial {best['trial']}, "
               f"validation MAE {best['val_mae']:.4f}: "
               + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in shown.items()))
    click.echo(f"recipe written to {summary.recipe}")


@compare.command("prune")
@click.option("--table", type=click.Choice(["7", "8"]), required=True,
              help="7: teacher vs student W/O and W the pruning algorithm; 8: Algorithm 1 vs "
                   "the Taylor baseline at several levels.")
@click.option("--teacher", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Teacher checkpoint (model.pt).")
@click.option("--base", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Table 8: the trained pruning base (model.pt).")
@click.option("--targets", default="0.25,0.5,0.75", show_default=True,
              help="Table 8: pruning levels.")
@click.option("--mode", type=click.Choice(["structured", "unstructured"]), default=None,
              help="[Table 7: structured; Table 8: unstructured, as the paper]")
@click.option("--seeds", default="0,1,2,3,4", show_default=True,
              help="Comma-separated seeds; rows are compared seed by seed.")
@click.option("--recipes", "recipe_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder with distill/ and prune/ recipes [the installed ones].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@runtime_options()
@click.option("--out", type=OUT_FOLDER, default=None,
              help="[runs/compare-prune-table<N>]")
def compare_prune(table: str, teacher: Path, base: Path | None, targets: str,
                  mode: str | None, seeds: str, recipe_dir: Path | None, overrides: tuple[str, ...],
                  out: Path | None, **runtime: Any) -> None:
    """The paper's Table 7 or Table 8 as a markdown table (mean ± std over seeds)."""
    refuse_unused_overrides(overrides, "compare prune")
    overrides = runtime_set_items(runtime) + overrides
    from pygkd.errors import InputError
    from pygkd.experiments.prune_tables import run_table7, run_table8

    out = out or Path("runs") / f"compare-prune-table{table}"
    seed_list = _int_list(seeds, "--seeds")
    if table == "7":
        result = run_table7(teacher, out, seed_list, recipe_dir, mode or "structured", overrides)
    else:
        if base is None:
            raise InputError("--base: required for Table 8 (the trained pruning base)")
        try:
            levels = [float(v) for v in targets.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--targets: expected comma-separated shares (got {targets!r})") \
                from None
        result = run_table8(base, teacher, out, levels, seed_list, recipe_dir,
                          mode or "unstructured", overrides)
    click.echo("\n" + result.text)
    click.echo(f"Written to {result.markdown}")
