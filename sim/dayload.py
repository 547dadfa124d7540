"""Load over a day: request rates as a step function of the time of day.

A workload gives either constant rates or a ``daily_profile`` (24 hourly values, or a CSV of a
real day with ``time,writes_per_sec[,reads_per_sec]`` rows, each rate holding until the next row).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import units
from .inputs import FileReadError, InputError, read_text, shown

DAY = 86400.0
MAX_ROWS = DAY
"""At most one row per second of the day."""


class DayLoadError(InputError):
    """A load profile that cannot be read; the message says what is allowed."""


@dataclass(frozen=True)
class DayLoad:
    """Write and read rates from ``starts[i]`` (seconds after midnight) until the next start."""

    starts: np.ndarray
    writes: np.ndarray
    reads: np.ndarray

    @classmethod
    def constant(cls, writes: float, reads: float) -> DayLoad:
        return cls(np.array([0.0]), np.array([float(writes)]), np.array([float(reads)]))

    @classmethod
    def hourly(cls, writes: list[float], reads: list[float] | None) -> DayLoad:
        reads = reads if reads is not None else [0.0] * 24
        return cls(np.arange(24) * 3600.0, np.asarray(writes, float), np.asarray(reads, float))

    def at(self, time_of_day: float) -> tuple[float, float]:
        """(writes/s, reads/s) at ``time_of_day`` seconds after midnight (wraps around the day)."""
        if len(self.starts) == 1:
            return float(self.writes[0]), float(self.reads[0])
        i = int(np.searchsorted(self.starts, time_of_day % DAY, side="right")) - 1
        return float(self.writes[i]), float(self.reads[i])

    def next_change(self, time_of_day: float) -> float:
        """Seconds from ``time_of_day`` until the rates next change (inf when constant)."""
        if len(self.starts) == 1:
            return float("inf")
        tod = time_of_day % DAY
        later = self.starts[self.starts > tod + 1e-9]
        return float((later[0] if len(later) else self.starts[0] + DAY) - tod)

    def peak_writes(self) -> float:
        return float(self.writes.max())


def parse_time_of_day(text: object) -> float:
    """Seconds after midnight from ``HH:MM``, ``HH:MM:SS`` or a number of seconds."""
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise DayLoadError(f"cannot read {shown(text)} as a time of day; write it like 03:00 or 14:30:00")
    if isinstance(text, (int, float)):
        seconds = float(text) if abs(text) <= DAY else DAY + 1
    else:
        parts = text.strip().split(":")
        try:
            if len(parts) == 1:
                seconds = float(parts[0])
            elif len(parts) in (2, 3):
                numbers = [float(p) for p in parts] + [0.0]
                if not (0 <= numbers[0] <= 24 and 0 <= numbers[1] < 60 and 0 <= numbers[2] < 60):
                    raise ValueError
                seconds = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
            else:
                raise ValueError
        except ValueError:
            raise DayLoadError(f"cannot read {shown(text)} as a time of day; write it like 03:00 or 14:30:00") from None
    if not 0 <= seconds <= DAY:
        raise DayLoadError(f"{shown(text)} is not within a day (00:00 to 24:00)")
    return seconds % DAY


def read_day_csv(path: Path) -> DayLoad:
    """A day of rates from a CSV file with a header ``time,writes_per_sec[,reads_per_sec]``."""
    try:
        text = read_text(path)
    except FileReadError as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise DayLoadError(
            f"cannot read load profile {where}: {exc.why.removeprefix('cannot read the file: ')}"
        ) from None
    lines = io.StringIO(text, newline="")
    try:
        rows = list(csv.DictReader(line for line in lines if not line.lstrip().startswith("#")))
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072 characters)
        raise DayLoadError(f"{path}: not a CSV file of time,writes_per_sec[,reads_per_sec] rows: {exc}") from None
    if not rows or "time" not in rows[0] or "writes_per_sec" not in rows[0] or len(rows) > MAX_ROWS:
        raise DayLoadError(
            f"{path}: needs a header row with columns time,writes_per_sec[,reads_per_sec] and 1 to {MAX_ROWS:,.0f} rows"
        )
    starts, writes, reads = [], [], []
    for number, row in enumerate(rows, start=2):
        try:
            starts.append(parse_time_of_day(row["time"]))
            writes.append(units.parse_rate(row["writes_per_sec"]))
            reads.append(units.parse_rate(row.get("reads_per_sec") or 0))
        except (DayLoadError, units.UnitError) as exc:
            raise DayLoadError(f"{path}:{number}: {exc}") from None
    order = np.argsort(starts, kind="stable")
    starts_arr = np.asarray(starts)[order]
    if len(np.unique(starts_arr)) != len(starts_arr):
        raise DayLoadError(f"{path}: two rows have the same time")
    if starts_arr[0] > 0:  # the last row of the day carries over midnight
        order = np.concatenate([[order[-1]], order])
        starts_arr = np.concatenate([[0.0], starts_arr])
    return DayLoad(starts_arr, np.asarray(writes, float)[order], np.asarray(reads, float)[order])
