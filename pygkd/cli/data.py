"""``pygkd data``: inspect and download datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FILE, data_config_from, data_options, data_overrides
from pygkd.files import replacing


@main.group()
def data() -> None:
    """Inspect and download traffic datasets."""


@data.command()
@click.argument("dataset")
@data_options(with_dataset=False)
def info(dataset: str, **kwargs: Any) -> None:
    """Print nodes, edges, steps, days, splits and missing share of DATASET.

    DATASET is synthetic, los-loop, pemsd7m, pems08, or the path of your own speeds CSV.
    """
    from pygkd.data import ForecastDataset, load_dataset
    from pygkd.data.preprocessing import missing_mask

    kwargs["dataset"] = dataset
    cfg = data_config_from(data_overrides(kwargs))
    from pygkd.data.datasets import loader_options
    from pygkd.data.inputs import available_inputs
    from pygkd.data.timing import horizon_label

    raw = load_dataset(cfg.name, cfg.root,
                       **loader_options(cfg.name, cfg.options, cfg.step, cfg.missing))
    prepared = ForecastDataset.from_traffic(
        raw, split=cfg.split, n_in=cfg.in_steps, n_out=cfg.out_steps,
        horizons=tuple(cfg.horizons) if cfg.horizons else None, missing=cfg.missing,
        inputs=cfg.inputs)
    speeds = raw.speeds[~missing_mask(raw.speeds, cfg.missing or raw.missing)]
    per_day = f"{raw.steps_per_day} a day" if raw.steps_per_day else "no day structure"
    step = _duration(raw.minutes_per_step)
    rows = [
        ("dataset", raw.name),
        ("nodes", f"{raw.num_nodes:,}"),
        ("edges (directed, nonzero weights)", f"{raw.num_edges:,}"),
        ("graph density", f"{raw.num_edges / max(1, raw.num_nodes * (raw.num_nodes - 1)):.1%}"),
        ("steps", f"{raw.num_steps:,} ({per_day}, {step})"),
        ("days", f"{raw.num_days}" if raw.steps_per_day else "-"),
        ("split (train/val/test)", prepared.split_text),
        ("window (in + out steps)", f"{prepared.n_in} + {prepared.n_out}; horizons "
         + ", ".join(horizon_label(h, prepared.minutes_per_step) for h in prepared.horizons)),
        ("windows train/val/test", "/".join(f"{prepared.num_samples(s):,}"
                                            for s in ("train", "val", "test"))),
        ("input channels", ", ".join(["forecast", *prepared.input_names])
         + f" (--inputs may add: {', '.join(available_inputs(list(raw.channels)))})"),
        ("missing share", f"{raw.missing_share:.2%}"),
        ("value mean / std / min / max", f"{speeds.mean():.2f} / {speeds.std():.2f} / "
                                         f"{speeds.min():.2f} / {speeds.max():.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


@data.command()
@click.argument("dataset", type=click.Choice(["los-loop", "pemsd7m", "pems08"]))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to put the files [default: $PYGKD_DATA or ~/.cache/pygkd/data].")
@click.option("--force", is_flag=True, help="Download again even if the files exist.")
def download(dataset: str, data_dir: Path | None, force: bool) -> None:
    """Download DATASET's public files (needs internet access)."""
    from pygkd.data import download_dataset

    root = download_dataset(dataset, data_dir, force=force)
    click.echo(f"{dataset} is in {root}")


@data.command("export")
@click.argument("dataset")
@data_options(with_dataset=False)
@click.option("--out", type=OUT_FILE, required=True,
              help="CSV file to write.")
@click.option("--start", default="2020-01-06 00:00", show_default=True,
              help="Timestamp of the first row (the built-in datasets carry no dates).")
def export_data(dataset: str, out: Path, start: str, **kwargs: Any) -> None:
    """Write DATASET's readings in the own-data CSV format: a timestamp column, then one
    column per sensor (missing readings as they are: empty cells or zeros)."""
    import pandas as pd

    from pygkd.data import load_dataset
    from pygkd.errors import InputError
    from pygkd.files import ensure_writable

    ensure_writable(out, "--out")
    kwargs["dataset"] = dataset
    cfg = data_config_from(data_overrides(kwargs))
    raw = load_dataset(cfg.name, cfg.root, **cfg.options)
    try:
        first = pd.Timestamp(start)
    except ValueError:
        raise InputError(f"--start: expected a timestamp like 2020-01-06 00:00 (got {start!r})") \
            from None
    names = raw.sensor_ids or [f"S{i:03d}" for i in range(raw.num_nodes)]
    frame = pd.DataFrame(raw.speeds, columns=names)
    if raw.minutes_per_step is None:  # no known step: step numbers
        frame.insert(0, "step", np.arange(raw.num_steps))
    else:
        stamps = pd.date_range(first, periods=raw.num_steps,
                               freq=pd.Timedelta(minutes=raw.minutes_per_step))
        frame.insert(0, "timestamp", stamps.strftime("%Y-%m-%d %H:%M:%S"))
    with replacing(out) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    click.echo(f"{raw.num_steps:,} rows x {raw.num_nodes} sensors written to {out}")


def _duration(minutes: float | None) -> str:
    """``5 min``, ``1 h``, ``7 d`` or ``step unknown``."""
    if minutes is None:
        return "step unknown"
    for size, unit in ((10080.0, "wk"), (1440.0, "d"), (60.0, "h")):
        if minutes >= size and (minutes / size).is_integer():
            return f"{minutes / size:g} {unit}"
    return f"{minutes:g} min"
