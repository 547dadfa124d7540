"""The scenario: one Redis node, its data, its load and one backup, read from YAML.

This model is the contract shared by the simulator, the harness, the planner and the
notebooks. Quantities are written with units (``13.07GiB``, ``20k/s``); every field is
documented in README.md. :func:`load_scenario` turns a file into a validated
:class:`Scenario` or raises :class:`ScenarioError` naming the file, field and what is allowed.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .dayload import DayLoadError
from .elasticache import flavor
from .fieldtypes import Count, Duration, Fraction, FreeText, Rate, Size, Text, TimeOfDay
from .inputs import MAX_MESSAGE_CHARS, FileReadError, InputError, YamlError, cut, load_yaml, node_line, read_text, shown
from .inputs import Node as YamlNode
from .keydist import KeyDistribution, Uniform, Zipf
from .keygroups import (
    EngineParameters,
    EngineParametersSpec,
    KeyGroup,
    KeyGroupSpec,
    MixEntry,
    MixEntrySpec,
    check_groups_and_mix,
    engine_parameters,
    key_groups,
    write_mix,
)
from .physics.encodings import sets_use_listpack
from .planner.model import PlanSpec

MAX_MANUAL_BACKUPS_PER_DAY = 20
"""'you can create no more than 20 manual backups per node in the cluster' per 24 h (docs/elasticache.md §3.4)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Engine(_Model):
    """Server engine, version, allocator and build (ElastiCache's or open source; see :mod:`sim.elasticache.flavor`)."""

    name: Literal["redis", "valkey"] = "redis"
    version: str = "7.0.15"
    allocator: Literal["jemalloc", "libc"] = "jemalloc"
    build: Literal["elasticache", "open-source"] | None = None  # None: ElastiCache with a node.type, else open source
    parameters: EngineParametersSpec | None = None  # encoding thresholds and maxmemory-policy (sim/keygroups.py)

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: Any) -> str:
        text = str(value).strip()
        parts = text.split(".")
        if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f'{shown(value)} is not a version; write it like "7.0.15" or "2.8.22"')
        return text

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        parts = [int(p) for p in self.version.split(".")] + [0, 0]
        return parts[0], parts[1], parts[2]

    @property
    def can_fork_less(self) -> bool:
        """Redis >= 2.8.22 or any Valkey: no change-log buffering during a backup. Whether the build can
        also save without forking is :attr:`Scenario.has_forkless` (it depends on ``build``)."""
        return self.name == "valkey" or self.version_tuple >= flavor.ELASTICACHE_FORKLESS_MIN

    @property
    def dismisses_child_memory(self) -> bool:
        """Redis >= 7.0 (and Valkey) with jemalloc release serialized values in the fork child."""
        modern = self.name == "valkey" or self.version_tuple >= (7, 0, 0)
        return modern and self.allocator == "jemalloc"


class Node(_Model):
    """A catalog node type or an explicit memory limit (a container), plus swap and reservation."""

    type: Text | None = None
    memory: Size | None = None
    swap: Size = 0
    reserved_memory_percent: float | None = Field(default=None, ge=0, le=100)
    reserved_memory: Size | None = None
    transparent_huge_pages: bool = False
    oom_score_adj: bool = False

    @model_validator(mode="after")
    def _one_memory_source(self) -> Node:
        if (self.type is None) == (self.memory is None):
            which = "both" if self.type is not None else "neither"
            raise ValueError(
                f"give exactly one of node.type (a catalog node type such as cache.r6g.large) "
                f"or node.memory (an explicit limit such as 1.4GiB); {which} given"
            )
        if self.reserved_memory_percent is not None and self.reserved_memory is not None:
            raise ValueError(
                "give at most one of reserved_memory_percent and reserved_memory "
                "(ElastiCache parameter groups hold one, never both)"
            )
        return self

    @property
    def reserved_percent(self) -> float:
        """Reserved share of maxmemory in percent (ElastiCache default 25)."""
        return 25.0 if self.reserved_memory_percent is None else self.reserved_memory_percent


class Dataset(_Model):
    """The data at the start of the backup: typed key ``groups``, or the one-string-group shorthand
    (keys × value size, or used_memory with one of them)."""

    keys: Count | None = None
    value_size: Size | None = None
    used_memory: Size | None = None
    key_size: Size = 16
    value_pattern: Literal["random", "repetitive"] = "random"
    groups: list[KeyGroupSpec] | None = Field(default=None, min_length=1, max_length=100)
    fragmentation: float | None = Field(default=None, ge=1.0, le=3.0)  # RSS / used_memory; None: the platform's

    @model_validator(mode="after")
    def _enough(self) -> Dataset:
        if self.groups is not None:
            shorthand = {"keys", "value_size", "used_memory", "key_size", "value_pattern"} & self.model_fields_set
            if shorthand:
                raise ValueError(
                    f"give either dataset.groups or the one-group shorthand, not both: move "
                    f"{', '.join(sorted(shorthand))} into the groups (each group has keys, element_size, key_size, "
                    "value_pattern)"
                )
            return self
        if self.keys is not None and self.value_size is not None:
            if self.used_memory is not None:
                raise ValueError("give keys and value_size, or used_memory with one of them, not all three")
        elif self.used_memory is None or (self.keys is None and self.value_size is None):
            raise ValueError(
                "describe the data with keys and value_size (e.g. {keys: 8M, value_size: 1KB}) "
                "or with used_memory and one of keys or value_size"
            )
        if self.keys == 0:
            raise ValueError("keys must be at least 1")
        if self.value_size == 0:
            raise ValueError("value_size must be at least 1B")
        return self


class DailyProfile(_Model):
    """Rates over a day: 24 hourly values (the first is 00:00-01:00) or a CSV file of a real day."""

    writes_per_sec: list[Rate] | None = None
    reads_per_sec: list[Rate] | None = None
    csv: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DailyProfile:
        if (self.csv is None) == (self.writes_per_sec is None):
            raise ValueError(
                "give either writes_per_sec (24 hourly rates) or csv (a file with time,writes_per_sec[,reads_per_sec])"
            )
        for name in ("writes_per_sec", "reads_per_sec"):
            values = getattr(self, name)
            if values is not None and len(values) != 24:
                raise ValueError(f"{name} needs 24 hourly values, one per hour from 00:00; got {len(values)}")
        if self.csv is not None and self.reads_per_sec is not None:
            raise ValueError("with csv, put reads_per_sec in the CSV file")
        return self


class Workload(_Model):
    """Request rates during the backup and which keys the writes hit."""

    writes_per_sec: Rate = 0.0
    reads_per_sec: Rate = 0.0
    daily_profile: DailyProfile | None = None
    key_distribution: KeyDistribution = Uniform()
    new_keys_fraction: Fraction = 0.0
    clients: int = Field(default=500, ge=1)
    mix: list[MixEntrySpec] | None = Field(default=None, min_length=1, max_length=500)  # writes per (group, command)


class Backup(_Model):
    """Where and how the backup is taken."""

    source: Literal["primary", "replica"] = "primary"
    method: Literal["auto", "fork", "forkless"] = "auto"
    rdb_key_save_delay_us: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    compression: bool = True
    forkless_threshold: Fraction | None = None  # auto goes forkless below this free share; None: the platform's
    start: TimeOfDay | None = None
    kind: Literal["automatic", "manual", "final"] = "automatic"
    per_day: int = Field(default=1, ge=1, le=1440)
    retention_days: int = Field(default=1, ge=0, le=35)
    scope: Literal["cluster", "shard"] = "cluster"


def _shard_skew(value: Any) -> Any:
    if value == "uniform":
        return {"uniform": True}
    if isinstance(value, list):
        return {"weights": value}
    return value


class ShardWeights(_Model):
    """Explicit shares of data and writes per shard (normalized)."""

    weights: list[float] = Field(min_length=1)

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(w <= 0 for w in value):
            raise ValueError("shard weights must all be positive")
        return value


ShardSkew = Annotated[Uniform | Zipf | ShardWeights, BeforeValidator(_shard_skew)]


class Cluster(_Model):
    """Cluster mode: the dataset and load split over shards that all back up together."""

    shards: int = Field(ge=1, le=500)
    skew: ShardSkew = Uniform()

    @model_validator(mode="after")
    def _weights_match(self) -> Cluster:
        if isinstance(self.skew, ShardWeights) and len(self.skew.weights) != self.shards:
            raise ValueError(f"skew lists {len(self.skew.weights)} weights for {self.shards} shards")
        return self


class Restore(_Model):
    """Restore (or seed) a new node or cluster from this scenario's backup: the target and what comes back."""

    node_type: str | None = None
    memory: Size | None = None
    reserved_memory_percent: float | None = Field(default=None, ge=0, le=100)
    engine: Engine | None = None  # default: the scenario's engine
    shards: int = Field(default=1, ge=1, le=500)
    skew: ShardSkew = Uniform()
    replicas: int = Field(default=0, ge=0, le=5)
    writes_per_sec: Rate | None = None  # writes that return during the replica syncs; default workload.writes_per_sec

    @model_validator(mode="after")
    def _one_target(self) -> Restore:
        if (self.node_type is None) == (self.memory is None):
            which = "both" if self.node_type is not None else "neither"
            raise ValueError(
                f"give exactly one of restore.node_type (e.g. cache.r6g.large) or restore.memory "
                f"(an explicit limit such as 2GiB); {which} given"
            )
        if isinstance(self.skew, ShardWeights) and len(self.skew.weights) != self.shards:
            raise ValueError(f"restore.skew lists {len(self.skew.weights)} weights for {self.shards} shards")
        return self


class Simulation(_Model):
    """How much steady state the timeline shows around the backup."""

    before: Duration = 5.0
    after: Duration = 5.0


class Scenario(_Model):
    """One node, its data and load, and one backup to simulate."""

    name: Text = "scenario"
    description: FreeText = ""
    engine: Engine = Engine()
    node: Node
    platform: Text = "nitro"
    dataset: Dataset
    workload: Workload = Workload()
    backup: Backup = Backup()
    simulation: Simulation = Simulation()
    cluster: Cluster | None = None
    plan: PlanSpec | None = None  # the planner's settings, validated with the rest by every command
    restore: Restore | None = None

    @model_validator(mode="before")
    @classmethod
    def _platform_of_node(cls, data: Any) -> Any:
        """Without ``platform``, old PV-only node generations get ``xen-pv`` (sim/elasticache/generations.py),
        others ``nitro``."""
        from .elasticache.generations import default_platform

        if isinstance(data, dict) and data.get("platform") is None and isinstance(data.get("node"), dict):
            node_type = data["node"].get("type")
            return {**data, "platform": default_platform(node_type if isinstance(node_type, str) else None)}
        return data

    @property
    def build(self) -> str:
        """``elasticache`` or ``open-source``: ``engine.build``, else derived (see :mod:`sim.elasticache.flavor`)."""
        return flavor.build_of(self.engine.build, self.node.type, self.platform)

    @property
    def has_forkless(self) -> bool:
        """Whether this scenario's server can back up without forking."""
        return flavor.has_forkless(self.build, self.engine.name, self.engine.version_tuple)

    def key_groups(self) -> tuple[KeyGroup, ...]:
        """The dataset's key groups, defaults resolved (the shorthand is one string group)."""
        return key_groups(self)

    def write_mix(self) -> tuple[MixEntry, ...]:
        """The writes split over (group, command), shares adding to 1."""
        return write_mix(self)

    def engine_parameters(self) -> EngineParameters:
        """Encoding thresholds and maxmemory-policy with the engine's and build's defaults."""
        return engine_parameters(self)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        check_groups_and_mix(self.dataset.groups, self.workload.mix, self.workload.new_keys_fraction)
        params = self.engine.parameters
        if params is not None and not sets_use_listpack(self.engine.name, self.engine.version):
            given = [
                n for n in ("set_max_listpack_entries", "set_max_listpack_value") if getattr(params, n) is not None
            ]
            if given:
                raise ValueError(
                    f"engine.parameters: {given[0].replace('_', '-')} needs Redis 7.2 or later or Valkey "
                    f"(listpack sets); this engine is {self.engine.name} {self.engine.version}"
                )
        if self.backup.method == "forkless" and not self.has_forkless:
            raise ValueError(
                f"backup.method forkless: {self.build} {self.engine.name} {self.engine.version} "
                "has no forkless backup; "
                f"it needs {flavor.forkless_requirement()}"
            )
        if self.backup.kind == "manual" and self.backup.per_day > MAX_MANUAL_BACKUPS_PER_DAY:
            raise ValueError(
                f"backup.per_day {self.backup.per_day}: ElastiCache allows at most {MAX_MANUAL_BACKUPS_PER_DAY} "
                "manual backups per node in any 24 hours"
            )
        if self.cluster is not None and self.cluster.shards > 1 and self.backup.scope == "shard":
            raise ValueError(
                "backup.scope shard: with cluster mode enabled, ElastiCache backs up the whole cluster, never one shard"
            )
        return self


class ScenarioError(InputError):
    """A scenario that cannot be used; ``str()`` names the file, the field and what is allowed."""

    def __init__(self, source: str, problems: list[tuple[str, int | None, str]]):
        self.source = source
        self.problems = problems
        lines = []
        for path, line, message in problems:
            where = f"{source}:{line}" if line else source
            lines.append(cut(f"{where}: {path}: {message}" if path else f"{where}: {message}", MAX_MESSAGE_CHARS))
        super().__init__("\n".join(lines))


def load_scenario(path: str | Path, overrides: dict | None = None) -> Scenario:
    """Read and validate a scenario YAML file, optionally with nested ``overrides`` applied on top
    such as ``{"node": {"type": "cache.r6g.xlarge"}}``."""
    path = Path(path)
    try:
        text = read_text(path)
    except FileReadError as exc:
        raise ScenarioError(str(path), [("", exc.line, exc.why)]) from None
    return parse_scenario(text, source=str(path), overrides=overrides)


def parse_scenario(text: str, source: str = "<scenario>", overrides: dict | None = None) -> Scenario:
    """Validate scenario YAML text, optionally with nested overrides applied on top."""
    try:
        data, tree = load_yaml(text, source)
    except YamlError as exc:
        raise ScenarioError(source, [("", exc.line, exc.problem)]) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            source, [("", None, "a scenario must be a YAML mapping of fields (name:, node:, dataset:, ...)")]
        )
    if overrides:
        data = merge(data, overrides)
    return validate_scenario(data, source=source, tree=tree)


def merge(base: dict, overrides: dict) -> dict:
    """Deep-merge ``overrides`` into a copy of ``base`` (mappings merge, other values replace)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def validate_scenario(data: dict, source: str = "<scenario>", tree: YamlNode | None = None) -> Scenario:
    """Validate a scenario mapping, turning pydantic errors into :class:`ScenarioError`."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, _problems(exc, data, tree)) from None
    _check_references(scenario, source, tree)
    return scenario


def _check_references(scenario: Scenario, source: str, tree: YamlNode | None) -> None:
    """Check names that point outside the file: the node type and the platform profile."""
    from .elasticache.catalog import UnknownNodeTypeError, get_node_type
    from .platform import PlatformError, load_platform

    if scenario.node.type is not None:
        try:
            get_node_type(scenario.node.type)
        except UnknownNodeTypeError as exc:
            raise ScenarioError(source, [("node.type", _line(tree, ("node", "type")), str(exc))]) from None
    if scenario.restore is not None and scenario.restore.node_type is not None:
        try:
            get_node_type(scenario.restore.node_type)
        except UnknownNodeTypeError as exc:
            loc = ("restore", "node_type")
            raise ScenarioError(source, [("restore.node_type", _line(tree, loc), str(exc))]) from None
    folder = Path(source).parent if source != "<scenario>" else None
    try:
        load_platform(scenario.platform, relative_to=folder)
    except PlatformError as exc:
        raise ScenarioError(source, [("platform", _line(tree, ("platform",)), str(exc))]) from None
    profile = scenario.workload.daily_profile
    if profile is not None and profile.csv is not None:
        from .dayload import read_day_csv

        try:
            read_day_csv(resolve_path(profile.csv, folder))
        except DayLoadError as exc:
            csv_loc = ("workload", "daily_profile", "csv")
            raise ScenarioError(source, [(".".join(csv_loc), _line(tree, csv_loc), str(exc))]) from None


def resolve_path(name: str, folder: Path | None) -> Path:
    """A path named in a scenario, relative to the scenario file's folder."""
    path = Path(name)
    return path if path.is_absolute() or folder is None else folder / path


def _problems(exc: ValidationError, data: dict, tree: YamlNode | None) -> list[tuple[str, int | None, str]]:
    problems = []
    seen = set()
    for error in exc.errors():
        loc = _clean_loc(error["loc"])
        path = ".".join(str(p) for p in loc)
        if error["type"] == "extra_forbidden":
            message = _unknown_field_message(loc)
        elif error["type"] == "union_tag_invalid" or (
            loc and loc[-1] == "key_distribution" and error["type"] != "value_error"
        ):
            message = "use uniform, {zipf: 0.99} or {hot_set: {keys: 10%, writes: 90%}}"
        elif error["type"] == "missing":
            message = "this field is required"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if "input" in error and error["type"] not in ("value_error",):
                message = f"{message} (got {shown(error['input'])})"
        if not loc:
            loc, message = _located(message)
            path = ".".join(str(p) for p in loc)
        key = (path, message)
        if key in seen:
            continue
        seen.add(key)
        problems.append((path, _line(tree, loc), message))
    return problems


_LEADING_PATH = re.compile(r"^((?:dataset|workload|engine)(?:\.[A-Za-z_-]+|\[\d+\])*): (.+)$", re.DOTALL)


def _located(message: str) -> tuple[tuple, str]:
    """A whole-scenario rule's message that starts with a field path (``workload.mix[2]: ...``) gets that location."""
    match = _LEADING_PATH.match(message)
    if not match:
        return (), message
    loc = tuple(int(p) if p.isdigit() else p for p in re.findall(r"[A-Za-z_-]+|\d+", match.group(1)))
    return loc, match.group(2)


_UNION_TAGS = {
    "Uniform",
    "Zipf",
    "HotSet",
    "ShardWeights",
    "fixed",
    "LogNormal",
    "Histogram",
}


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-member markers from an error location."""
    return tuple(p for p in loc if p not in _UNION_TAGS and not str(p).startswith("function-"))


def _unknown_field_message(loc: tuple) -> str:
    allowed = _allowed_fields(loc[:-1])
    name = str(loc[-1])
    message = f"unknown field {shown(name)}"
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    if allowed:
        message += f" (allowed here: {', '.join(allowed)})"
    return message


def _allowed_fields(parent: tuple) -> list[str]:
    model: Any = Scenario
    for part in parent:
        if isinstance(part, int):  # an index into a list of models
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = _model_of(field.annotation)
    if _is_distribution(parent):
        return ["uniform", "zipf", "hot_set"]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


def _is_distribution(parent: tuple) -> bool:
    return bool(parent) and parent[-1] == "key_distribution"


def _model_of(annotation: Any) -> Any:
    for candidate in getattr(annotation, "__args__", ()) or ():
        found = _model_of(candidate)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _line(tree: YamlNode | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    return node_line(tree, loc)
