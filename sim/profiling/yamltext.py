"""Quantities with units (``1.02KB``, ``18.3k``, ``250/s``) that :mod:`sim.units` reads back, and commented
YAML items rendered as a profiled scenario's text: the writers' shared vocabulary."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..units import GIB, KIB, MIB, TIB

SI_SIZES = (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000), ("B", 1))
IEC_SIZES = (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB))
COUNT_SUFFIXES = (("G", 1000**3), ("M", 1000**2), ("k", 1000), ("", 1))
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._%/:+-]*$")


def significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits without exponent or trailing zeros."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(value: float, table, digits: int) -> str:
    """``value`` with the largest suffix of ``table`` (largest first) it reaches, after rounding."""
    for index, (suffix, factor) in enumerate(table):
        text = significant(value / factor, digits)
        if float(text) >= 1 or index == len(table) - 1:
            return text + suffix
    raise AssertionError("unreachable")


def format_size(n: float, digits: int = 3) -> str:
    """Bytes as a short SI size, e.g. ``1.02KB``, ``500B``, ``13.1GB`` (``digits`` significant digits)."""
    if n < 1000:
        return f"{round(n)}B"
    return _scaled(float(n), SI_SIZES[:-1], digits)


def format_memory(n: int) -> str:
    """A memory size in IEC units: exact when a unit divides ``n`` (``13GiB``), else 4 significant digits."""
    n = int(n)
    for suffix, factor in IEC_SIZES:
        if n >= factor and n % factor == 0 and n // factor < 10_000:
            return f"{n // factor}{suffix}"
    return _scaled(float(n), IEC_SIZES, 4) if n >= 1024 else f"{n}B"


class Plain(str):
    """A string written without quotes even where YAML reads it as a number (``0``, ``12.5``)."""


def format_count(n: float, digits: int = 3) -> str:
    """A count or rate with k/M/G, e.g. ``18.3k``, ``2k``, ``0.5`` (``digits`` significant digits)."""
    if abs(n) < 1000:
        return Plain(significant(float(n), digits))
    return Plain(_scaled(float(n), COUNT_SUFFIXES[:-1], digits))


def format_rate(per_sec: float, digits: int = 3) -> str:
    """Events per second as ``sim.units.parse_rate`` reads them, e.g. ``18.3k``."""
    return format_count(per_sec, digits)


@dataclass
class Item:
    """One ``key: value`` line (a mapping when ``children`` is set, a sequence of mappings when ``entries`` is)
    with comments above and beside it."""

    key: str
    value: Any = None
    comment: str = ""
    above: list[str] = field(default_factory=list)
    children: list[Item] | None = None
    entries: list[list[Item]] | None = None

    def child(self, key: str) -> Item | None:
        return next((c for c in self.children or [] if c.key == key), None)


def scalar(value: Any) -> str:
    """One YAML scalar or flow list; strings are quoted unless they read back as the same string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if isinstance(value, Plain) and _PLAIN.match(text):
        return text
    if _PLAIN.match(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _comment_lines(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in text.splitlines()]


def render(items: list[Item], header: list[str] | None = None, footer: list[str] | None = None) -> str:
    """The YAML text for ``items`` with ``header`` comment lines on top and ``footer`` ones below."""
    lines = _comment_lines("\n".join(header or []), "")
    for item in items:
        _render(item, 0, lines)
    if footer:
        lines.append("")
        lines.extend(_comment_lines("\n".join(footer), ""))
    return "\n".join(lines) + "\n"


def _render(item: Item, depth: int, lines: list[str]) -> None:
    indent = "  " * depth
    for text in item.above:
        lines.extend(_comment_lines(text, indent))
    beside = "  # " + " ".join(item.comment.split()) if item.comment else ""
    if item.children is not None:
        lines.append(f"{indent}{item.key}:{beside}")
        for child in item.children:
            _render(child, depth + 1, lines)
    elif item.entries is not None:
        lines.append(f"{indent}{item.key}:{beside}")
        for entry in item.entries:
            start = len(lines)
            for child in entry:
                _render(child, depth + 2, lines)
            first = next(i for i in range(start, len(lines)) if not lines[i].lstrip().startswith("#"))
            lines[first] = f"{indent}  - {lines[first][len(indent) + 4 :]}"
    else:
        lines.append(f"{indent}{item.key}: {scalar(item.value)}{beside}")


def to_data(items: list[Item]) -> dict:
    """The plain mapping the rendered YAML parses to (for validation without re-parsing)."""
    return {
        i.key: to_data(i.children)
        if i.children is not None
        else [to_data(e) for e in i.entries]
        if i.entries is not None
        else i.value
        for i in items
    }
