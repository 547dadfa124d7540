"""Typed data: key groups, the write mix over them, and the server parameters that pick encodings.

A dataset is one or more key groups (strings, hashes, sets, sorted sets, lists), each with its key
count, element count and element size (fixed or a distribution), TTLs, which of its keys the writes
hit, and whether its hot keys sit together in memory. The workload's ``mix`` splits the writes over
(group, command) pairs. The YAML models here are validated with the scenario; :func:`key_groups`,
:func:`write_mix` and :func:`engine_parameters` give every consumer (physics, harness, profiler) one
normalized, frozen view with the defaults filled in.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from .fieldtypes import Count, Duration, Fraction, Size, Text
from .inputs import shown
from .keydist import KeyDistribution
from .physics import layout as layout_mod
from .physics.datatypes import ANY_TYPE_COMMANDS, COMMANDS
from .physics.encodings import EncodingParams, sets_use_listpack

if TYPE_CHECKING:
    from .scenario import Scenario

DEFAULT_COMMANDS = {
    "string": (("SET", 1.0),),
    "hash": (("HSET", 1.0),),
    "set": (("SADD", 0.5), ("SREM", 0.5)),
    "zset": (("ZADD", 1.0),),
    "list": (("LPUSH", 0.5), ("RPOP", 0.5)),
}
"""What a group's writes are when the workload gives no ``mix``: steady state for sets and lists."""
INTEGER_COMMANDS = ("INCR", "HINCRBY")
DEFAULT_APPEND_BYTES = 16
SHORTHAND_GROUP = "strings"
"""The name of the one string group a ``keys``/``value_size``/``used_memory`` dataset stands for."""
LOGNORMAL_POINTS = 32
"""Equal-probability points a lognormal is reduced to for the physics (the mean is kept exact)."""
ELASTICACHE_DEFAULT_POLICY = "volatile-lru"
"""ElastiCache's default parameter groups: "maxmemory-policy ... Default: volatile-lru"
(https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html, docs/elasticache.md)."""
OPEN_SOURCE_DEFAULT_POLICY = "noeviction"
"""redis.conf and config.c: ``maxmemory-policy noeviction`` (CONFIG GET on redis-server 7.0.15)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


# ---- sizes and counts that are a fixed value or a distribution ---------------------------------------


class LogNormalSize(_Model):
    median: Size = Field(gt=0)
    sigma: float = Field(gt=0, le=3)


class LogNormalCount(_Model):
    median: Count = Field(gt=0, le=10**9)
    sigma: float = Field(gt=0, le=3)


class SizeBin(_Model):
    size: Size = Field(gt=0)
    share: Fraction


class CountBin(_Model):
    count: Count = Field(gt=0)
    share: Fraction


def _bins_sum_to_one(bins: list) -> list:
    total = sum(b.share for b in bins)
    if abs(total - 1.0) > 0.005:
        raise ValueError(f"histogram shares add up to {total:.1%}; they must add up to 100%")
    return bins


class SizeHistogram(_Model):
    histogram: list[SizeBin] = Field(min_length=1, max_length=1000)

    @field_validator("histogram")
    @classmethod
    def _shares(cls, bins: list[SizeBin]) -> list[SizeBin]:
        return _bins_sum_to_one(bins)


class CountHistogram(_Model):
    histogram: list[CountBin] = Field(min_length=1, max_length=1000)

    @field_validator("histogram")
    @classmethod
    def _shares(cls, bins: list[CountBin]) -> list[CountBin]:
        return _bins_sum_to_one(bins)


class SizeLogNormal(_Model):
    lognormal: LogNormalSize


class CountLogNormal(_Model):
    lognormal: LogNormalCount


SIZE_SPREAD_HELP = (
    "a size such as 64B, {lognormal: {median: 64B, sigma: 0.5}} or {histogram: [{size: 32B, share: 50%}, ...]}"
)
COUNT_SPREAD_HELP = (
    "a count such as 20, {lognormal: {median: 20, sigma: 0.5}} or {histogram: [{count: 5, share: 50%}, ...]}"
)


def _spread_form(help_text: str):
    """Pick the union member from the value's form, so a bad lognormal reports only lognormal errors."""

    def which(value: Any) -> str | None:
        if isinstance(value, BaseModel):  # serializing a validated scenario
            return "LogNormal" if hasattr(value, "lognormal") else "Histogram"
        if isinstance(value, dict):
            if "lognormal" in value:
                return "LogNormal"
            if "histogram" in value:
                return "Histogram"
            return None
        return "fixed"

    return Discriminator(which, custom_error_type="spread", custom_error_message=f"expected {help_text}")


SizeSpread = Annotated[
    Annotated[Size, Tag("fixed")]
    | Annotated[SizeLogNormal, Tag("LogNormal")]
    | Annotated[SizeHistogram, Tag("Histogram")],
    _spread_form(SIZE_SPREAD_HELP),
]
CountSpread = Annotated[
    Annotated[Count, Tag("fixed")]
    | Annotated[CountLogNormal, Tag("LogNormal")]
    | Annotated[CountHistogram, Tag("Histogram")],
    _spread_form(COUNT_SPREAD_HELP),
]


@dataclass(frozen=True)
class Spread:
    """A size or count per element or key: discrete points with weights (one point when fixed).

    A lognormal keeps its parameters for sampling and is reduced to :data:`LOGNORMAL_POINTS`
    equal-probability points for the physics, so size classes are integrated over, not averaged.
    """

    values: tuple[float, ...]
    weights: tuple[float, ...]
    median: float | None = None  # lognormal only
    sigma: float | None = None

    @classmethod
    def fixed(cls, value: float) -> Spread:
        return cls((float(value),), (1.0,))

    @property
    def is_fixed(self) -> bool:
        return len(self.values) == 1

    def mean(self) -> float:
        if self.median is not None and self.sigma is not None:
            return self.median * math.exp(self.sigma**2 / 2)
        return float(np.dot(self.values, self.weights))

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of the keys or elements lie."""
        if self.median is not None and self.sigma is not None:
            from statistics import NormalDist

            q = min(max(q, 1e-9), 1 - 1e-9)
            return self.median * math.exp(self.sigma * NormalDist().inv_cdf(q))
        order = np.argsort(self.values)
        cumulative = np.cumsum(np.asarray(self.weights)[order])
        index = int(np.searchsorted(cumulative, q - 1e-12))
        return float(np.asarray(self.values)[order][min(index, len(order) - 1)])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` whole values (at least 1) drawn from the spread."""
        if self.median is not None and self.sigma is not None:
            drawn = rng.lognormal(math.log(self.median), self.sigma, n)
        else:
            drawn = rng.choice(np.asarray(self.values), size=n, p=np.asarray(self.weights))
        return np.maximum(1, np.rint(drawn)).astype(np.int64)


def spread_of(value: int | SizeLogNormal | CountLogNormal | SizeHistogram | CountHistogram) -> Spread:
    """The :class:`Spread` a YAML size or count field stands for."""
    if isinstance(value, int):
        return Spread.fixed(value)
    if isinstance(value, SizeLogNormal | CountLogNormal):
        median, sigma = float(value.lognormal.median), value.lognormal.sigma
        from statistics import NormalDist

        qs = (np.arange(LOGNORMAL_POINTS) + 0.5) / LOGNORMAL_POINTS
        points = np.array([median * math.exp(sigma * NormalDist().inv_cdf(float(q))) for q in qs])
        points *= median * math.exp(sigma**2 / 2) / points.mean()  # keep the exact mean
        weights = (1.0 / LOGNORMAL_POINTS,) * LOGNORMAL_POINTS
        return Spread(tuple(float(max(1.0, p)) for p in points), weights, median, sigma)
    bins = value.histogram
    values = tuple(float(b.size if isinstance(b, SizeBin) else b.count) for b in bins)
    total = sum(b.share for b in bins)
    return Spread(values, tuple(b.share / total for b in bins))


# ---- the YAML models ---------------------------------------------------------------------------------


class Ttl(_Model):
    """A share of the group's keys carry a TTL; ``mean`` is their mean TTL (it sets the expiry rate)."""

    share: Fraction
    mean: Duration = Field(gt=0)


class KeyGroupSpec(_Model):
    """One group of keys of one type, as written under ``dataset.groups``."""

    name: Text
    type: Literal["string", "hash", "set", "zset", "list"] = "string"
    keys: Count = Field(ge=1)
    elements: CountSpread = 1
    element_size: SizeSpread = 100
    field_size: Size | None = None
    key_size: Size = Field(default=16, ge=1)
    values: Literal["bytes", "integers"] = "bytes"
    value_pattern: Literal["random", "repetitive"] = "random"
    ttl: Ttl | None = None
    key_distribution: KeyDistribution | None = None
    locality: Literal["scattered", "clustered"] = "scattered"

    @field_validator("name")
    @classmethod
    def _key_prefix(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "_-." for c in value) or len(value) > 64:
            raise ValueError(
                f"{shown(value)} cannot name a group: use up to 64 letters, digits, '_', '-' or '.' "
                "(it becomes the key prefix, e.g. sessions:42)"
            )
        return value

    @model_validator(mode="after")
    def _shape_fits_type(self) -> KeyGroupSpec:
        if self.type == "string" and self.elements != 1:
            raise ValueError("a string key holds one value: elements must be 1 (use element_size for its size)")
        if self.field_size is not None and self.type != "hash":
            raise ValueError(f"field_size is the size of a hash's field names; this group is a {self.type}")
        if self.field_size == 0 or self.element_size == 0:
            raise ValueError("element_size and field_size must be at least 1B")
        if self.type == "zset" and self.values == "integers":
            raise ValueError("values: integers is for strings, hashes, sets and lists (zset scores are always numbers)")
        return self


class MixEntrySpec(_Model):
    """One (group, command) pair of the write mix and its share of ``workload.writes_per_sec``."""

    group: Text
    command: Text
    share: Fraction
    bytes: Size | None = Field(default=None, ge=1)

    @field_validator("command")
    @classmethod
    def _known(cls, value: str) -> str:
        name = value.strip().upper()
        known = [c for cs in COMMANDS.values() for c in cs] + list(ANY_TYPE_COMMANDS)
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(f"{shown(value)} is not a modelled write command{hint} (allowed: {', '.join(known)})")
        return name

    @model_validator(mode="after")
    def _bytes_for_append(self) -> MixEntrySpec:
        if self.bytes is not None and self.command != "APPEND":
            raise ValueError(f"bytes is what APPEND appends; {self.command} takes no bytes")
        return self


_ZIPLIST_ALIASES = {
    "hash-max-ziplist-entries": "hash-max-listpack-entries",
    "hash-max-ziplist-value": "hash-max-listpack-value",
    "zset-max-ziplist-entries": "zset-max-listpack-entries",
    "zset-max-ziplist-value": "zset-max-listpack-value",
    "list-max-ziplist-size": "list-max-listpack-size",
}
"""Redis 7.0 renamed ziplist to listpack and kept the old names as aliases (config.c); ElastiCache
parameter groups of older engines use the ziplist names."""


class EngineParametersSpec(_Model):
    """Server parameters that decide encodings and eviction (Redis names; ziplist names accepted)."""

    hash_max_listpack_entries: int | None = Field(default=None, ge=0, alias="hash-max-listpack-entries")
    hash_max_listpack_value: int | None = Field(default=None, ge=0, alias="hash-max-listpack-value")
    zset_max_listpack_entries: int | None = Field(default=None, ge=0, alias="zset-max-listpack-entries")
    zset_max_listpack_value: int | None = Field(default=None, ge=0, alias="zset-max-listpack-value")
    set_max_intset_entries: int | None = Field(default=None, ge=0, alias="set-max-intset-entries")
    set_max_listpack_entries: int | None = Field(default=None, ge=0, alias="set-max-listpack-entries")
    set_max_listpack_value: int | None = Field(default=None, ge=0, alias="set-max-listpack-value")
    list_max_listpack_size: int | None = Field(default=None, ge=-5, alias="list-max-listpack-size")
    maxmemory_policy: (
        Literal[
            "noeviction",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ]
        | None
    ) = Field(default=None, alias="maxmemory-policy")

    @model_validator(mode="before")
    @classmethod
    def _listpack_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            renamed = {}
            for key, value in data.items():
                new = _ZIPLIST_ALIASES.get(key, key) if isinstance(key, str) else key
                if new in renamed:
                    raise ValueError(f"{key} and {new} are the same parameter; give it once")
                renamed[new] = value
            return renamed
        return data

    @field_validator("list_max_listpack_size")
    @classmethod
    def _list_size(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError(
                "list-max-listpack-size is -5..-1 (node size 4 KB..64 KB) or a positive entry count, not 0"
            )
        return value


PARAMETER_NAMES = tuple(info.alias or name for name, info in EngineParametersSpec.model_fields.items())
"""``engine.parameters`` under their Redis 7 names (older servers answer to the ziplist ones)."""
THRESHOLDS = tuple(name for name in EngineParametersSpec.model_fields if name != "maxmemory_policy")


# ---- the normalized view -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyGroup:
    """One group of keys with every default resolved: what the physics, harness and profiler read."""

    name: str
    type: str
    keys: int
    elements: Spread
    element_size: Spread
    field_size: int
    key_size: int
    values: str
    value_pattern: str
    ttl_share: float
    ttl_mean_s: float | None
    key_distribution: Any  # a sim.keydist distribution
    locality: str

    @property
    def keys_with_ttl(self) -> float:
        return self.keys * self.ttl_share


@dataclass(frozen=True)
class MixEntry:
    """A share of the writes: ``command`` on keys of ``group``; ``bytes`` is what APPEND appends."""

    group: str
    command: str
    share: float
    bytes: int = DEFAULT_APPEND_BYTES


@dataclass(frozen=True)
class EngineParameters:
    """Encoding thresholds and the eviction policy, defaults filled in for the engine version and build."""

    hash_max_listpack_entries: int
    hash_max_listpack_value: int
    zset_max_listpack_entries: int
    zset_max_listpack_value: int
    set_max_intset_entries: int
    set_max_listpack_entries: int | None  # None: the engine has no listpack sets (before Redis 7.2)
    set_max_listpack_value: int | None
    list_max_listpack_size: int
    maxmemory_policy: str

    def as_config(self) -> dict[str, str]:
        """CONFIG SET pairs for a real server (the ones it knows), under their Redis names."""
        out = {info.alias or name: getattr(self, name) for name, info in EngineParametersSpec.model_fields.items()}
        return {k: str(v) for k, v in out.items() if v is not None}


def engine_parameters(scenario: Scenario) -> EngineParameters:
    """The scenario's ``engine.parameters`` with the version's and build's defaults filled in."""
    given = scenario.engine.parameters or EngineParametersSpec()
    defaults = EncodingParams()  # the compiled-in defaults, with their sources (physics/encodings.py)
    listpack_sets = sets_use_listpack(scenario.engine.name, scenario.engine.version)
    values: dict[str, Any] = {}
    for name in THRESHOLDS:
        value = getattr(given, name)
        values[name] = getattr(defaults, name) if value is None else value
        if name.startswith("set_max_listpack") and not listpack_sets:
            values[name] = None
    policy: str | None = given.maxmemory_policy
    if policy is None:
        from .elasticache.flavor import ELASTICACHE

        policy = ELASTICACHE_DEFAULT_POLICY if scenario.build == ELASTICACHE else OPEN_SOURCE_DEFAULT_POLICY
    return EngineParameters(maxmemory_policy=policy, **values)


def key_groups(scenario: Scenario) -> tuple[KeyGroup, ...]:
    """The dataset's key groups; the ``keys``/``value_size``/``used_memory`` shorthand is one string group."""
    data = scenario.dataset
    default_distribution = scenario.workload.key_distribution
    if data.groups is None:
        keys, value_size, _ = dataset_sizes(scenario)
        return (
            KeyGroup(
                name=SHORTHAND_GROUP,
                type="string",
                keys=keys,
                elements=Spread.fixed(1),
                element_size=Spread.fixed(value_size),
                field_size=0,
                key_size=data.key_size,
                values="bytes",
                value_pattern=data.value_pattern,
                ttl_share=0.0,
                ttl_mean_s=None,
                key_distribution=default_distribution,
                locality="scattered",
            ),
        )
    return tuple(_group(spec, default_distribution) for spec in data.groups)


def dataset_sizes(scenario: Scenario) -> tuple[int, int, int]:
    """(keys, value size, used_memory) of a shorthand dataset, from whichever two the scenario gives."""
    data, allocator = scenario.dataset, scenario.engine.allocator
    keys, value_size, used = data.keys, data.value_size, data.used_memory
    if keys is not None and value_size is not None:
        return keys, value_size, layout_mod.used_memory(keys, data.key_size, value_size, allocator)
    if keys is not None and used is not None:
        return keys, layout_mod.value_size_for_used_memory(used, keys, data.key_size, allocator), used
    if value_size is not None and used is not None:
        return layout_mod.keys_for_used_memory(used, data.key_size, value_size, allocator), value_size, used
    raise ValueError(
        "dataset: give two of keys, value_size and used_memory, or groups"
    )  # the Dataset model enforces it


def _group(spec: KeyGroupSpec, default_distribution: Any) -> KeyGroup:
    return KeyGroup(
        name=spec.name,
        type=spec.type,
        keys=spec.keys,
        elements=spread_of(spec.elements),
        element_size=Spread.fixed(8) if spec.values == "integers" else spread_of(spec.element_size),
        field_size=(spec.field_size or 10) if spec.type == "hash" else 0,
        key_size=spec.key_size,
        values=spec.values,
        value_pattern=spec.value_pattern,
        ttl_share=spec.ttl.share if spec.ttl else 0.0,
        ttl_mean_s=spec.ttl.mean if spec.ttl else None,
        key_distribution=spec.key_distribution or default_distribution,
        locality=spec.locality,
    )


def write_mix(scenario: Scenario) -> tuple[MixEntry, ...]:
    """The write mix: ``workload.mix``, or each group's default commands with shares by key count
    (``new_keys_fraction`` of the writes create new keys, spread the same way)."""
    workload = scenario.workload
    if workload.mix is not None:
        return tuple(
            MixEntry(e.group, e.command, e.share, e.bytes if e.bytes is not None else DEFAULT_APPEND_BYTES)
            for e in workload.mix
        )
    groups = key_groups(scenario)
    total_keys = sum(g.keys for g in groups)
    new = workload.new_keys_fraction
    out = []
    for group in groups:
        weight = group.keys / total_keys
        for command, share in DEFAULT_COMMANDS[group.type]:
            out.append(MixEntry(group.name, command, weight * share * (1.0 - new)))
        if new > 0:
            out.append(MixEntry(group.name, "NEW", weight * new))
    return tuple(out)


def check_groups_and_mix(groups: list[KeyGroupSpec] | None, mix: list[MixEntrySpec] | None, new_keys: float) -> None:
    """Cross-field rules of typed data: unique names, commands that fit their group's type, shares adding to 1."""
    if groups is not None:
        names = [g.name for g in groups]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"dataset.groups: the name {twice[0]!r} is used twice; each group needs its own name")
    if mix is None:
        return
    if new_keys > 0:
        raise ValueError("with workload.mix, write new keys as a NEW entry of the mix, not new_keys_fraction")
    by_name = {g.name: g for g in groups} if groups is not None else {SHORTHAND_GROUP: None}
    for index, entry in enumerate(mix):
        where = f"workload.mix[{index}]"
        if entry.group not in by_name:
            close = difflib.get_close_matches(entry.group, list(by_name), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{where}: group {shown(entry.group)} is not in dataset.groups{hint} (groups: {', '.join(by_name)})"
            )
        group = by_name[entry.group]
        kind = group.type if group is not None else "string"
        allowed = COMMANDS[kind] + ANY_TYPE_COMMANDS
        if entry.command not in allowed:
            raise ValueError(
                f"{where}: {entry.command} does not apply to {kind} group {entry.group!r} "
                f"(allowed: {', '.join(allowed)})"
            )
        integers = group is not None and group.values == "integers"
        if entry.command in INTEGER_COMMANDS and not integers:
            raise ValueError(
                f"{where}: {entry.command} needs integer values; give group {entry.group!r} values: integers"
            )
    total = sum(e.share for e in mix)
    if abs(total - 1.0) > 0.005:
        raise ValueError(f"workload.mix shares add up to {total:.1%}; they must add up to 100% of writes_per_sec")
