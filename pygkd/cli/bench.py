"""``pygkd bench``: benchmarks printed side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from pygkd.cli.main import main


@main.group(invoke_without_command=True)
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Benchmarks: 'spatial' (FastChebConv vs ChebConv) and 'models' (teacher vs student).

    Without a subcommand, runs both with their defaults.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(spatial)
        click.echo("")
        ctx.invoke(models)


@bench.command()
@click.option("--batch", type=int, default=50, show_default=True)
@click.option("--steps", type=int, default=10, show_default=True)
@click.option("--channels", type=int, default=32, show_default=True)
@click.option("--sigma2", type=float, default=10.0, show_default=True,
              help="Kernel width for W_228.csv (10 = the paper's 44,050-edge graph).")
@click.option("--w228", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Path of W_228.csv [searched in the data folder].")
@click.option("--repeats", type=int, default=3, show_default=True,
              help="Timed runs of FastChebConv (the slow baselines run once).")
@click.option("--no-loop", is_flag=True, help="Skip the per-slice loop (the slowest part).")
def spatial(batch: int, steps: int, channels: int, sigma2: float, w228: Optional[Path],
            repeats: int, no_loop: bool) -> None:
    """FastChebConv vs stock ChebConv vs PyG Temporal's per-slice loop (forward + backward)."""
    from pygkd.bench import bench_spatial

    bench_spatial(batch, steps, channels, sigma2, w228, repeats, loop=not no_loop, log=click.echo)


@bench.command()
@click.option("--batch", type=int, default=1140, show_default=True,
              help="Samples per forward pass (the paper uses 1,140).")
@click.option("--repeats", type=int, default=10, show_default=True)
@click.option("--w228", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Path of W_228.csv [searched in the data folder].")
def models(batch: int, repeats: int, w228: Optional[Path]) -> None:
    """Teacher, pruning base and student: parameters, FLOPs and forward latency."""
    from pygkd.bench import bench_models

    bench_models(batch, repeats, w228=w228, log=click.echo)


@bench.command()
@click.option("--batch", type=int, default=50, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True)
@click.option("--w228", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Path of W_228.csv [searched in the data folder].")
def kd(batch: int, repeats: int, w228: Optional[Path]) -> None:
    """One KD step (L_STCD) vs plain student and teacher steps; L_SCD time and peak memory."""
    from pygkd.bench import bench_kd

    bench_kd(batch, repeats, w228, log=click.echo)


@bench.command("prune")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--student", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A hand-designed student (model.pt) to time beside the pruned model.")
@click.option("--batch", type=int, default=1140, show_default=True)
@click.option("--repeats", type=int, default=10, show_default=True)
def prune_bench(run_dir: Path, student: Optional[Path], batch: int, repeats: int) -> None:
    """Base vs masked vs exported model of a structured 'pygkd prune' RUN_DIR."""
    from pygkd.bench import bench_prune

    bench_prune(run_dir, student, batch, repeats, log=click.echo)
