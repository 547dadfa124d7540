"""The ``plan:`` block's model: what the planner may choose, the objectives, and the uncertainty.

A field of :class:`sim.scenario.Scenario`, so every command validates it with the rest of the scenario
(a misspelled plan field is refused by ``rbsim run`` too). It imports no planner machinery, so the
scenario can hold it without a cycle; :mod:`sim.planner.spec` adds the checks that need the scenario.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..elasticache.catalog import UnknownNodeTypeError, get_node_type, load_catalog
from ..fieldtypes import Duration, Fraction, Size, TimeOfDay
from ..physics.budget import MIN_DATA_GROWTH

if TYPE_CHECKING:
    from ..scenario import Scenario

DEFAULT_FAMILIES = ("r6g", "r7g", "m6g", "m7g")
"""Current Graviton memory-optimized and general-purpose families: the default search."""
MIN_WINDOW_S = 3600.0
"""'The minimum length for the backup window is 60 minutes' (AWS, Scheduling automatic backups, BKAUTO)."""
MAX_REPLICAS = 5
"""ElastiCache allows up to five read replicas per shard (AWS, Replication.Redis.Groups)."""

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
    nodes = [
        n
        for n in load_catalog().values()
        if n.family in DEFAULT_FAMILIES and n.price_usd_per_hour is not None and n.backup_supported
    ]
    return [n.node_type for n in sorted(nodes, key=lambda n: n.price)]


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
    def _sources(self) -> PlanSpec:
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
