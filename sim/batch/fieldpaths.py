"""Dotted paths into a scenario (``workload.writes_per_sec``): check them, set them, read them back.

Sweeps and the planner's Monte-Carlo vary scenario fields by path; a path is checked against the
scenario model so a typo gets a message naming the path, the closest field and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from .. import units
from ..inputs import InputError, shown
from ..scenario import Scenario, ScenarioError, validate_scenario

NOT_VARIABLE = {"plan", "name", "description"}
"""Top-level fields a sweep cannot vary: they do not change the simulation."""


class FieldPathError(InputError):
    """A dotted path that names no scenario field; the message says what is allowed."""


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, Union and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (list, dict, tuple):
        return []
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in models_in(arg) if m not in found]
    return found


def check_path(path: str) -> tuple[str, ...]:
    """Split ``path`` at dots and check that it leads to a scenario field; raise :class:`FieldPathError`."""
    parts = tuple(path.split("."))
    if not path or any(not p for p in parts):
        raise FieldPathError(f"{shown(path)} is not a field path; write it like workload.writes_per_sec")
    if parts[0] in NOT_VARIABLE:
        raise FieldPathError(f"{shown(path)}: {parts[0]} does not change the simulation and cannot be varied")
    models: list[type[BaseModel]] = [Scenario]
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the scenario"
        if not models:
            raise FieldPathError(f"unknown field path {shown(path)}: {where} is a value, not a group of fields")
        fields = {name: info for model in models for name, info in model.model_fields.items()}
        if depth == 0:
            fields = {k: v for k, v in fields.items() if k not in NOT_VARIABLE}
        if part not in fields:
            message = f"unknown field path {shown(path)}: {where} has no field {shown(part)}"
            close = difflib.get_close_matches(part, list(fields), n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {'.'.join(parts[:depth] + (close[0],))!r}?"
            raise FieldPathError(message + f" (allowed here: {', '.join(fields)})")
        models = models_in(fields[part].annotation)
    return parts


def with_value(data: dict, parts: tuple[str, ...], value: Any) -> dict:
    """A deep copy of the scenario mapping ``data`` with the field at ``parts`` set to ``value``."""
    out = copy.deepcopy(data)
    node = out
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    if parts[:1] == ("dataset",) and len(parts) == 2 and parts[1] in _PAIRED:
        _keep_value_size(out["dataset"], data.get("dataset") or {}, parts[1])
    return out


_PAIRED = {
    "keys": ("used_memory", units.parse_count, units.parse_size),
    "used_memory": ("keys", units.parse_size, units.parse_count),
}


def _keep_value_size(new: dict, old: dict, changed: str) -> None:
    """With ``keys`` and ``used_memory`` both given (what ``rbsim profile`` writes), changing one scales the
    other, so growing the data keeps the value size, as ``keys`` + ``value_size`` would."""
    other, parse_changed, parse_other = _PAIRED[changed]
    if "value_size" in old or other not in old or changed not in old:
        return
    try:
        before, after, paired = parse_changed(old[changed]), parse_changed(new[changed]), parse_other(old[other])
    except (units.UnitError, TypeError, ValueError, OverflowError):
        return  # validation reports the bad value
    if before > 0:
        scaled = paired * after / before
        new[other] = round(scaled) if other == "keys" else f"{round(scaled)}B"


def read_value(scenario: Scenario, parts: tuple[str, ...]) -> Any:
    """The validated value at ``parts`` (units parsed: ``10k`` reads back as 10000.0)."""
    value: Any = scenario
    for part in parts:
        value = getattr(value, part, None)
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_defaults=True) or type(value).__name__.lower()
    return value


def number_parser(data: dict, parts: tuple[str, ...], source: str = "<scenario>") -> Callable[[Any], float]:
    """Read a quantity (``10k``, ``2GiB``) the way the field at ``parts`` does, by validating ``data`` with it."""
    name = ".".join(parts)

    def parse(raw: Any) -> float:
        try:
            scenario = validate_scenario(with_value(data, parts, raw), source=source)
        except ScenarioError as exc:
            raise ValueError("; ".join(message for _, _, message in exc.problems)) from None
        value = read_value(scenario, parts)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} is not a number, so it takes {{choice: [...]}} only")
        return float(value)

    return parse


def number_encoder(data: dict, parts: tuple[str, ...], probe: float) -> Callable[[float], Any]:
    """How to write a drawn number into the field: as is, or with a ``B`` unit for sizes."""
    try:
        validate_scenario(with_value(data, parts, probe))
        return lambda x: x
    except ScenarioError:
        return lambda x: f"{round(x)}B"
