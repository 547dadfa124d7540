"""Parse and format quantities written with units: sizes, counts, rates, durations.

Sizes follow the SI/IEC convention: ``KB``/``MB``/``GB``/``TB`` are powers of 1000,
``KiB``/``MiB``/``GiB``/``TiB`` powers of 1024 (``1KB`` is 1000 bytes, ``1KiB`` 1024).
Counts take ``k``/``M``/``G`` (powers of 1000). Rates are counts per ``s``, ``min`` or ``h``.
Every parser raises :class:`UnitError` with a sentence saying what is allowed.
"""

from __future__ import annotations

import math
import re
from typing import SupportsFloat

from .inputs import InputError, shown

KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4
"""Bytes in a KiB, MiB, GiB and TiB: the one definition every module divides by."""
SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KIB": KIB,
    "MIB": MIB,
    "GIB": GIB,
    "TIB": TIB,
}
COUNT_SUFFIXES = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3}
RATE_PERIODS = {"S": 1.0, "SEC": 1.0, "MIN": 60.0, "H": 3600.0}
DURATION_UNITS = {"MS": 0.001, "S": 1.0, "SEC": 1.0, "MIN": 60.0, "M": 60.0, "H": 3600.0, "D": 86400.0}

_NUMBER = r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_QUANTITY = re.compile(_NUMBER + r"\s*(?P<unit>[A-Za-z]*)\s*(?:/\s*(?P<per>[A-Za-z]+))?$")

SIZE_HELP = "a size with a unit, such as 512MiB, 13.07GiB, 1KB or 0B (KB/MB/GB = 1000^n bytes, KiB/MiB/GiB = 1024^n)"
COUNT_HELP = "a count such as 8M, 250k or 1000000"
RATE_HELP = "a rate such as 20k, 20k/s, 1.2M/min or 500/s"
DURATION_HELP = "a duration such as 500ms, 90s, 15min or 1h"


MAX_BYTES = 2**60
"""Largest size accepted (1 EiB): far above any node, and exact as a float."""
MAX_COUNT = 2**53
"""Largest count or rate accepted: past 2^53 floats no longer count in ones."""
MAX_DURATION_S = 365 * 86400.0
"""Longest duration accepted: a year."""


class UnitError(InputError):
    """A quantity that could not be read; the message says what is allowed."""


def _split(text: object, help_text: str) -> tuple[float, str, str | None]:
    if isinstance(text, bool):
        raise UnitError(f"expected {help_text}, got {shown(text)}")
    if isinstance(text, (int, float)):
        return _finite(text, text, help_text), "", None
    if not isinstance(text, str):
        raise UnitError(f"expected {help_text}, got {type(text).__name__} {shown(text)}")
    match = _QUANTITY.match(text.strip().replace("_", "").replace(",", "")) if len(text) < 100 else None
    if not match:
        raise UnitError(f"cannot read {shown(text)}: expected {help_text}")
    return _finite(match["num"], text, help_text), match["unit"], match["per"]


def _finite(number: str | float, text: object, help_text: str) -> float:
    """``number`` as a finite float; .nan, .inf and overflowing numbers such as 1e400 are refused."""
    try:
        value = float(number)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise UnitError(f"{shown(text)} is not a finite number; expected {help_text}")
    return value


def _at_most(value: float, limit: float, text: object, what: str) -> float:
    if value > limit:
        raise UnitError(f"{shown(text)} is too large: {what} must be at most {limit:.4g}")
    return value


def parse_size(text: object) -> int:
    """Bytes in a size such as ``13.07GiB``; a bare number is refused unless it is 0."""
    value, unit, per = _split(text, SIZE_HELP)
    if per is not None:
        raise UnitError(f"{shown(text)} is a rate; expected {SIZE_HELP}")
    if unit == "":
        if value == 0:
            return 0
        raise UnitError(f"{shown(text)} has no unit; expected {SIZE_HELP}")
    factor = SIZE_UNITS.get(unit.upper())
    if factor is None:
        if unit.upper() in COUNT_SUFFIXES:
            raise UnitError(f"{shown(text)} looks like a count; expected {SIZE_HELP}")
        raise UnitError(f"{shown(text)} has an unknown unit {unit!r}; expected {SIZE_HELP}")
    if value < 0:
        raise UnitError(f"{shown(text)} is negative; expected {SIZE_HELP}")
    return int(round(_at_most(value * factor, MAX_BYTES, text, "a size")))


def parse_count(text: object) -> int:
    """A whole count such as ``8M`` or ``250k``."""
    value, unit, per = _split(text, COUNT_HELP)
    if per is not None:
        raise UnitError(f"{shown(text)} is a rate; expected {COUNT_HELP}")
    factor = COUNT_SUFFIXES.get(unit.upper())
    if factor is None:
        if unit.upper() in SIZE_UNITS:
            raise UnitError(f"{shown(text)} is a size; expected {COUNT_HELP}")
        raise UnitError(f"{shown(text)} has an unknown suffix {unit!r}; expected {COUNT_HELP}")
    if value < 0:
        raise UnitError(f"{shown(text)} is negative; expected {COUNT_HELP}")
    return int(round(_at_most(value * factor, MAX_COUNT, text, "a count")))


def parse_rate(text: object) -> float:
    """Events per second from a rate such as ``20k/s``, ``20k`` or ``1.2M/min``."""
    value, unit, per = _split(text, RATE_HELP)
    factor = COUNT_SUFFIXES.get(unit.upper())
    if factor is None:
        if unit.upper() in SIZE_UNITS:
            raise UnitError(f"{shown(text)} is a size; expected {RATE_HELP}")
        raise UnitError(f"{shown(text)} has an unknown suffix {unit!r}; expected {RATE_HELP}")
    period = 1.0 if per is None else RATE_PERIODS.get(per.upper())
    if period is None:
        raise UnitError(f"{shown(text)} has an unknown period '/{per}'; expected {RATE_HELP}")
    if value < 0:
        raise UnitError(f"{shown(text)} is negative; expected {RATE_HELP}")
    return _at_most(value * factor / period, MAX_COUNT, text, "a rate (per second)")


def parse_duration(text: object) -> float:
    """Seconds in a duration such as ``90s`` or ``15min``; a bare number means seconds."""
    value, unit, per = _split(text, DURATION_HELP)
    if per is not None:
        raise UnitError(f"{shown(text)} is a rate; expected {DURATION_HELP}")
    factor = 1.0 if unit == "" else DURATION_UNITS.get(unit.upper())
    if factor is None:
        raise UnitError(f"{shown(text)} has an unknown unit {unit!r}; expected {DURATION_HELP}")
    if value < 0:
        raise UnitError(f"{shown(text)} is negative; expected {DURATION_HELP}")
    return _at_most(value * factor, MAX_DURATION_S, text, "a duration (seconds)")


def parse_fraction(text: object) -> float:
    """A fraction in [0, 1] from ``10%`` or ``0.1``."""
    try:
        if isinstance(text, str) and text.strip().endswith("%"):
            value = float(text.strip()[:-1]) / 100.0
        elif isinstance(text, str | SupportsFloat) and not isinstance(text, bool):
            value = float(text)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise UnitError(f"cannot read {shown(text)}: expected a fraction such as 10% or 0.1") from None
    if not 0.0 <= value <= 1.0:
        raise UnitError(f"{shown(text)} is outside 0%..100%")
    return value


def format_bytes(n: float) -> str:
    """Human-readable bytes with IEC units, e.g. ``1.50 GiB``."""
    sign = "-" if n < 0 else ""
    n = abs(float(n))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """Human-readable duration, e.g. ``42 ms``, ``3.2 s``, ``1 h 05 min``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
