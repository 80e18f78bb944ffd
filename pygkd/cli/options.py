"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pygkd.errors import InputError
from pygkd.train.config import DataConfig

__all__ = ["RegistryChoice", "OutputPath", "OUT_FOLDER", "OUT_FILE", "data_options",
           "data_config_from", "data_overrides", "runtime_options", "runtime_overrides",
           "runtime_set_items"]

class OutputPath(click.Path):
    """``click.Path`` for outputs: an empty value is refused (``--out ''`` would write into
    the current folder)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("expected a path (got an empty string, which would write into the "
                      "current folder)", param, ctx)
        return super().convert(value, param, ctx)


class RegistryChoice(click.Choice):
    """``click.Choice`` over a registry's names, read when the option is used (so plug-ins
    installed through entry points are choices too)."""

    def __init__(self, names: Callable[[], Any]) -> None:
        self._names = names
        super().__init__([], case_sensitive=False)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Any) -> None:
        pass


class CombinableChoice(RegistryChoice):
    """A registry name, or several joined by ``+`` (a combined loss, ``skd+tcd``): each part
    must be a choice."""

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "][+...]"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "+" in value:
            return "+".join(str(super(CombinableChoice, self).convert(v.strip(), param, ctx))
                            for v in value.split("+"))
        return super().convert(value, param, ctx)


#: ``--out`` of a command that writes a folder / a file.
OUT_FOLDER = OutputPath(file_okay=False, path_type=Path)
OUT_FILE = OutputPath(dir_okay=False, path_type=Path)

_DEVICE_HELP = ("Where to run: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps "
                "[recipe key 'device'; default auto].")


def runtime_options(training: bool = True) -> Callable:
    """Decorator adding --device and, for commands that train, --precision, --compile and
    --scd-nodes."""

    def wrap(func: Callable) -> Callable:
        opts = [click.option("--device", default=None, metavar="DEVICE", help=_DEVICE_HELP)]
        if training:
            opts += [
                click.option("--precision", type=click.Choice(["32", "bf16", "16-mixed"]),
                             default=None, help="Training precision: float32, bfloat16 "
                             "autocast, or float16 autocast with loss scaling [32]."),
                click.option("--compile", "compile_model", is_flag=True, default=None,
                             help="torch.compile the trained model's forward pass."),
                click.option("--scd-nodes", type=int, default=None, metavar="M",
                             help="L_SCD on M random nodes per batch (0: exact) [exact while it "
                                  "costs at most a W/O KD step, else sampled; 256 beyond 1,000 "
                                  "nodes]."),
            ]
        for opt in reversed(opts):
            func = opt(func)
        return func

    return wrap


def runtime_overrides(kwargs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pop the runtime options from a command's kwargs as recipe sections:
    ``{"": {"device": ...}, "train": {...}, "distill": {...}}`` (only the options given)."""
    out: dict[str, dict[str, Any]] = {"": {}, "train": {}, "distill": {}}
    device = kwargs.pop("device", None)
    if device is not None:
        out[""]["device"] = device
    precision = kwargs.pop("precision", None)
    if precision is not None:
        out["train"]["precision"] = precision
    if kwargs.pop("compile_model", None):
        out["train"]["compile"] = True
    scd_nodes = kwargs.pop("scd_nodes", None)
    if scd_nodes is not None:
        out["distill"]["scd_nodes"] = scd_nodes
    return out


def runtime_set_items(kwargs: dict[str, Any]) -> tuple[str, ...]:
    """The runtime options as ``--set`` items (for commands built on recipe overrides)."""
    items = []
    for section, values in runtime_overrides(kwargs).items():
        for key, value in values.items():
            items.append(f"{section + '.' if section else ''}{key}={value}")
    return tuple(items)

_DATA_HELP = "synthetic (built in), los-loop, pemsd7m, pems08, or the path of your own speeds CSV"


def data_options(with_dataset: bool = True) -> Callable:
    """Decorator adding --dataset (optional), --data-dir, --split and the loader options."""

    def wrap(func: Callable) -> Callable:
        opts = [
            click.option("--dataset", default=None, help=f"Dataset: {_DATA_HELP}."),
            click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                         help="Folder with the dataset files [default: $PYGKD_DATA or "
                              "~/.cache/pygkd/data]."),
            click.option("--split", default=None,
                         help="Days 'train/val/test' (e.g. 5/1/1), fractions of the series "
                              "(0.7/0.1/0.2) or ratios 'a:b:c'."),
            click.option("--in-steps", type=click.IntRange(min=1), default=None,
                         help="Input steps of a window [12]."),
            click.option("--out-steps", type=click.IntRange(min=1), default=None,
                         help="Forecast steps of a window [9]."),
            click.option("--horizons", default=None, metavar="H,H,...",
                         help="Forecast steps evaluated [3,6,9 where they fit, else up to "
                              "three evenly spaced steps ending at --out-steps]."),
            click.option("--missing", type=click.Choice(["zero", "nan", "none"]), default=None,
                         help="Missing readings: zero (NaN and 0, traffic speeds), nan (NaN "
                              "only: counts with true zeros) or none [zero]."),
            click.option("--step", default=None, metavar="STEP",
                         help="Sampling step of your own data, e.g. 5min, 1h, 7D (wins over "
                              "timestamps) [inferred; unknown without timestamps]."),
            click.option("--date-format", default=None, metavar="FORMAT",
                         help="How your own data's timestamps read, in strftime codes, e.g. "
                              "'%d/%m/%Y %H:%M' (needed when dates read both day-first and "
                              "month-first) [inferred]."),
            click.option("--inputs", default=None, metavar="NAME,NAME,...",
                         help="Extra input channels besides the forecast quantity: "
                              "time-of-day, day-of-week, or a channel of the data (PEMS08: "
                              "flow, occupancy, speed) [none]."),
            click.option("--graph", type=click.Path(dir_okay=False), default=None,
                         help="Your own graph: 'from,to,cost' edge list or dense matrix CSV."),
            click.option("--graph-kind", type=click.Choice(["distance", "weight"]), default=None,
                         help="A dense --graph holds distances (kernel applied) or weights."),
            click.option("--sigma2", type=float, default=None,
                         help="Gaussian kernel width (default 0.1, as STGCN's code; the paper "
                              "prints 10)."),
            click.option("--epsilon", type=float, default=None, help="Kernel threshold [0.5]."),
            click.option("--channel", default=None, help="PEMS0X channel: flow, occupancy, speed."),
            click.option("--steps-per-day", type=click.IntRange(min=1), default=None,
                         help="Samples per day of your own data (wins over timestamps) "
                              "[inferred]."),
            click.option("--nodes", "num_nodes", type=click.IntRange(min=2), default=None,
                         help="Sensors of the synthetic network (or the first N of PeMSD7(M)) "
                              "[40 / 228]."),
            click.option("--days", "num_days", type=click.IntRange(min=1), default=None,
                         help="Days of the synthetic network [8]."),
        ]
        if not with_dataset:
            opts = opts[1:]
        for opt in reversed(opts):
            func = opt(func)
        return func

    return wrap


def data_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop the data options from a command's kwargs as a partial ``data`` recipe section."""
    section: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key in ("dataset", "data_dir", "split", "in_steps", "out_steps", "missing", "step"):
        value = kwargs.pop(key, None)
        if value is not None:
            section[{"dataset": "name", "data_dir": "root"}.get(key, key)] = value
    inputs = kwargs.pop("inputs", None)
    if inputs is not None:
        section["inputs"] = [v.strip() for v in str(inputs).split(",") if v.strip()]
    horizons = kwargs.pop("horizons", None)
    if horizons is not None:
        try:
            section["horizons"] = [int(v) for v in str(horizons).split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--horizons: expected comma-separated steps like '3,6,9' "
                             f"(got {horizons!r})") from None
    for key in ("graph", "graph_kind", "sigma2", "epsilon", "channel", "steps_per_day",
                "num_nodes", "num_days", "date_format"):
        value = kwargs.pop(key, None)
        if value is not None:
            options[key] = value
    if options:
        section["options"] = options
    return section


def data_config_from(section: dict[str, Any]) -> DataConfig:
    from pygkd.train.config import validated

    values = {"name": "synthetic", **section, "options": dict(section.get("options", {}))}
    return validated(DataConfig, values, "data")
