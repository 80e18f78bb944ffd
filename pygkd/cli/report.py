"""``pygkd report``: one shareable HTML page from run folders."""

from __future__ import annotations

from pathlib import Path

import click

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FILE


@main.command()
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=OUT_FILE, default=None,
              help="HTML file [<first RUN_DIR>/report/index.html].")
@click.option("--teacher", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Teacher checkpoint for the figures [the one the runs name].")
@click.option("--sensor", type=int, default=None, help="Sensor of the forecast figure.")
@click.option("--step", type=int, default=3, show_default=True,
              help="Forecast figure: steps ahead.")
@click.option("--samples", type=click.IntRange(min=2), default=50, show_default=True,
              help="t-SNE: test windows.")
@click.option("--no-figures", is_flag=True, help="Tables, configurations and environment only.")
@click.option("--pareto", is_flag=True,
              help="Add accuracy against ONNX Runtime latency for every configuration and the "
                   "teacher (exports each model; the export extra).")
@click.option("--pareto-batch", type=click.IntRange(min=1), default=1140, show_default=True,
              help="Windows of the batched latency.")
def report(run_dirs: tuple[Path, ...], out: Path | None, teacher: Path | None,
           sensor: int | None, step: int, samples: int, no_figures: bool, pareto: bool,
           pareto_batch: int) -> None:
    """Write one self-contained HTML page for RUN_DIRS: comparison tables, every run's errors,
    figures (training curves, forecast vs ground truth, t-SNE), configurations and the
    environment. Figures are also written beside it as PNG and SVG."""
    from pygkd.report.page import write_report

    path = write_report(run_dirs, out, teacher=teacher, sensor=sensor, step=step,
                        samples=samples, figures=not no_figures, pareto=pareto,
                        pareto_batch=pareto_batch)
    click.echo(f"Report: {path}")
