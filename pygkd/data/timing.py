"""Time in steps: sampling steps from seconds to weeks, horizon names and default horizons.

A series is a sequence of steps; its sampling step (``5min``, ``1h``, ``7D``) is read from its
timestamps or given (``--step``, which always wins), and may be unknown (a step-number
column). It names the forecast horizons ("15min", "2wk", or "step 3" when unknown) and says
whether the series has a day structure (a step that divides a day), which the paper's
within-day windows need.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pygkd.errors import InputError

__all__ = ["parse_step", "step_minutes", "steps_per_day_of", "horizon_label",
           "default_horizons", "check_horizons"]


def parse_step(text: str, option: str = "--step") -> float:
    """A sampling step such as ``5min``, ``30s``, ``1h``, ``1D``, ``7D`` or ``1W``, in minutes.

    Example:
        >>> parse_step("5min"), parse_step("7D"), parse_step("30s")
        (5.0, 10080.0, 0.5)
        >>> parse_step("7")
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: --step 7: 7 what? give a unit, e.g. 7D, 5min, 1h, 30s
    """
    bare = str(text).strip()
    if bare and not any(ch.isalpha() for ch in bare):
        raise InputError(f"{option} {bare}: {bare} what? give a unit, e.g. {bare}D, 5min, "
                         "1h, 30s")
    try:
        delta = pd.Timedelta(str(text).strip())
    except (ValueError, TypeError):
        delta = pd.NaT
    if delta is pd.NaT or pd.isna(delta) or delta <= pd.Timedelta(0):
        raise InputError(f"{option}: expected a positive sampling step like '5min', '1h' or "
                         f"'7D' (got {text!r})")
    return delta.total_seconds() / 60.0


def step_minutes(delta: pd.Timedelta) -> float:
    """Minutes of a ``Timedelta``."""
    return pd.Timedelta(delta).total_seconds() / 60.0


def steps_per_day_of(minutes: float | None) -> int | None:
    """Steps per day when the step divides a day (shorter than a day), else ``None``.

    Example:
        >>> steps_per_day_of(5.0), steps_per_day_of(7.0), steps_per_day_of(1440.0)
        (288, None, None)
    """
    if minutes is None or minutes >= 1440:
        return None
    per_day = 1440.0 / minutes
    return int(round(per_day)) if abs(per_day - round(per_day)) < 1e-9 else None


_UNITS = ((10080.0, "wk"), (1440.0, "d"), (60.0, "h"), (1.0, "min"), (1 / 60, "s"))


def horizon_label(step: int, minutes: float | None) -> str:
    """The name of horizon ``step`` (1-based): its duration when the sampling step is known,
    in the unit of the sampling step (the largest unit that divides it: 5-min data is named in
    minutes, "60min"; weekly data in weeks), else ``step<k>``. Metric keys use these names.

    Example:
        >>> horizon_label(3, 5.0), horizon_label(12, 5.0), horizon_label(2, 10080.0)
        ('15min', '60min', '2wk')
        >>> horizon_label(4, 60.0), horizon_label(3, None)
        ('4h', 'step3')
    """
    if minutes is None:
        return f"step{step}"
    for size, unit in _UNITS:
        count = float(minutes) / size
        if count >= 1 and abs(count - round(count)) < 1e-6:
            return f"{int(round(step * count))}{unit}"
    return f"{step * float(minutes):g}min"


def default_horizons(out_steps: int) -> tuple[int, ...]:
    """The paper's steps 3 / 6 / 9 when they fit, else up to three evenly spaced steps ending
    at ``out_steps``.

    Example:
        >>> default_horizons(9), default_horizons(12), default_horizons(4), default_horizons(2)
        ((3, 6, 9), (3, 6, 9), (1, 3, 4), (1, 2))
    """
    if out_steps >= 9:
        return (3, 6, 9)
    picks = sorted({max(1, round(out_steps * k / 3)) for k in (1, 2, 3)})
    return tuple(int(p) for p in picks)


def check_horizons(horizons: Sequence[int], out_steps: int, option: str = "--horizons"
                   ) -> tuple[int, ...]:
    """Horizons inside ``1..out_steps``, sorted and unique."""
    values = sorted({int(h) for h in horizons})
    if not values or values[0] < 1 or values[-1] > out_steps:
        raise InputError(f"{option}: expected steps in 1..{out_steps} (the output steps) "
                         f"(got {list(horizons)})")
    return tuple(values)
