"""Forecast the next steps from the latest readings: load a model once, call it on tables.

The input is the own-data CSV format (``pygkd data export`` writes it): an optional first
column of timestamps or step numbers, then one column per sensor with the model's sensor names.
The last ``T`` rows (the model's input length) are used; missing readings (empty cells and, as
in training on traffic data, zeros) are filled by linear interpolation along time within those
rows; the model's stored normalisation is applied inside :class:`~pygkd.deploy.ForecastModule`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pygkd.data.preprocessing import interpolate_missing
from pygkd.deploy.module import ForecastModule, load_forecast_module
from pygkd.errors import InputError

__all__ = ["Forecaster", "read_readings"]

def read_readings(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A readings table from a CSV path or a DataFrame, checked: a header, numeric cells."""
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: not a readable CSV table ({str(err).splitlines()[0]})") \
            from None
    return frame


class Forecaster:
    """A trained model ready to forecast from recent readings.

    Args:
        module (ForecastModule): the model with its normalisation and rollout.

    Example::

        forecaster = Forecaster.load("runs/student/model.pt")
        forecast = forecaster.predict(pd.read_csv("recent.csv"))   # one row per future step
    """

    def __init__(self, module: ForecastModule, device: str = "cpu") -> None:
        from pygkd.runtime.device import resolve_device

        self.device = resolve_device(device)
        self.module = module.eval().to(self.device)
        if module.sensor_ids is None:
            module.sensor_ids = [str(i) for i in range(module.num_nodes)]
        self.sensor_ids: list[str] = list(module.sensor_ids)

    @classmethod
    def load(cls, path: str | Path, horizon: int | None = None,
             device: str = "cpu") -> Forecaster:
        """Load a checkpoint (``model.pt``) or a run folder, to run on ``device``."""
        module, _ = load_forecast_module(Path(path), horizon, dense=False)
        return cls(module, device)

    @property
    def input_steps(self) -> int:
        return self.module.input_steps

    @property
    def horizon(self) -> int:
        return self.module.horizon

    def window(self, frame: pd.DataFrame, source: str = "input") -> tuple:
        """``(readings [T, N] float64, last time value or None, step)`` from the last ``T``
        rows of ``frame``, validated."""
        if frame.shape[1] == 0 or frame.shape[0] == 0:
            raise InputError(f"{source}: expected a table with a header and rows of readings "
                             "(found none)")
        first = frame.columns[0]
        times = None
        if str(first) not in self.sensor_ids:  # a timestamp or step column
            times = frame[first]
            frame = frame.drop(columns=first)
        columns = [str(c) for c in frame.columns]
        if columns != self.sensor_ids:
            missing = [s for s in self.sensor_ids if s not in columns]
            extra = [c for c in columns if c not in self.sensor_ids]
            if not missing and not extra:
                raise InputError(f"{source}: sensor columns in another order than the model's "
                                 f"(expected {', '.join(self.sensor_ids[:5])}, ...)")
            parts = []
            if missing:
                parts.append(f"missing {_names(missing)}")
            if extra:
                parts.append(f"unknown {_names(extra)}")
            raise InputError(f"{source}: sensors differ from the model's {len(self.sensor_ids)} "
                             f"({'; '.join(parts)})")
        need = self.input_steps
        if len(frame) < need:
            raise InputError(f"{source}: expected at least {need} rows of readings (the model's "
                             f"input length), got {len(frame)}")
        tail = frame.iloc[-need:]
        values = tail.apply(pd.to_numeric, errors="coerce")
        bad = values.isna() & tail.notna()
        if bad.to_numpy().any():
            row, col = np.argwhere(bad.to_numpy())[0]
            raise InputError(f"{source}: expected numeric readings (got {tail.iat[row, col]!r} "
                             f"in column {tail.columns[col]!r}, row {tail.index[row] + 2})")
        last, step = None, None
        if times is not None:
            last, step = _check_times(times, need, source)
        readings = interpolate_missing(values.to_numpy(dtype=np.float64), self.sensor_ids, source)
        return readings, last, step

    @torch.no_grad()
    def predict(self, source: str | Path | pd.DataFrame) -> pd.DataFrame:
        """Forecast the next ``horizon`` steps; one row per step, one column per sensor.

        The index holds timestamps (when the input had them), or step numbers following the
        input's, or ``1..H``.
        """
        name = str(source) if not isinstance(source, pd.DataFrame) else "input"
        frame = read_readings(source)
        readings, last, step = self.window(frame, name)
        # normalise in float64, as the training data were, then roll the model out
        mean, std = self.module.statistics
        dtype = next(self.module.parameters()).dtype
        z = torch.tensor((readings - mean) / std, dtype=dtype, device=self.device)
        forecast = self.module.rollout(z[None, :, :, None])[0].double().cpu().numpy()
        forecast = forecast * std + mean  # [H, N]
        h = np.arange(1, self.horizon + 1)
        if last is None:
            index = pd.Index(h, name="step")
        elif isinstance(last, pd.Timestamp):
            index = pd.DatetimeIndex([last + k * step for k in h], name="timestamp")
        else:
            index = pd.Index([last + k * step for k in h], name="step")
        return pd.DataFrame(forecast, index=index, columns=self.sensor_ids)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:8])
    return shown + (f" and {len(items) - 8} more" if len(items) > 8 else "")


def _check_times(times: pd.Series, need: int, source: str):  # type: ignore[no-untyped-def]
    """The last time value and the step, after checking the last ``need`` rows are evenly
    spaced (no gaps)."""
    tail = times.iloc[-need:]
    if pd.api.types.is_numeric_dtype(tail):
        values = tail.to_numpy()
        deltas = np.diff(values)
        step = deltas[0] if len(deltas) else 1
        if (deltas <= 0).any() or (deltas != step).any():
            row = _first_gap(deltas, step) + len(times) - need + 2
            raise InputError(f"{source}: expected evenly spaced, increasing step numbers in "
                             f"column {times.name!r} (a gap or repeat near row {row})")
        return values[-1], step
    stamps = pd.to_datetime(tail, errors="coerce")
    if stamps.isna().any():
        raise InputError(f"{source}: expected timestamps in column {times.name!r} (could not "
                         f"read {tail[stamps.isna()].iloc[0]!r})")
    deltas = stamps.diff().dropna()
    step = deltas.iloc[0] if len(deltas) else pd.Timedelta(minutes=5)
    if (deltas <= pd.Timedelta(0)).any() or (deltas != step).any():
        row = _first_gap(deltas.to_numpy(), step.to_timedelta64()) + len(times) - need + 2
        raise InputError(f"{source}: the last {need} timestamps are not evenly spaced (a gap "
                         f"or repeat near row {row}, step {step}); give consecutive readings")
    return stamps.iloc[-1], step


def _first_gap(deltas, step) -> int:  # type: ignore[no-untyped-def]
    wrong = np.flatnonzero(np.asarray(deltas) != step)
    return int(wrong[0]) + 1 if wrong.size else 0
