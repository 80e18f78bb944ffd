"""``pygkd plot``: figures as PNG and SVG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FOLDER, runtime_options
from pygkd.errors import InputError

_CKPT = click.Path(exists=True, dir_okay=False, path_type=Path)
_OUT = click.option("--out", type=OUT_FOLDER,
                    default=Path("runs/figures"), show_default=True,
                    help="Folder for the PNG and SVG files.")


def _labelled(items: Sequence[str]) -> list[tuple[str, Path]]:
    """``LABEL=PATH`` or ``PATH`` (label: the run folder's name)."""
    out = []
    for item in items:
        label, _, path = item.rpartition("=")
        path_obj = Path(path)
        if not path_obj.is_file():
            raise InputError(f"--model: no such checkpoint {path!r} (expected LABEL=PATH or PATH)")
        out.append((label or path_obj.parent.name, path_obj))
    return out


def _done(figure: dict) -> None:
    click.echo(f"{figure['title']}: " + ", ".join(str(f) for f in figure["files"]))


@main.group()
def plot() -> None:
    """Figures (matplotlib): training curves, forecast vs ground truth, t-SNE."""


@plot.command()
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@_OUT
def curves(run_dirs: tuple[Path, ...], out: Path) -> None:
    """Training loss and validation MAE per epoch of the runs in RUN_DIRS (one line per
    configuration, lowest seed)."""
    from pygkd.report.page import find_runs, group_label, representatives
    from pygkd.report.plots import curves_plot

    runs = [r for r in representatives(find_runs(run_dirs)) if r.metrics.get("history")]
    if not runs:
        raise InputError(f"RUN_DIRS: no metrics.json with a training history under "
                         f"{', '.join(map(str, run_dirs))}")
    _done(curves_plot({group_label(r): r.metrics["history"] for r in runs}, out))


@plot.command()
@click.option("--teacher", type=_CKPT, required=True,
              help="Teacher checkpoint (its data are used).")
@click.option("--model", "models", multiple=True, metavar="LABEL=PATH",
              help="A student checkpoint to overlay (repeatable).")
@click.option("--sensor", type=int, default=None, help="Sensor index [the busiest one].")
@click.option("--step", type=int, default=3, show_default=True,
              help="Steps ahead (3 = 15 min at 5-min steps).")
@click.option("--day", type=int, default=0, show_default=True, help="Test day (0 = first).")
@runtime_options(training=False)
@_OUT
def forecast(teacher: Path, models: tuple[str, ...], sensor: int | None, step: int, day: int,
             out: Path, device: str | None) -> None:
    """Forecast vs ground truth for one sensor over a test day (paper Fig. 4, 5)."""
    from pygkd.report.plots import forecast_plot, load_students, load_teacher

    t_model, dataset = load_teacher(teacher, device or "auto")
    students = load_students(_labelled(models), dataset)
    _done(forecast_plot(t_model, students, dataset, out, sensor, step, day))


@plot.command()
@click.option("--teacher", type=_CKPT, required=True,
              help="Teacher checkpoint (its data are used).")
@click.option("--student", "students", multiple=True, required=True, metavar="LABEL=PATH",
              help="A student checkpoint (repeatable; one panel each).")
@click.option("--samples", type=click.IntRange(min=2), default=50, show_default=True,
              help="Test windows embedded (the paper uses 50).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@runtime_options(training=False)
@_OUT
def tsne(teacher: Path, students: tuple[str, ...], samples: int, seed: int, out: Path,
         device: str | None) -> None:
    """t-SNE of the hidden representation fed to the output layer: teacher blue, student red
    (paper Sec. 4.2)."""
    from pygkd.report.plots import load_students, load_teacher, tsne_plot

    t_model, dataset = load_teacher(teacher, device or "auto")
    loaded = load_students(_labelled(students), dataset)
    if not loaded:
        raise InputError("--student: none of the students is on the teacher's graph")
    _done(tsne_plot(t_model, loaded, dataset, out, samples, seed))
