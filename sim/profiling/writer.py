"""Build a profiled scenario and write it as YAML with a comment beside each figure saying where it came
from; quantities carry units (``1.02KB``, ``18.3k``) that :mod:`sim.units` reads back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..units import MIB
from . import typedwriter
from .yamltext import Item, Plain, format_count, format_memory, format_rate, format_size, render, significant, to_data

XEN_PV_FAMILIES = frozenset({"t1", "m1", "m2", "m3", "c1"})
"""Old ElastiCache families on Xen paravirtual hosts (the ``xen-pv`` platform profile)."""


@dataclass
class Document:
    """A scenario as commented YAML items, plus the comment lines above and below them."""

    items: list[Item]
    header: list[str] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)

    def text(self) -> str:
        return render(self.items, self.header, self.footer)

    def data(self) -> dict:
        return to_data(self.items)


def validate(document: Document, source: str = "<profile>"):
    """Check the document against the scenario model; returns (Scenario, fields the model does not know yet).

    ``workload.daily_profile``, ``backup.start`` and ``backup.retention_days`` are dropped for the check when
    the installed model lacks them, so a profile can be written before the model grows those fields.
    """
    from ..scenario import Backup, Workload, validate_scenario

    data = document.data()
    dropped = []
    optional = (
        ("workload", "daily_profile", Workload),
        ("backup", "start", Backup),
        ("backup", "retention_days", Backup),
    )
    for section, key, model in optional:
        if key in data.get(section, {}) and key not in model.model_fields:
            data[section] = {k: v for k, v in data[section].items() if k != key}
            dropped.append(f"{section}.{key}")
    return validate_scenario(data, source=source), dropped


def platform_for(node_type: str | None) -> str | None:
    """The platform profile of an ElastiCache node type's family (``xen-pv`` for old Xen PV ones)."""
    if not node_type:
        return None
    parts = node_type.split(".")
    return "xen-pv" if len(parts) == 3 and parts[1] in XEN_PV_FAMILIES else "nitro"


def node_type_matching(maxmemory: int) -> list[str]:
    """Catalog node types whose ``maxmemory`` equals ``maxmemory`` exactly."""
    from ..elasticache.catalog import load_catalog

    return [n.node_type for n in load_catalog().values() if n.maxmemory_bytes == maxmemory]


def _platform_item(platform: str | None, node_type: str | None) -> Item:
    if platform:
        return Item("platform", platform, "from --platform")
    guessed = platform_for(node_type)
    if guessed:
        return Item("platform", guessed, f"from the node type's family ({node_type})")
    return Item("platform", "nitro", "guess: modern EC2; use lab for rbsim's harness machine, xen-pv for old Xen PV")


def _top(rows: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {format_rate(rate)}/s" for name, rate in rows) or "none seen"


def _percent(share: float) -> str:
    return f"{significant(100 * share, 3)}%"


def live_document(
    profile,
    name: str | None = None,
    node_type: str | None = None,
    memory: int | None = None,
    platform: str | None = None,
) -> Document:
    """The scenario of a :class:`sim.profiling.live.LiveProfile`, every figure commented with its source."""
    from . import ProfileError

    p, s, r = profile, profile.sample, profile.rates
    notes = list(p.notes)
    when = p.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    host = p.url.split("@")[-1].split("://")[-1].split("/")[0].split("?")[0] or "server"
    header = [
        f"rbsim scenario profiled from the live server {p.url}",
        f"taken {when} by `rbsim profile`: INFO read twice, {r.seconds:.1f} s apart (the sampling window);",
        f"{s.keys} keys sampled with SCAN ({_percent(s.keys / p.keys) if p.keys else '0%'} of {p.keys:,}) in "
        f"{s.seconds:.2f} s (stopped by {s.stopped_by or 'nothing'}).",
        "Figures marked 'guess' were not measured: check them before trusting a prediction.",
    ]
    if p.keys == 0:
        raise ProfileError(f"{p.url} holds no keys (INFO keyspace is empty): there is no data to back up")

    engine = [
        Item(
            "name",
            p.engine_name,
            f"INFO server: {'valkey_version' if p.engine_name == 'valkey' else 'redis_version'} "
            f"{p.get('valkey_version') or p.get('redis_version')}",
        )
    ]
    if p.engine_version:
        engine.append(Item("version", p.engine_version, "INFO server"))
    allocator = p.allocator
    if allocator:
        engine.append(Item("allocator", allocator, f"INFO memory mem_allocator {p.get('mem_allocator')}"))
    else:
        notes.append(f"mem_allocator {p.get('mem_allocator')!r} is not modelled: rbsim assumes jemalloc")

    maxmemory = int(p.get("maxmemory", 0) or 0)
    system = int(p.get("total_system_memory", 0) or 0)
    node: list[Item] = []
    if node_type:
        node.append(Item("type", node_type, "from --node-type"))
    elif memory:
        node.append(Item("memory", format_memory(memory), "from --memory"))
    elif maxmemory:
        matches = node_type_matching(maxmemory)
        above = (
            [f"maxmemory equals the ElastiCache node type {' / '.join(matches)}: consider `type: {matches[0]}`"]
            if matches
            else []
        )
        node.append(
            Item(
                "memory",
                format_memory(maxmemory),
                "guess: the server's maxmemory (INFO memory); pass --node-type or --memory for the real node",
                above=above,
            )
        )
    elif system:
        node.append(
            Item(
                "memory",
                format_memory(system),
                "guess: INFO memory total_system_memory (maxmemory 0 = unlimited); pass --node-type or --memory",
            )
        )
    else:
        raise ProfileError(
            f"{p.url}: cannot tell the node's memory (maxmemory is 0 and INFO has no "
            "total_system_memory): pass --node-type or --memory"
        )
    node[0].above = node[0].above + [
        "swap, reserved memory and transparent huge pages are not visible from the server: "
        "rbsim's defaults (no swap, 25% reserved, THP off)"
    ]
    if "oom-score-adj" in p.config:
        value = p.config["oom-score-adj"]
        node.append(Item("oom_score_adj", value.lower() not in ("no", "0", ""), f"CONFIG GET oom-score-adj {value}"))

    groups, group_notes = typedwriter.groups_of(p)
    typed = typedwriter.needs_groups(groups)
    parameters = typedwriter.parameters_item(p.config)
    if parameters is not None:
        engine.append(parameters)
    used = int(p.get("used_memory", 0) or 0)
    type_mix = (
        ", ".join(f"{t} {_percent(c / s.keys)}" for t, c in s.types.most_common()) if s.keys else "no keys sampled"
    )
    above_data = [f"sampled key types: {type_mix}"]
    if s.memory_usage:
        above_data.append(
            f"MEMORY USAGE of {len(s.memory_usage)} sampled keys: mean {format_size(statistics_mean(s.memory_usage))} "
            "per key (value, key name and overheads)"
        )
    notes += group_notes
    if typed:
        dataset = typedwriter.dataset_items(p, groups)
        check = typedwriter.memory_check(groups)
        above_data.append(
            f"INFO memory used_memory {format_size(used)} (rss {format_size(int(p.get('used_memory_rss', 0) or 0))})"
            + (f"; {check}" if check else "")
        )
        above_data.append(
            f"{len(groups)} key groups: by TYPE and OBJECT ENCODING, split by key-name prefix where prefixes "
            "separate the keys"
        )
    else:
        dataset = _shorthand_dataset(p, above_data, allocator or "jemalloc")
    dataset[0].above = above_data + dataset[0].above
    platform_item = _platform_item(platform, node_type)
    fragmentation = _fragmentation(p, platform_item.value)
    if fragmentation is not None:
        dataset.append(fragmentation)

    writes, reads = r.writes_per_sec, r.reads_per_sec
    reads_item = Item(
        "reads_per_sec", format_rate(reads), f"INFO commandstats over {r.seconds:.1f} s: {_top(r.top('read', 3))}"
    )
    hot = Item(
        "key_distribution", "uniform", "guess: INFO cannot tell which keys are hot; uniform copies the most pages"
    )
    if typed:
        workload = typedwriter.mix_items(p, groups, notes)
        workload[0].above = [f"write commands: {_top(r.top('write', 6))}"]
        workload[1:1] = [reads_item, hot]
    else:
        workload = [
            Item(
                "writes_per_sec",
                format_rate(writes),
                f"INFO commandstats over {r.seconds:.1f} s: {_top(r.top('write', 3))}",
            ),
            reads_item,
            hot,
        ]
    if writes > 0 and not typed:
        fraction = min(1.0, max(0, p.key_growth) / (writes * r.seconds))
        workload.append(
            Item(
                "new_keys_fraction",
                _percent(fraction),
                f"net key growth over the window ({p.key_growth:+d} keys) / writes",
            )
        )
    expired = _delta(p, "expired_keys") / r.seconds
    evicted = _delta(p, "evicted_keys") / r.seconds
    workload[0].above += [
        f"not counted as writes: {format_rate(expired)} keys/s expired, {format_rate(evicted)} keys/s evicted"
    ]
    if r.unknown:
        workload[0].above.append(
            "unclassified commands (not counted): " + _top(sorted(r.unknown.items(), key=lambda x: -x[1])[:5])
        )

    role = str(p.get("role", "master"))
    backup = [
        Item("source", "replica" if role == "slave" else "primary", f"INFO replication role {role}"),
        Item("method", "fork", "a self-hosted server always forks (forkless backups are ElastiCache's)"),
    ]
    if "rdbcompression" in p.config:
        backup.append(
            Item(
                "compression",
                p.config["rdbcompression"].lower() == "yes",
                f"CONFIG GET rdbcompression {p.config['rdbcompression']}",
            )
        )
    if "rdb-key-save-delay" in p.config:
        backup.append(
            Item("rdb_key_save_delay_us", int(p.config["rdb-key-save-delay"]), "CONFIG GET rdb-key-save-delay")
        )

    items = [
        Item("name", name or f"profile-{host}".replace(":", "-")),
        Item("description", f"Profiled from {p.url} at {when} (window {r.seconds:.1f} s)"),
        Item("engine", children=engine),
        Item("node", children=node),
        platform_item,
        Item("dataset", children=dataset),
        Item("workload", children=workload),
        Item("backup", children=backup),
    ]
    return Document(items, header, live_footer(p, notes))


def _shorthand_dataset(p, above_data: list[str], allocator: str) -> list[Item]:
    """The one-string-group shorthand (``keys``, ``value_size``, ``key_size``; ``used_memory`` without a sample)."""
    from ..physics.layout import used_memory as model_used_memory

    s = p.sample
    used = int(p.get("used_memory", 0) or 0)
    dbs = ", ".join(f"db{n} {k}" for n, k in sorted(p.keys_per_db.items()))
    dataset = [Item("keys", p.keys, f"INFO keyspace, all dbs summed ({dbs})")]
    value_size, key_size = s.value_size, s.key_size
    if value_size:
        lengths = sorted(s.string_lengths)
        spread = (
            f"median {format_size(lengths[len(lengths) // 2])}, "
            f"p90 {format_size(lengths[int(0.9 * (len(lengths) - 1))])}, "
            f"max {format_size(lengths[-1])}"
        )
        dataset.append(
            Item("value_size", format_size(value_size), f"mean STRLEN of {len(lengths)} sampled string keys ({spread})")
        )
        if key_size:
            dataset.append(Item("key_size", format_size(key_size), "mean key name length of the sample"))
        modelled = model_used_memory(p.keys, key_size or 16, value_size, allocator)
        above_data.append(
            f"INFO memory used_memory {format_size(used)} (rss {format_size(int(p.get('used_memory_rss', 0) or 0))}); "
            f"rbsim's layout model gives {format_size(modelled)} for these keys and sizes"
        )
    else:
        dataset.append(
            Item(
                "used_memory",
                format_memory(used),
                "INFO memory used_memory; value size derived from it (no string keys sampled)",
            )
        )
        if key_size:
            dataset.append(Item("key_size", format_size(key_size), "mean key name length of the sample"))
    return dataset


MIN_USED_FOR_FRAGMENTATION = 64 * MIB
"""Below this used_memory the server's own base RSS (a few MiB) swamps the ratio, so none is written."""


def _fragmentation(p, platform: str) -> Item | None:
    """``dataset.fragmentation``: (used_memory_rss - the platform's base RSS) / used_memory, on large enough data."""
    from ..platform import PlatformError, load_platform

    used, rss = int(p.get("used_memory", 0) or 0), int(p.get("used_memory_rss", 0) or 0)
    if used < MIN_USED_FOR_FRAGMENTATION or rss <= 0:
        return None
    try:
        base = load_platform(platform).memory.rss_base
    except PlatformError:
        return None
    ratio = (rss - base) / used
    if not 1.0 <= ratio <= 3.0:
        return None
    return Item(
        "fragmentation",
        Plain(significant(ratio, 3)),
        f"INFO memory (used_memory_rss {format_size(rss)} - {platform}'s base RSS {format_size(base)}) / "
        f"used_memory {format_size(used)}",
    )


def live_footer(p, notes: list[str]) -> list[str]:
    """Comment lines on the server's own last save, its save settings and the profiler's notes."""
    lines = []
    if p.has_saved:
        finished = datetime.fromtimestamp(int(p.get("rdb_last_save_time", 0)), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(
            f"the server's last fork and save (INFO stats, persistence): latest_fork_usec {p.get('latest_fork_usec')}, "
            f"rdb_last_cow_size {p.get('rdb_last_cow_size')} B, rdb_last_bgsave_time_sec "
            f"{p.get('rdb_last_bgsave_time_sec')}, status {p.get('rdb_last_bgsave_status')}, last save {finished}"
        )
    else:
        lines.append("the server has not forked for a save since it started: no figures of its own to compare with")
    for key in ("save", "appendonly"):
        if key in p.config:
            lines.append(f"CONFIG GET {key}: {p.config[key]!r}")
    lines += [f"note: {n}" for n in notes]
    return lines


def _delta(p, key: str) -> float:
    return max(0, int(p.after.get(key, 0) or 0) - int(p.before.get(key, 0) or 0))


def statistics_mean(values: list[int]) -> float:
    return sum(values) / len(values)


def clean_version(raw: Any) -> str:
    """The leading ``major[.minor[.patch]]`` of a version string (``7.0.7``, ``6.x`` -> ``6``), or ``""``."""
    parts = []
    for piece in str(raw or "").split(".")[:3]:
        digits = piece if piece.isdigit() else ""
        if not digits:
            break
        parts.append(str(int(digits)))
    return ".".join(parts)


def _filled(values: list[float | None]) -> tuple[list[float], int]:
    """``values`` with gaps filled by the mean of the known ones, and how many were filled."""
    known = [v for v in values if v is not None]
    mean = sum(known) / len(known) if known else 0.0
    return [mean if v is None else v for v in values], sum(v is None for v in values)


def elasticache_document(
    profile,
    name: str | None = None,
    node_type: str | None = None,
    memory: int | None = None,
    platform: str | None = None,
) -> Document:
    """The scenario of a :class:`sim.profiling.elasticache.ElastiCacheProfile` with a 24 h load profile."""
    from ..elasticache.catalog import UnknownNodeTypeError, get_node_type
    from . import ProfileError

    p = profile
    notes = list(p.notes)
    when = p.taken_at.strftime("%Y-%m-%d %H:%M UTC")
    span = (
        f"{p.hours[0]:%Y-%m-%d %H:%M} to {p.hours[-1] + (p.hours[1] - p.hours[0]):%Y-%m-%d %H:%M} UTC"
        if len(p.hours) > 1
        else "the last day"
    )
    header = [
        f"rbsim scenario profiled from ElastiCache {p.kind} {p.target} ({p.region})",
        f"taken {when} by `rbsim profile`: describe_replication_groups / describe_cache_clusters / "
        "describe_cache_parameters,",
        f"and hourly CloudWatch figures (AWS/ElastiCache, CacheClusterId {p.node_id}, CacheNodeId 0001) from {span}.",
        "Hourly figures are averages: the busiest minute of an hour can be well above them.",
        "Figures marked 'guess' were not measured: check them before trusting a prediction.",
    ]
    engine_name = (p.engine or "redis").lower()
    if engine_name not in ("redis", "valkey"):
        raise ProfileError(f"{p.target} runs {p.engine}: rbsim simulates Redis and Valkey backups only")
    engine = [Item("name", engine_name, f"{p.kind} Engine")]
    version = clean_version(p.engine_version)
    if version:
        engine.append(Item("version", version, f"EngineVersion {p.engine_version}"))
    else:
        notes.append("engine version unknown: rbsim's default engine version is used")
    engine.append(Item("allocator", "jemalloc", "ElastiCache's Redis and Valkey builds use jemalloc"))
    parameters = typedwriter.parameters_item(p.parameters, f"parameter group {p.parameter_group}")
    if parameters is not None:
        engine.append(parameters)

    chosen_type = node_type or (None if memory else p.node_type)
    node: list[Item] = []
    if memory and not node_type:
        node.append(Item("memory", format_memory(memory), "from --memory"))
    elif chosen_type:
        try:
            get_node_type(chosen_type)
        except UnknownNodeTypeError as exc:
            raise ProfileError(f"{p.target}: {exc}; pass --memory (or --node-type) to profile it") from None
        node.append(Item("type", chosen_type, "from --node-type" if node_type else "CacheNodeType"))
    else:
        raise ProfileError(f"{p.target}: the node type is unknown; pass --node-type or --memory")
    if p.reserved_memory is not None:
        node.append(
            Item(
                "reserved_memory",
                format_memory(p.reserved_memory),
                f"parameter group {p.parameter_group}: reserved-memory",
            )
        )
    elif p.reserved_memory_percent is not None:
        node.append(
            Item(
                "reserved_memory_percent",
                p.reserved_memory_percent,
                f"parameter group {p.parameter_group}: reserved-memory-percent",
            )
        )
    else:
        node.append(Item("reserved_memory_percent", 25, "guess: ElastiCache's default (parameter group unread)"))
    swap = [v for v in p.hourly.get("swap_max", []) if v is not None]
    if swap:
        node[0].above = [
            f"CloudWatch SwapUsage: at most {format_size(max(swap))} over the day (rbsim's node.swap "
            "is the swap the node may use: left at 0)"
        ]

    writes_by_hour, filled_w = _filled(p.by_hour_of_day("writes_per_sec"))
    reads_by_hour, filled_r = _filled(p.by_hour_of_day("reads_per_sec"))
    if filled_w or filled_r:
        notes.append(f"CloudWatch lacked {max(filled_w, filled_r)} of the 24 hours: those hours hold the day's mean")
    backup_hour = p.backup_hour
    if backup_hour is not None:
        hour, why = backup_hour, f"the snapshot window's first hour ({p.snapshot_window} UTC)"
    else:
        hour = max(range(24), key=lambda h: writes_by_hour[h])
        why = "the busiest write hour (no snapshot window)"
    keys = _at_hour(p.by_hour_of_day("items"), hour)
    used = _at_hour(p.by_hour_of_day("bytes_used"), hour)
    if not keys or not used:
        raise ProfileError(
            f"{p.target}: CloudWatch has no CurrItems / BytesUsedForCache for {p.node_id} in the "
            "last 24 h, so the dataset cannot be sized"
        )
    dataset = [
        Item("keys", format_count(keys, 4), f"CloudWatch CurrItems, hourly average at {hour:02d}:00 UTC"),
        Item(
            "used_memory",
            format_memory(int(used)),
            f"CloudWatch BytesUsedForCache, hourly average at {hour:02d}:00 UTC",
        ),
    ]
    dataset[0].above = [f"dataset and rates at {why}"]
    workload = [
        Item(
            "writes_per_sec",
            format_rate(writes_by_hour[hour]),
            f"CloudWatch SetTypeCmds / 3600 s at {hour:02d}:00 UTC",
            above=["with daily_profile below, rbsim takes the rates at backup.start from the profile"],
        ),
        Item(
            "reads_per_sec", format_rate(reads_by_hour[hour]), f"CloudWatch GetTypeCmds / 3600 s at {hour:02d}:00 UTC"
        ),
        Item(
            "key_distribution",
            "uniform",
            "guess: CloudWatch cannot tell which keys are hot; uniform copies the most pages",
        ),
        Item(
            "daily_profile",
            comment="per UTC hour 00..23: CloudWatch SetTypeCmds / GetTypeCmds sums / 3600 s",
            children=[
                Item("writes_per_sec", [format_rate(v) for v in writes_by_hour]),
                Item("reads_per_sec", [format_rate(v) for v in reads_by_hour]),
            ],
        ),
    ]
    replicas = p.replicas_per_shard
    source = "replica" if replicas > 0 else "primary"
    backup = [
        Item(
            "source",
            source,
            (
                f"ElastiCache backs up from a replica when there is one"
                f" (SnapshottingClusterId {p.snapshotting_cluster})"
                if replicas > 0
                else "no replica: the primary takes the backup"
            ),
        )
    ]
    backup.append(Item("method", "auto", "ElastiCache forks, or goes forkless when memory is short"))
    if backup_hour is not None:
        start = p.snapshot_window.split("-")[0].strip()
        start = (
            f"{int(start.split(':')[0]):02d}:{int(start.split(':')[1]):02d}"
            if ":" in start
            else f"{backup_hour:02d}:00"
        )
        backup.append(Item("start", start, f"SnapshotWindow {p.snapshot_window} (UTC)"))
    if p.snapshot_retention_limit is not None:
        retention = int(p.snapshot_retention_limit)
        backup.append(
            Item(
                "retention_days",
                retention,
                "SnapshotRetentionLimit" + (" (0: automatic backups are off)" if retention == 0 else ""),
            )
        )
    items = [
        Item("name", name or f"profile-{p.target}"),
        Item("description", f"Profiled from ElastiCache {p.kind} {p.target} ({p.region}) at {when}"),
        Item("engine", children=engine),
        Item("node", children=node),
        _platform_item(platform, chosen_type),
        Item("dataset", children=dataset),
        Item("workload", children=workload),
        Item("backup", children=backup),
    ]
    return Document(items, header, elasticache_footer(p, notes))


def _at_hour(values: list[float | None], hour: int) -> float | None:
    """``values[hour]``, else the nearest earlier hour with a value (wrapping), else None."""
    for step in range(24):
        value = values[(hour - step) % 24]
        if value is not None:
            return value
    return None


def elasticache_footer(p, notes: list[str]) -> list[str]:
    """Comment lines on topology, backups seen and memory pressure during the day."""
    lines = [
        f"topology: {p.shards} shard(s) x (1 primary + {p.replicas_per_shard} replica(s))"
        + (", cluster mode enabled" if p.cluster_mode else "")
        + f"; metrics from {p.node_id}"
    ]
    saving = [h.strftime("%H:%M") for h, v in zip(p.hours, p.hourly.get("saving", []), strict=False) if v]
    lines.append("CloudWatch SaveInProgress during the day: " + (", ".join(saving) + " UTC" if saving else "none seen"))
    freeable = [v for v in p.hourly.get("freeable_min", []) if v is not None]
    if freeable:
        lines.append(f"CloudWatch FreeableMemory: at least {format_size(min(freeable))} free on the host all day")
    lines += [f"note: {n}" for n in notes]
    return lines
