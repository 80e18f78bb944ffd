"""Forecast the next steps from the latest readings: load a model once, call it on tables.

The input is the own-data CSV format (``pygkd data export`` writes it): an optional first
column of timestamps or step numbers, then one column per sensor with the model's sensor names.
The last ``T`` rows (the model's input length) are used; missing readings (empty cells and, as
in training on traffic data, zeros) are filled by linear interpolation along time within those
rows; the model's stored normalisation is applied inside :class:`~pygkd.deploy.ForecastModule`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pygkd.data.loaders import on_grid
from pygkd.data.preprocessing import interpolate_missing, missing_mask
from pygkd.data.validate import (
    check_sensor_names,
    check_text_file,
    check_values,
    match_sensors,
    names_text,
    numeric_readings,
    read_time_axis,
    warn_negative,
)
from pygkd.deploy.module import ForecastModule, load_forecast_module
from pygkd.errors import InputError

__all__ = ["Forecaster", "read_readings"]

logger = logging.getLogger(__name__)

def read_readings(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A readings table from a CSV path or a DataFrame, checked: UTF-8, comma-separated text
    with a header (:func:`~pygkd.data.validate.check_text_file`)."""
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    check_sensor_names(check_text_file(path, "readings"), str(path))
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

    def __init__(self, module: ForecastModule, device: str = "cpu", missing: str = "zero",
                 value_range: tuple[float, float] | None = None) -> None:
        from pygkd.runtime.device import resolve_device

        self.device = resolve_device(device)
        #: the missing-value policy the model was trained with (``zero``, ``nan``, ``none``)
        self.missing = missing
        #: the training data's smallest and largest reading (``None``: unknown)
        self.value_range = value_range
        self.module = module.eval().to(self.device)
        if module.sensor_ids is None:
            module.sensor_ids = [str(i) for i in range(module.num_nodes)]
        self.sensor_ids: list[str] = list(module.sensor_ids)

    @classmethod
    def load(cls, path: str | Path, horizon: int | None = None,
             device: str = "cpu") -> Forecaster:
        """Load a checkpoint (``model.pt``) or a run folder, to run on ``device``."""
        module, payload = load_forecast_module(Path(path), horizon, dense=False)
        data = payload.get("data") or {}
        stored = data.get("range")
        return cls(module, device, missing=data.get("missing") or "zero",
                   value_range=(float(stored[0]), float(stored[1])) if stored else None)

    @property
    def input_steps(self) -> int:
        return self.module.input_steps

    @property
    def horizon(self) -> int:
        return self.module.horizon

    def window(self, frame: pd.DataFrame, source: str = "input") -> tuple:
        """``(readings [T, N] float64, last time value or None, step)`` from the last ``T``
        steps of ``frame``, checked as training data are (:mod:`pygkd.data.validate`): the
        model's sensors by name, increasing times at the model's sampling step (gaps become
        missing readings), finite values, at most half of each sensor's window missing under
        the model's missing-value policy, readings inside the training range (warning)."""
        if frame.shape[1] == 0 or frame.shape[0] == 0:
            raise InputError(f"{source}: expected a table with a header and rows of readings "
                             "(found none)")
        check_sensor_names([str(c) for c in frame.columns], source)
        first = frame.columns[0]
        axis = None
        if str(first) not in self.sensor_ids:  # a timestamp or step column
            axis = read_time_axis(frame[first], source, missing=self.missing)
            frame = frame.drop(columns=first)
        match_sensors(self.sensor_ids, [str(c) for c in frame.columns], source)
        values = numeric_readings(frame, source)
        model_minutes = self.module.minutes_per_step
        if axis is not None and axis.minutes is not None and model_minutes and \
                abs(axis.minutes - float(model_minutes)) > 1e-6 * float(model_minutes):
            raise InputError(f"{source}: readings every {_duration(axis.minutes)}, but the model "
                             f"forecasts steps of {_duration(float(model_minutes))}; give "
                             "readings at the model's step")
        grid = on_grid(values, axis)
        need = self.input_steps
        if len(grid) < need:
            raise InputError(f"{source}: expected at least {need} steps of readings (the model's "
                             f"input length), got {len(grid)}")
        readings = grid[-need:]
        offset = len(frame) - need + 2 if axis is None or axis.gaps == 0 else 0
        check_values(readings, source, self.sensor_ids, row_offset=offset)
        warn_negative(readings, source, self.sensor_ids, self.missing, row_offset=offset)
        absent = missing_mask(readings, self.missing).sum(axis=0)
        over = np.flatnonzero(absent > need // 2)
        if over.size:
            names = [f"{self.sensor_ids[i]} ({absent[i]})" for i in over]
            raise InputError(f"{source}: {over.size} sensor(s) miss more than half of the last "
                             f"{need} steps (missing readings in brackets, under the model's "
                             f"--missing {self.missing}): {names_text(names)}; a forecast from "
                             "them would be made up")
        filled = interpolate_missing(readings, self.sensor_ids, source, missing=self.missing)
        self._warn_out_of_range(filled, source)
        last, step = None, None
        if axis is not None:
            last, step = axis.last, axis.step
            if step is None:  # one row of timestamps: the model's step
                step = pd.Timedelta(minutes=float(model_minutes or 5))
        return filled, last, step

    def _warn_out_of_range(self, readings: np.ndarray, source: str) -> None:
        if self.value_range is not None:
            low, high = self.value_range
            margin = 0.5 * (high - low) if high > low else abs(high) or 1.0
            low, high = low - margin, high + margin
        else:  # older checkpoints: ten standard deviations of the training data
            mean, std = self.module.statistics
            low, high = mean - 10 * std, mean + 10 * std
        outside = (readings < low) | (readings > high)
        if outside.any():
            r, c = np.argwhere(outside)[0]
            shown = f"[{self.value_range[0]:g}, {self.value_range[1]:g}]" \
                if self.value_range is not None else f"about [{low:g}, {high:g}]"
            logger.warning(f"{source}: {int(outside.sum())} reading(s) far outside the training "
                           f"data's range {shown} (first {readings[r, c]:g}, sensor "
                           f"{self.sensor_ids[c]!r}); the forecast extrapolates")

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


def _duration(minutes: float) -> str:
    from pygkd.data.timing import horizon_label

    return horizon_label(1, minutes)
