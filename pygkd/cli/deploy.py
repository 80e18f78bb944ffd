"""``pygkd predict`` and ``pygkd export``: forecasts from recent readings, models for other
runtimes."""

from __future__ import annotations

from pathlib import Path

import click

from pygkd.cli.main import main
from pygkd.cli.options import OUT_FILE, runtime_options

_MODEL = click.Path(path_type=Path)


@main.command()
@click.argument("model", type=_MODEL)
@click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Recent readings: own-data CSV (timestamps or steps, one "
                                  "column per sensor), at least the model's input length.")
@click.option("--out", type=OUT_FILE, default=None,
              help="Write the forecast CSV here [default: print it].")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON {index, sensors, forecast} instead of CSV.")
@click.option("--horizon", type=click.IntRange(min=1), default=None,
              help="Steps to forecast [the model's output steps].")
@runtime_options(training=False)
def predict(model: Path, input_path: Path, out: Path | None, as_json: bool,
            horizon: int | None, device: str | None) -> None:
    """Forecast the next steps of every sensor from the latest readings in --input.

    MODEL is a checkpoint (runs/x/model.pt) or a run folder. The last steps (the model's
    input length) are used, checked as training data are: the model's sensors by name, its
    sampling step, finite values; missing readings (under the model's --missing policy, and
    gaps in the timestamps) are interpolated, but a sensor missing more than half of them is
    an error; readings far outside the training range warn. The model's normalisation is
    applied inside.
    """
    import json

    from pygkd.deploy import Forecaster
    from pygkd.files import ensure_writable, write_atomic

    if out is not None:
        ensure_writable(out, "--out")
    forecaster = Forecaster.load(model, horizon, device=device or "cpu")
    forecast = forecaster.predict(input_path)
    if as_json:
        index = [str(i) for i in forecast.index]
        text = json.dumps({"index": index, "sensors": list(forecast.columns),
                           "forecast": forecast.to_numpy().round(6).tolist()})
    else:
        text = forecast.to_csv(float_format="%.6f")
    if out is None:
        click.echo(text.rstrip("\n"))
        return
    write_atomic(out, text + ("" if text.endswith("\n") else "\n"))
    click.echo(f"{len(forecast)} steps x {forecast.shape[1]} sensors written to {out}",
               err=True)


@main.command("export")
@click.argument("model", type=_MODEL)
@click.option("--format", "fmt", type=click.Choice(["onnx", "exported-program"]),
              default="onnx", show_default=True)
@click.option("--out", type=OUT_FILE, required=True,
              help="File to write (.onnx or .pt2).")
@click.option("--quantize", is_flag=True, hidden=True)
@click.option("--horizon", type=click.IntRange(min=1), default=None,
              help="Steps of the rollout inside the file [the model's output steps].")
def export(model: Path, fmt: str, out: Path, quantize: bool, horizon: int | None) -> None:
    """Export MODEL (a checkpoint or run folder) with the graph, the normalisation and the
    multi-step rollout inside: input raw readings [B, T, N, C], output forecasts [B, H, N].

    Exporting traces the model on the CPU; the file runs wherever its runtime does."""
    import logging

    from pygkd.deploy import export_forecaster, load_forecast_module
    from pygkd.errors import InputError
    from pygkd.files import ensure_writable

    if quantize:
        raise InputError("--quantize: int8 export was removed: in ONNX Runtime it ran slower than "
                         "float (static per-channel 0.91x, dynamic 0.68x at a batch of 1,140) "
                         "and was off by up to 43 mph; export float ONNX")
    ensure_writable(out, "--out")
    expected = {"onnx": ".onnx", "exported-program": ".pt2"}[fmt]
    if out.suffix.lower() != expected:
        logging.getLogger("pygkd").warning(
            f"--out {out}: {fmt} files usually end in {expected}, not "
            f"{out.suffix or '(none)'}; it is written as {fmt}")
    module, _ = load_forecast_module(model, horizon)
    path = export_forecaster(module, fmt, out)
    click.echo(f"{fmt} written to {path}: input 'readings' [B, {module.input_steps}, "
               f"{module.num_nodes}, {module.in_channels}], output 'forecast' "
               f"[B, {module.horizon}, {module.num_nodes}]")
