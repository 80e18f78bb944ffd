"""Extra input channels: what a model reads besides the forecast quantity.

A window's channel 0 is always the forecast quantity (speed, a count, ...); channels
``1 .. C-1`` are the extra inputs named by ``--inputs`` (recipe key ``data.inputs``), in the
order given:

- measured quantities the dataset carries besides the forecast one (PEMS08's ``flow`` and
  ``occupancy`` when ``speed`` is forecast; a signal's feature channels ``channel1``, ...),
  filled like the forecast quantity and z-scored with the training part's statistics, each on
  its own;
- calendar covariates computed from the step index, in ``[0, 1)`` and not normalised:
  ``time-of-day`` (needs a day structure) and ``day-of-week`` (needs a step of at most a day).

Only channel 0 is forecast and scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pygkd.errors import InputError

__all__ = ["CALENDAR_INPUTS", "calendar_input", "available_inputs", "check_inputs"]


def _time_of_day(steps: np.ndarray, steps_per_day: int | None, offset: int) -> np.ndarray:
    if not steps_per_day:
        raise InputError("--inputs time-of-day: the series has no day structure (no "
                         "timestamps, or a step of a day or longer); give --step or "
                         "--steps-per-day, or leave time-of-day out")
    return ((steps + offset) % steps_per_day) / steps_per_day


def _day_of_week(steps: np.ndarray, steps_per_day: int | None, offset: int) -> np.ndarray:
    if not steps_per_day:
        raise InputError("--inputs day-of-week: needs a sampling step of at most a day with a "
                         "day structure (give --step or --steps-per-day)")
    return (((steps + offset) // steps_per_day) % 7) / 7


#: Calendar covariates by name: ``(steps, steps_per_day, offset) -> values in [0, 1)``, where
#: ``offset`` is the number of steps from the start of a Monday to the series' first step
#: (``0`` when the first timestamp is unknown).
CALENDAR_INPUTS: dict[str, Callable[[np.ndarray, int | None, int], np.ndarray]] = {
    "time-of-day": _time_of_day,
    "day-of-week": _day_of_week,
}


def calendar_input(name: str, num_steps: int, num_nodes: int, steps_per_day: int | None,
                   offset: int = 0) -> np.ndarray:
    """The calendar covariate ``name`` as ``[num_steps, num_nodes]`` (the same for every node).

    Example:
        >>> calendar_input("time-of-day", 5, 2, steps_per_day=4)[:, 0].tolist()
        [0.0, 0.25, 0.5, 0.75, 0.0]
        >>> calendar_input("day-of-week", 3, 1, steps_per_day=1, offset=5)[:, 0].tolist()
        [0.7142857142857143, 0.8571428571428571, 0.0]
    """
    values = CALENDAR_INPUTS[name](np.arange(num_steps), steps_per_day, offset)
    return np.repeat(values[:, None], num_nodes, axis=1)


def available_inputs(channels: Sequence[str]) -> list[str]:
    """The names ``--inputs`` accepts for a dataset carrying the measured ``channels``."""
    return [*channels, *CALENDAR_INPUTS]


def check_inputs(inputs: Sequence[str], channels: Sequence[str], source: str) -> list[str]:
    """``inputs`` as a list, after checking each names a channel of the data or a calendar
    covariate, once.

    Example:
        >>> check_inputs(["time-of-day"], ["flow"], "pems08")
        ['time-of-day']
    """
    names = list(inputs)
    for name in names:
        if name not in channels and name not in CALENDAR_INPUTS:
            choices = ", ".join(available_inputs(channels))
            raise InputError(f"--inputs: {source} has no input {name!r} (choose from: "
                             f"{choices})")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"--inputs: {', '.join(repeated)} given more than once")
    return names
