"""ElastiCache node types (Redis OSS and Valkey), read from ``sim/data/node_types.csv``.

The comment lines at the top of the CSV cite the source of every column; prices and most vCPU counts are secondary.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import TypeVar

from ..inputs import InputError
from ..units import GIB

__all__ = ["NodeType", "UnknownNodeTypeError", "get_node_type", "load_catalog", "node_type_names"]

DATA_FILE = "node_types.csv"
GENERATIONS = ("current", "previous")
_BOOLS = {"true": True, "false": False}
T = TypeVar("T")


@dataclass(frozen=True)
class NodeType:
    """One ElastiCache node type: sizes in bytes, price in USD per node-hour, None where unknown."""

    node_type: str
    family: str
    generation: str
    vcpu: int | None
    maxmemory_bytes: int
    replica_output_buffer_limit_bytes: int | None
    price_usd_per_hour: float | None
    backup_supported: bool
    data_tiering: bool
    valkey_only: bool
    sources: str

    @property
    def price(self) -> float:
        """On-demand USD per node-hour, for types known to be priced (the planner skips unpriced ones first)."""
        if self.price_usd_per_hour is None:
            raise ValueError(f"{self.node_type}: no on-demand price in the catalog")
        return self.price_usd_per_hour

    @property
    def memory_gib(self) -> float:
        """The node type's ``maxmemory`` in GiB; for most current types this is the advertised node memory."""
        return self.maxmemory_bytes / GIB


COLUMNS = tuple(f.name for f in fields(NodeType))


class UnknownNodeTypeError(InputError):
    """A node type that is not in the catalog; ``suggestions`` lists close names, best first."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        super().__init__(name, list(suggestions))
        self.name = name
        self.suggestions = list(suggestions)

    def __str__(self) -> str:
        message = f"unknown node type {self.name!r}"
        if not self.suggestions:
            return f"{message}; sim.elasticache.catalog.node_type_names() lists the {len(_catalog())} known types"
        quoted = [repr(s) for s in self.suggestions]
        choices = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        return f"{message}; did you mean {choices}?"


def _optional(text: str, convert: Callable[[str], T]) -> T | None:
    return convert(text) if text != "" else None


def _bool(text: str) -> bool:
    if text not in _BOOLS:
        raise ValueError(f"expected true or false, got {text!r}")
    return _BOOLS[text]


def _parse_row(row: dict[str, str]) -> NodeType:
    name = row["node_type"]
    try:
        bools = {key: _bool(row[key]) for key in ("backup_supported", "data_tiering", "valkey_only")}
        node = NodeType(
            node_type=name,
            family=row["family"],
            generation=row["generation"],
            vcpu=_optional(row["vcpu"], int),
            maxmemory_bytes=int(row["maxmemory_bytes"]),
            replica_output_buffer_limit_bytes=_optional(row["replica_output_buffer_limit_bytes"], int),
            price_usd_per_hour=_optional(row["price_usd_per_hour"], float),
            sources=row["sources"],
            **bools,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{DATA_FILE}: cannot read row {name!r}: {exc!r}") from exc
    parts = name.split(".")
    if (
        len(parts) != 3
        or parts[0] != "cache"
        or parts[1] != node.family
        or None in row
        or node.generation not in GENERATIONS
        or node.maxmemory_bytes <= 0
    ):
        raise ValueError(f"{DATA_FILE}: bad row {name!r}: {row}")
    return node


@cache
def _catalog() -> dict[str, NodeType]:
    text = resources.files("sim").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"{DATA_FILE}: columns are {reader.fieldnames}, expected {list(COLUMNS)}")
    catalog: dict[str, NodeType] = {}
    for row in reader:
        node = _parse_row(row)
        if node.node_type in catalog:
            raise ValueError(f"{DATA_FILE}: node type {node.node_type!r} appears twice")
        catalog[node.node_type] = node
    return catalog


def load_catalog() -> dict[str, NodeType]:
    """All node types by name, in file order; the file is read once, each call returns a new dict."""
    return dict(_catalog())


def node_type_names() -> list[str]:
    """The names of all node types, in file order (grouped by family as in AWS's table)."""
    return list(_catalog())


def get_node_type(name: str) -> NodeType:
    """The node type called *name*, e.g. ``cache.r6g.large``; raises :exc:`UnknownNodeTypeError`."""
    catalog = _catalog()
    if isinstance(name, str) and name in catalog:
        return catalog[name]
    raise UnknownNodeTypeError(name, _close_names(name, list(catalog)))


def _close_names(name: object, names: list[str]) -> list[str]:
    # Names are lower case; keep only matches about as good as the best, so a plain typo gets one answer.
    if not isinstance(name, str):
        return []
    key = name.strip().lower()
    matches = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    scores = [difflib.SequenceMatcher(None, match, key).ratio() for match in matches]
    return [match for match, score in zip(matches, scores, strict=True) if score >= scores[0] - 0.02]
