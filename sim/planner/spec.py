"""The scenario's ``plan:`` block: what the planner may choose, the objectives, and the uncertainty.

Validated with pydantic (unknown fields refused); problems become a :class:`ScenarioError` naming the
file, line and ``plan.`` field path, like the rest of the scenario.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .. import distributions
from ..catalog import UnknownNodeTypeError, get_node_type, load_catalog
from ..inputs import Node, load_yaml, read_text, shown
from ..physics.budget import MIN_DATA_GROWTH
from ..fieldpaths import FieldPathError, check_path, models_in, number_parser
from ..scenario import Duration, Fraction, Scenario, ScenarioError, Size, TimeOfDay, _line, load_scenario

DEFAULT_FAMILIES = ("r6g", "r7g", "m6g", "m7g")
"""Current Graviton memory-optimized and general-purpose families: the default search."""
MIN_WINDOW_S = 3600.0
"""'The minimum length for the backup window is 60 minutes' (AWS, Scheduling automatic backups, BKAUTO)."""
MAX_REPLICAS = 5
"""ElastiCache allows up to five read replicas per shard (AWS, Replication.Redis.Groups)."""
LOAD_FACTOR = "load_factor"
"""Pseudo-input of the uncertainty block: multiplies every write and read rate (constant or daily)."""
CHOSEN_BY_PLANNER = {"node.type", "node.memory", "node.reserved_memory_percent", "node.reserved_memory",
                     "backup.source", "backup.start"}

Percent = Annotated[float, Field(ge=0, le=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Objectives(_Model):
    """Service objectives a candidate must meet (None: not checked)."""

    no_oom: bool = True
    max_swap: Size | None = 0
    max_latency_ms: float | None = Field(default=None, gt=0)
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    backup_within_window: bool = True
    min_headroom: Size | None = None
    min_data_growth: float | None = Field(default=MIN_DATA_GROWTH, ge=1)  # maxmemory / used_memory at least this
    restore_within: Duration | None = None  # RTO: the backup restores onto the candidate and its replicas sync in time


class Uncertainty(_Model):
    """Monte-Carlo over uncertain inputs: field path (or ``load_factor``) → distribution."""

    runs: int = Field(default=100, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0, lt=2**63)
    inputs: dict[str, Any] = Field(min_length=1)


def default_node_types() -> list[str]:
    """Priced current-generation types of :data:`DEFAULT_FAMILIES` that take backups, cheapest first."""
    nodes = [n for n in load_catalog().values()
             if n.family in DEFAULT_FAMILIES and n.price_usd_per_hour is not None and n.backup_supported]
    return [n.node_type for n in sorted(nodes, key=lambda n: n.price_usd_per_hour)]


class PlanSpec(_Model):
    """Choices to search, costs to count, objectives to meet."""

    node_types: list[str] = Field(default_factory=default_node_types, min_length=1)
    reserved_memory_percent: list[Percent] = Field(default=[25.0, 35.0, 50.0], min_length=1)
    sources: list[Literal["primary", "replica"]] | None = None
    windows: list[TimeOfDay] = Field(default=[h * 3600.0 for h in range(24)], min_length=1)
    window_length: Duration = MIN_WINDOW_S
    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    retention_days: int | None = Field(default=None, ge=1, le=35)
    objectives: Objectives = Objectives()
    uncertainty: Uncertainty | None = None
    max_failure_probability: Fraction = 0.01

    @field_validator("node_types")
    @classmethod
    def _known_types(cls, names: list[str]) -> list[str]:
        for name in names:
            try:
                get_node_type(name)
            except UnknownNodeTypeError as exc:
                raise ValueError(str(exc)) from None
        return list(dict.fromkeys(names))

    @field_validator("window_length")
    @classmethod
    def _long_enough(cls, seconds: float) -> float:
        if seconds < MIN_WINDOW_S:
            raise ValueError("ElastiCache's minimum backup window is 60 minutes")
        return seconds

    @model_validator(mode="after")
    def _sources(self) -> "PlanSpec":
        if self.sources is not None and "replica" in self.sources and self.replicas == 0:
            raise ValueError("sources lists replica but replicas is 0: a backup from a replica needs one")
        return self

    @property
    def source_choices(self) -> list[str]:
        """The backup sources to search (default: both when there is a replica)."""
        if self.sources is not None:
            return list(dict.fromkeys(self.sources))
        return ["primary", "replica"] if self.replicas else ["primary"]

    def retention(self, scenario: Scenario) -> int:
        """Days each daily backup is kept: the plan's, else the scenario's backup.retention_days, else 1."""
        return self.retention_days or getattr(scenario.backup, "retention_days", 0) or 1


def load_plan(path: str | Path) -> tuple[Scenario, PlanSpec, dict]:
    """The scenario, its validated plan block, and the raw mapping (without ``plan``) to derive variants from."""
    path = Path(path)
    scenario = load_scenario(path)
    data, tree = load_yaml(read_text(path), str(path))
    data.pop("plan", None)
    return scenario, parse_plan(scenario.plan or {}, data, str(path), tree), data


def parse_plan(block: dict, base: dict, source: str, tree: Node | None = None) -> PlanSpec:
    """Validate a plan mapping against the scenario mapping ``base`` (the uncertain inputs vary it)."""
    try:
        spec = PlanSpec.model_validate(block)
    except ValidationError as exc:
        raise ScenarioError(source, [_problem(error, tree) for error in exc.errors()]) from None
    if spec.uncertainty is not None:
        for name, value in spec.uncertainty.inputs.items():
            try:
                _check_input(name, value, base)
            except ValueError as exc:
                loc = ("plan", "uncertainty", "inputs", name)
                raise ScenarioError(source, [(".".join(loc), _line(tree, loc), str(exc))]) from None
    return spec


def _check_input(name: str, value: Any, base: dict) -> None:
    dist = distributions.parse(value)
    if name == LOAD_FACTOR:
        if isinstance(dist, distributions.Choice):
            for choice in dist.choice:
                _load_factor(choice)
        else:
            distributions.check(dist, _load_factor)
        return
    try:
        parts = check_path(name)
    except FieldPathError as exc:
        raise ValueError(f"{exc}; or use {LOAD_FACTOR} to scale every rate") from None
    if name in CHOSEN_BY_PLANNER:
        raise ValueError(f"the planner chooses {name}; it cannot be an uncertain input")
    profile = (base.get("workload") or {}).get("daily_profile")
    if profile is not None and name in ("workload.writes_per_sec", "workload.reads_per_sec"):
        raise ValueError(f"{name} is ignored because workload.daily_profile sets the rates; "
                         f"use {LOAD_FACTOR}: {{range: [0.8, 1.5]}} to scale the day")
    if not isinstance(dist, distributions.Choice):
        distributions.check(dist, number_parser(base, parts))


def _load_factor(value: Any) -> float:
    """A load factor: a finite number of 0 or more."""
    try:
        factor = float(value)
    except (TypeError, ValueError, OverflowError):
        factor = math.nan
    if isinstance(value, bool) or not (math.isfinite(factor) and factor >= 0):
        raise ValueError(f"{LOAD_FACTOR} takes plain numbers of 0 or more, such as 1.5; got {shown(value)}")
    return factor


def _problem(error: dict, tree: Node | None) -> tuple[str, int | None, str]:
    loc = ("plan",) + tuple(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    if error["type"] == "extra_forbidden":
        allowed = _allowed(loc[1:-1])
        message = f"unknown field {shown(loc[-1])}"
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
        message += f" (allowed here: {', '.join(allowed)})"
    elif error["type"] == "missing":
        message = "this field is required"
    else:
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] != "value_error" and "input" in error:
            message += f" (got {shown(error['input'])})"
    return ".".join(loc), _line(tree, loc), message


def _allowed(parent: tuple[str, ...]) -> list[str]:
    models: list[type[BaseModel]] = [PlanSpec]
    for part in parent:
        fields = {k: v for m in models for k, v in m.model_fields.items()}
        models = models_in(fields[part].annotation) if part in fields else []
    return [name for m in models for name in m.model_fields]
