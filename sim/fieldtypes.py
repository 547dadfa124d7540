"""Pydantic field types that read quantities with units (``2GiB``, ``20k/s``, ``15min``, ``14:00``) and one-line text.

Shared by the scenario model and the plan block it holds, so both parse a quantity the same way; a unit
error becomes a pydantic value error, which the scenario turns into a message naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

from . import units
from .dayload import DayLoadError, parse_time_of_day
from .inputs import shown


def _unit_parser(parse):
    def check(value: Any):
        if value is None:
            return None
        try:
            return parse(value)
        except units.UnitError as exc:
            raise ValueError(str(exc)) from None

    return BeforeValidator(check)


Size = Annotated[int, _unit_parser(units.parse_size)]
Count = Annotated[int, _unit_parser(units.parse_count)]
Rate = Annotated[float, _unit_parser(units.parse_rate)]
Duration = Annotated[float, _unit_parser(units.parse_duration)]
Fraction = Annotated[float, _unit_parser(units.parse_fraction)]


def _time_of_day(value: Any):
    if value is None:
        return None
    try:
        return parse_time_of_day(value)
    except DayLoadError as exc:
        raise ValueError(str(exc)) from None


TimeOfDay = Annotated[float, BeforeValidator(_time_of_day)]


def _text(allowed: str):
    """Text that can be printed (and name files): no lone surrogates (from "\\udc80" escapes), no controls."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{shown(value)} is not valid Unicode text") from None
            if any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in value):
                raise ValueError(f"{shown(value)} holds control characters (line breaks, tabs...)")
        return value

    return BeforeValidator(check)


Text = Annotated[str, _text("")]
"""A one-line name."""
FreeText = Annotated[str, _text("\t\n")]
