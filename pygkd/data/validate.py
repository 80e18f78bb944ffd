"""One validation boundary: every path that reads series, time axes, graphs or readings checks
them here, by class, before any work.

Each check names the file (or option), the row / column or sensor, what was expected and what
was found. It raises :class:`~pygkd.errors.InputError` when going on would give a wrong result
and logs a warning when the run can honestly go on. Loaders (:mod:`pygkd.data.loaders`,
:mod:`pygkd.data.formats`), :class:`~pygkd.data.TrafficData`,
:class:`~pygkd.data.ForecastDataset` and the forecasting path
(:class:`~pygkd.deploy.Forecaster`, ``pygkd predict``) all call these functions, so the
deploy path checks what training checks.

Classes checked: time axes (:func:`read_time_axis`), values (:func:`check_values`,
:func:`check_normalised`, :func:`warn_constant_sensors`), sensor names
(:func:`check_sensor_names`, :func:`match_sensors`), graphs (:func:`check_graph`) and the
files a checkpoint points to (:func:`fingerprint`, :func:`verify_fingerprints`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pygkd.errors import InputError

__all__ = ["TimeAxis", "read_time_axis", "numeric_readings", "check_values", "check_normalised",
           "warn_constant_sensors", "warn_negative", "warn_empty_windows", "warn_zero_share",
           "check_sensor_names", "match_sensors", "check_graph", "fingerprint",
           "verify_fingerprints", "check_text_file", "OVERFLOW", "sensor_name", "names_text"]

logger = logging.getLogger(__name__)

#: Largest magnitude whose square still fits in float32 (losses square errors).
OVERFLOW = float(np.sqrt(np.finfo(np.float32).max))


def sensor_name(sensor_ids: Sequence[str] | None, column: int) -> str:
    """``sensor 'A'`` (or ``sensor column 3`` without names)."""
    if sensor_ids is not None and 0 <= column < len(sensor_ids):
        return f"sensor {sensor_ids[column]!r}"
    return f"sensor column {column}"


def names_text(items: Sequence[str], limit: int = 8) -> str:
    """``a, b, c and 4 more``."""
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# ---------------------------------------------------------------------------------- values


def numeric_readings(frame: pd.DataFrame, source: str) -> np.ndarray:
    """The cells of a readings table ``[rows, N]`` as float64 (empty cells NaN); a cell that
    is not a number is an error naming it, its row (as in the file) and its sensor."""
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    bad = (numbers.isna() & frame.notna()).to_numpy()
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(f"{source}: expected numeric readings (got {frame.iat[r, c]!r} at "
                         f"row {r + 2}, sensor {str(frame.columns[c])!r})")
    return numbers.to_numpy(dtype=np.float64)


def check_values(values: np.ndarray, source: str, sensor_ids: Sequence[str] | None = None,
                 row_offset: int = 0, what: str = "readings") -> None:
    """Readings ``[steps, N]`` are finite and small enough to square in float32 (NaN is
    "missing", not an error).

    Example:
        >>> check_values(np.array([[1.0, np.nan]]), "x.csv")
        >>> check_values(np.array([[1.0], [np.inf]]), "x.csv", ["a"])
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: x.csv: expected finite readings (got inf at row 1, sensor 'a')
    """
    if values.size == 0:
        return
    infinite = np.isinf(values)
    if infinite.any():
        r, c = np.argwhere(infinite)[0]
        raise InputError(f"{source}: expected finite {what} (got {values[r, c]} at row "
                         f"{r + row_offset}, {sensor_name(sensor_ids, c)})")
    with np.errstate(invalid="ignore"):
        huge = np.abs(values) > OVERFLOW
    if huge.any():
        r, c = np.argwhere(huge)[0]
        raise InputError(f"{source}: {values[r, c]:g} at row {r + row_offset}, "
                         f"{sensor_name(sensor_ids, c)} is too large: its square overflows "
                         f"float32 (limit {OVERFLOW:.3g}); rescale the {what}")


def warn_negative(values: np.ndarray, source: str, sensor_ids: Sequence[str] | None = None,
                  missing: str = "zero", row_offset: int = 0) -> None:
    """A warning with the count and first position of negative readings where zeros mean
    "missing" (``missing='zero'``: traffic speeds and other quantities that cannot be
    negative)."""
    if missing != "zero":
        return
    with np.errstate(invalid="ignore"):
        negative = values < 0
    if negative.any():
        r, c = np.argwhere(negative)[0]
        logger.warning(f"{source}: {int(negative.sum())} negative reading(s) (first "
                       f"{values[r, c]:g} at row {r + row_offset}, {sensor_name(sensor_ids, c)})"
                       "; with --missing zero the readings are taken as a quantity that "
                       "cannot be negative (a speed, a count): check the file")


def warn_zero_share(values: np.ndarray, source: str, missing: str, limit: float = 0.2) -> None:
    """A warning when ``missing='zero'`` would turn a large share of true readings into
    "missing": more than ``limit`` of the readings ``[steps, N]`` are exactly 0."""
    if missing != "zero" or values.size == 0:
        return
    share = float(np.mean(values == 0))
    if share > limit:
        logger.warning(f"{source}: {share:.0%} of the readings are exactly 0, which --missing "
                       "zero (the default, for traffic speeds) treats as missing and fills by "
                       "interpolation; if the zeros are real (counts), use --missing nan")


def check_normalised(z: np.ndarray, source: str, sensor_ids: Sequence[str] | None = None,
                     scale: tuple[float, float] | None = None) -> None:
    """Normalised values ``[steps, N]`` stay within float32's squared range (a tiny training
    standard deviation against larger later values overflows)."""
    with np.errstate(invalid="ignore"):
        huge = np.abs(z) > OVERFLOW
    if huge.any():
        r, c = np.argwhere(huge)[0]
        stats = f" (training mean {scale[0]:g}, std {scale[1]:g})" if scale else ""
        raise InputError(f"{source}: row {r}, {sensor_name(sensor_ids, c)} is "
                         f"{z[r, c]:.3g} standard deviations from the training mean"
                         f"{stats}: it overflows float32; rescale the data or check that "
                         "row")


def warn_constant_sensors(values: np.ndarray, source: str,
                          sensor_ids: Sequence[str] | None = None) -> None:
    """A warning naming the sensors whose readings ``[steps, N]`` never change (std 0)."""
    if values.shape[0] < 2:
        return
    with np.errstate(invalid="ignore"):
        constant = np.flatnonzero(np.nanstd(values, axis=0) == 0)
    if constant.size:
        names = [sensor_name(sensor_ids, int(c)).split(" ", 1)[1] for c in constant]
        logger.warning(f"{source}: {constant.size} sensor(s) read the same value at every "
                       f"step of the training part (std 0): {names_text(names)}; they "
                       "carry no signal")


def warn_empty_windows(missing: np.ndarray, starts: dict[str, Any], n_in: int,
                       source: str) -> None:
    """A warning counting the windows whose ``n_in`` input steps hold no reading at all
    (every sensor missing: their inputs are made up by interpolation); ``missing`` is the
    ``[steps, N]`` mask, ``starts`` the window start steps per split."""
    empty_rows = missing.all(axis=1).astype(np.int64)
    if not empty_rows.any():
        return
    run = np.concatenate([[0], np.cumsum(empty_rows)])
    found = []
    for split, begin in starts.items():
        begin = np.asarray(begin, dtype=np.int64)
        blank = (run[begin + n_in] - run[begin]) == n_in
        if blank.any():
            found.append((split, int(blank.sum()), int(begin[blank][0])))
    if found:
        total = sum(count for _, count, _ in found)
        split, _, step = found[0]
        logger.warning(f"{source}: {total} window(s) have no reading at all in their {n_in} "
                       f"input steps (first: {split} window from step {step}); their inputs "
                       "are interpolated, not measured")


# ---------------------------------------------------------------------------------- sensors


def check_sensor_names(names: Sequence[str], source: str) -> None:
    """Sensor names are unique.

    Example:
        >>> check_sensor_names(["a", "b", "a"], "s.csv")
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: s.csv: sensor name 'a' repeats (columns 0 and 2); sensor ...
    """
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = str(name).strip()
        if key in seen:
            raise InputError(f"{source}: sensor name {key!r} repeats (columns {seen[key]} and "
                             f"{i}); sensor names must be unique")
        seen[key] = i


def match_sensors(expected: Sequence[str] | None, given: Sequence[str] | None, source: str,
                  what: str = "the model's") -> None:
    """The data's sensors are the model's, by name and in order (an error listing the
    difference otherwise); unnamed sensors are matched by count."""
    if expected is None or given is None:
        if expected is not None and given is not None and len(expected) != len(given):
            raise InputError(f"{source}: {len(given)} sensors, but {what} are {len(expected)}")
        return
    expected, given = [str(s) for s in expected], [str(s) for s in given]
    if expected == given:
        return
    missing = [s for s in expected if s not in given]
    extra = [s for s in given if s not in expected]
    if not missing and not extra:
        raise InputError(f"{source}: the sensors are {what} in another order (expected "
                         f"{names_text(expected, 5)})")
    parts = []
    if missing:
        parts.append(f"missing {names_text(missing)}")
    if extra:
        parts.append(f"unknown {names_text(extra)}")
    raise InputError(f"{source}: sensors differ from {what} {len(expected)} "
                     f"({'; '.join(parts)})")


# ---------------------------------------------------------------------------------- graphs


def check_graph(adjacency: np.ndarray, source: str, kind: str = "weight") -> None:
    """A weighted adjacency ``[N, N]`` connects at least two different sensors (self-loops are
    dropped); weights that look like distances get a warning when ``kind='weight'``."""
    n = adjacency.shape[0]
    if n < 2:
        return
    off = adjacency.copy()
    np.fill_diagonal(off, 0.0)
    if not np.any(off):
        loops = int(np.count_nonzero(np.diag(adjacency)))
        found = f"only {loops} self-loop(s), which are dropped" if loops else "none"
        raise InputError(f"{source}: expected edges between different sensors (found "
                         f"{found}); a graph model needs a road graph")
    if kind == "weight" and off.max() > 1.0 and np.median(off[off > 0]) > 1.0:
        logger.warning(f"{source}: edge weights up to {off.max():g} (median "
                       f"{np.median(off[off > 0]):g}) look like distances; weights should "
                       "grow with closeness: if these are distances use --graph-kind "
                       "distance")


# ---------------------------------------------------------------------------------- time


@dataclass(frozen=True)
class TimeAxis:
    """A checked time axis.

    Attributes:
        minutes (float, optional): the sampling step in minutes (``None`` for step numbers).
        first: the first timestamp (``pd.Timestamp``) or step number.
        last: the last timestamp or step number.
        step: the spacing between rows (``pd.Timedelta`` or a number).
        positions (np.ndarray): ``[rows]`` each row's step on the regular grid (0 for the
            first row); a gap makes later rows jump.
        length (int): steps of the regular grid from the first to the last row.
    """

    minutes: float | None
    first: Any
    last: Any
    step: Any
    positions: np.ndarray
    length: int

    @property
    def gaps(self) -> int:
        """Steps missing from the grid (rows that are not in the file)."""
        return self.length - len(self.positions)


_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{2,4})\b")


def _parse_dates(column: pd.Series, source: str, date_format: str | None) -> pd.Series:
    name = column.name
    text = column.astype(str)
    if date_format is None:
        parts = text.str.extract(_NUMERIC_DATE)
        if parts.notna().all().all() and len(text):
            first = parts[0].astype(int)
            second = parts[2].astype(int)
            if (first > 12).any() or (second > 12).any():
                dayfirst = bool((first > 12).any())
            elif (first != second).any():
                row = int(np.flatnonzero((first != second).to_numpy())[0])
                sep = parts[1].iloc[row]
                raise InputError(
                    f"{source}: the dates in column {name!r} read both day-first and "
                    f"month-first ({text.iloc[row]!r}: day {first.iloc[row]} of month "
                    f"{second.iloc[row]}, or the other way); give --date-format, e.g. "
                    f"--date-format '%d{sep}%m{sep}%Y %H:%M'")
            else:
                dayfirst = False
            fmt = None
            return _to_datetime(text, source, name, fmt, dayfirst)
    return _to_datetime(text, source, name, date_format, False)


def _to_datetime(text: pd.Series, source: str, name: Any, fmt: str | None,
                 dayfirst: bool) -> pd.Series:
    import warnings

    aware = text.str.contains(r"(?:[+-]\d\d:?\d\d|Z|UTC)\s*$", regex=True)
    if aware.any() and not aware.all():
        row = int(np.flatnonzero((aware != aware.iloc[0]).to_numpy())[0])
        raise InputError(f"{source}: column {name!r} mixes timestamps with and without a "
                         f"time zone (row {row + 2}: {text.iloc[row]!r}, row 2: "
                         f"{text.iloc[0]!r}); give every timestamp in one zone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            stamps = pd.to_datetime(text, format=fmt, dayfirst=dayfirst, errors="coerce")
        except (ValueError, TypeError) as err:
            if "zone" not in str(err).lower() and "offset" not in str(err).lower():
                raise InputError(f"{source}: expected timestamps in column {name!r} "
                                 f"({str(err).splitlines()[0]})") from None
            stamps = None
        if stamps is None or stamps.dtype == object:  # mixed UTC offsets
            utc = pd.to_datetime(text, format=fmt, dayfirst=dayfirst, errors="coerce",
                                 utc=True)
            logger.warning(f"{source}: the timestamps in column {name!r} carry several UTC "
                           "offsets (daylight saving time?); they are read as UTC")
            stamps = utc
    if fmt is not None and stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise InputError(f"{source}: --date-format {fmt!r} does not read "
                         f"{text.iloc[row]!r} (row {row + 2}, column {name!r})")
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise InputError(f"{source}: expected timestamps or step numbers in column {name!r} "
                         f"(could not read {text.iloc[row]!r} at row {row + 2})")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def read_time_axis(column: pd.Series, source: str, date_format: str | None = None,
                   step: str | None = None, missing: str = "zero",
                   header_rows: int = 1) -> TimeAxis:
    """Check a time column (timestamps or step numbers) and place its rows on a regular grid.

    Repeated or decreasing times are an error naming the first row; gaps (rows missing from
    the grid) are a warning with their count and the first gap (the missing steps are then
    empty readings, filled by the ``missing`` policy); times off the grid are an error.
    Dates that read both day-first and month-first need ``date_format``; mixed UTC offsets
    are read as UTC (warning); ``step`` (``--step``) that disagrees with the timestamps'
    spacing is a warning naming both.

    Args:
        column: the time column, one value per row.
        source: the file, for messages (rows are counted from 1 after ``header_rows``).

    Example:
        >>> axis = read_time_axis(pd.Series([0, 1, 2, 5], name="t"), "x.csv")
        >>> axis.positions.tolist(), axis.length, axis.gaps
        ([0, 1, 2, 5], 6, 2)
    """
    name = column.name
    row0 = header_rows + 1
    numeric = pd.api.types.is_numeric_dtype(column)
    if numeric:
        values = column.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(f"{source}: expected step numbers in column {name!r} (got "
                             f"{values[row]} at row {row + row0})")
        deltas = np.diff(values)
    else:
        if pd.api.types.is_datetime64_any_dtype(column):  # already timestamps (an .h5 index)
            stamps = column.dt.tz_convert("UTC").dt.tz_localize(None) \
                if getattr(column.dt, "tz", None) is not None else column
        else:
            stamps = _parse_dates(column, source, date_format)
        values = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        deltas = np.diff(values)
    if len(values) > 1 and (deltas <= 0).any():
        k = int(np.flatnonzero(deltas <= 0)[0])
        what = "repeats" if deltas[k] == 0 else "goes back in time"
        raise InputError(f"{source}: column {name!r} {what} at row {k + 1 + row0} "
                         f"({_shown(column.iloc[k + 1])} after {_shown(column.iloc[k])}); "
                         "expected increasing times: sort the rows and drop duplicates")
    spacing = float(pd.Series(deltas).mode().iloc[0]) if len(deltas) else None
    if spacing is None:
        positions = np.zeros(len(values), dtype=np.int64)
    else:
        steps = (values - values[0]) / spacing
        positions = np.round(steps).astype(np.int64)
        off = np.abs(steps - positions) > 1e-6
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise InputError(f"{source}: row {row + row0} ({_shown(column.iloc[row])}) is off the "
                             "regular grid of the file's step "
                             f"({_spacing_text(spacing, numeric)}); give evenly spaced times")
    length = int(positions[-1]) + 1 if len(positions) else 0
    minutes = None if numeric or spacing is None else spacing / 6e10
    if length > len(values):
        k = int(np.flatnonzero(np.diff(positions) > 1)[0])
        gaps = int(np.count_nonzero(np.diff(positions) > 1))
        policy = {"none": "--missing none fills nothing, so they are an error later; use "
                          "--missing nan to interpolate them",
                  }.get(missing, "they are filled by linear interpolation, as missing "
                                 "readings")
        logger.warning(f"{source}: {length - len(values)} step(s) missing in {gaps} gap(s) of "
                       f"column {name!r} (first after row {k + row0}: {_shown(column.iloc[k])} -> "
                       f"{_shown(column.iloc[k + 1])}); {policy}")
    if step is not None and minutes is not None and spacing is not None:
        from pygkd.data.timing import parse_step

        given = parse_step(step)
        if abs(given - minutes) > 1e-9 * max(given, minutes):
            logger.warning(f"{source}: --step {step} differs from the timestamps' own spacing "
                           f"({_spacing_text(spacing, False)}); --step is used")
    if numeric:
        first, last = values[0], values[-1]
        step_value: Any = spacing if spacing is not None else 1
        if float(step_value).is_integer():
            step_value = int(step_value)
            first, last = int(first), int(last)
    else:
        first, last = stamps.iloc[0], stamps.iloc[-1]
        step_value = pd.Timedelta(int(spacing), "ns") if spacing is not None else None
    return TimeAxis(minutes=minutes, first=first, last=last, step=step_value,
                    positions=positions, length=length)


def _spacing_text(spacing: float, numeric: bool) -> str:
    from pygkd.data.timing import horizon_label

    if numeric:
        return f"{spacing:g} steps"
    return horizon_label(1, spacing / 6e10)


def _shown(value: Any) -> str:
    """A time value for messages: text quoted, numbers and timestamps plain."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (np.generic,)):
        value = value.item()
    return str(value)


# ---------------------------------------------------------------------------------- files


def fingerprint(path: str | Path) -> dict[str, Any]:
    """Size and SHA-256 of a file, to check later that a stored path still names it.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "a.csv"
        >>> _ = f.write_text("x")
        >>> fingerprint(f)["size"], fingerprint(f)["sha256"][:12]
        (1, '2d711642b726')
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"size": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def verify_fingerprints(files: dict[str, dict[str, Any]], what: str) -> None:
    """Each stored data file still exists with its size and SHA-256; an error naming the file
    otherwise. Logs ``reading data from PATH (as trained)``."""
    for path, stored in files.items():
        if not Path(path).is_file():
            raise InputError(f"{path}: {what} was trained on this file, which is gone; give "
                             "the data explicitly (--dataset / --data-dir)")
        now = fingerprint(path)
        if now != {"size": stored.get("size"), "sha256": stored.get("sha256")}:
            raise InputError(f"{path}: this file changed since {what} was trained on it "
                             f"(size {stored.get('size')} -> {now['size']}, SHA-256 differs); "
                             "give the data explicitly (--dataset / --data-dir) to use it")
        logger.info(f"reading data from {path} (as trained)")


def _utf16_like(head: bytes) -> bool:
    """Text in UTF-16 without a byte-order mark: NUL in every other byte."""
    sample = head[:4096]
    if len(sample) < 8:
        return False
    even, odd = sample[0::2], sample[1::2]
    return max(even.count(0) / len(even), odd.count(0) / len(odd)) > 0.9


def check_text_file(path: str | Path, what: str) -> list[str]:
    """A UTF-8, comma-separated text file: the cells of its first line (an error saying what
    the file looks like otherwise: an Excel workbook, UTF-16 text, semicolons or tabs)."""
    import csv

    with open(path, "rb") as handle:
        head = handle.read(65536)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{path}: expected a {what} CSV (text, comma-separated), got what "
                         "looks like an Excel workbook; save it as 'CSV UTF-8'")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_like(head):
        raise InputError(f"{path}: expected a {what} CSV in UTF-8, got what looks like UTF-16 "
                         "text; save it as 'CSV UTF-8'")
    if b"\x00" in head:
        raise InputError(f"{path}: expected a {what} CSV (text), got a binary file")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not a character cut at the end of the sample
            raise InputError(f"{path}: expected a {what} CSV in UTF-8 (byte {err.start} is not "
                             "UTF-8); save it as 'CSV UTF-8'") from None
        text = head[: err.start].decode("utf-8")
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        return []
    first = next(csv.reader([lines[0]]))
    if len(first) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in lines[0]:
                raise InputError(f"{path}: expected comma-separated columns in the {what} CSV, "
                                 f"got columns separated by {name} ({lines[0][:40]!r}); save "
                                 "it with commas")
    return [c.strip() for c in first]
