"""The restore step of a run: will this backup restore onto the ``restore:`` target, and how long until it serves.

Reads the prepared backup (keys, value size, RDB size) and the platform's ``restore`` costs, and returns the
``restore_*`` summary fields: the checks (node type allows restores, the target engine reads the RDB format,
the data fits maxmemory, the load fits the node), the load time (the node answers ``-LOADING`` meanwhile), the
peak memory while loading and the replicas' full syncs. A cluster-mode target seeded from one RDB gets each
shard's share of the slots and data (``restore.skew``); the worst shard decides.
"""

from __future__ import annotations

from dataclasses import replace

from .elasticache.catalog import get_node_type
from .elasticache.cluster import shard_weights
from .physics import layout as layout_mod
from .physics import restore as phys
from .physics.budget import MemoryBudget
from .physics.changelog import command_bytes, output_buffer_limit
from .physics.cow import cow_model
from .physics.fork import fork_stall_seconds, page_table_bytes
from .physics.keyspace import popularity
from .physics.save import LZF_MIN_LENGTH, lzf_scanned_bytes, rdb_bytes, save_seconds
from .platform import Platform, RestoreCost, load_platform
from .prepare import SMALL_PAGE, Prepared, node_budget
from .rdb_versions import load_refusal, rdb_version_written
from .scenario import Cluster, Engine, Node, Restore, Scenario
from .summary import RestoreShard, RestoreSummary
from .units import format_bytes, format_duration

RESTORE_OUTCOMES = ("ok", "sync-fails", "sync-oom", "over-maxmemory", "oom", "unreadable-rdb", "unsupported-node")
"""ok; sync-fails: the writes buffered for a syncing replica overflow its output buffer (the sync restarts);
sync-oom: a replica's full sync outgrows the new primary; over-maxmemory: loads but the data exceeds maxmemory
(ElastiCache refuses the smaller node, Redis would refuse writes); oom: the load itself outgrows the node;
unreadable-rdb: the target engine cannot read the RDB format; unsupported-node: no restores on that type."""
FALLBACK_PLATFORM = "lab"


def target_budget(r: Restore) -> MemoryBudget:
    """The restore target's memory: its node type's (or the explicit) memory and reserve, no swap."""
    memory = None if r.memory is None else f"{r.memory}B"  # a Size field takes bytes with their unit
    node = Node.model_validate(
        {"type": r.node_type, "memory": memory, "reserved_memory_percent": r.reserved_memory_percent}
    )
    return node_budget(node)


def restore_costs(platform: Platform) -> tuple[RestoreCost, bool]:
    """The platform's restore costs and whether they are its own (else the lab's, with a warning)."""
    if platform.restore is not None:
        return platform.restore, True
    fallback = load_platform(FALLBACK_PLATFORM).restore
    if fallback is None:  # a packaging error, not a user's: the lab profile ships its fitted restore costs
        raise RuntimeError(f"the built-in {FALLBACK_PLATFORM} platform has no restore costs")
    return fallback, False


def lzf_raw_bytes(keys: int, value_size: int, pattern: str, compression: bool) -> int:
    """Decompressed bytes of the values the RDB holds LZF-compressed: compressible values above 20 bytes when
    ``rdbcompression yes`` (Redis stores a value raw when LZF cannot shrink it, as with random bytes)."""
    if pattern != "repetitive" or value_size <= LZF_MIN_LENGTH:
        return 0
    return lzf_scanned_bytes(keys, value_size, compression)


def shard_restore(
    p: Prepared,
    share: float,
    budget: MemoryBudget,
    cost: RestoreCost,
    allocator: str,
    replicas: int,
    writes_per_sec: float,
    slots: int,
) -> RestoreShard:
    """Load time, memory and replica sync of one target shard holding ``share`` of the backup (``slots`` hash slots)."""
    s, platform = p.scenario, p.platform
    keys = max(1, round(p.keys * share))
    used = layout_mod.used_memory(keys, p.key_size, p.value_size, allocator)
    rss = platform.memory.rss_base + used * platform.memory.fragmentation
    rdb = rdb_bytes(keys, p.key_size, p.value_size, s.dataset.value_pattern, s.backup.compression)
    lzf = lzf_raw_bytes(keys, p.value_size, s.dataset.value_pattern, s.backup.compression)
    load_s = phys.load_seconds(
        keys,
        keys * p.value_size,
        lzf,
        cost.us_per_key,
        cost.value_bytes_per_sec,
        cost.lzf_bytes_per_sec,
        (rss - platform.memory.rss_base) / SMALL_PAGE,  # the loaded data's pages
        cost.first_touch_us_per_page,
    )
    peak = phys.peak_load_memory(rss, cost.peak_extra)
    sync_s = sync_peak = sync_buffer = None
    if replicas:
        fork_s = fork_stall_seconds(rss, platform.fork.base_ms, platform.fork.ms_per_gib)
        save = platform.save
        lzf_rate = (
            save.lzf_random_bytes_per_sec if s.dataset.value_pattern == "random" else save.lzf_repetitive_bytes_per_sec
        )
        save_s = save_seconds(
            keys,
            rdb,
            lzf_scanned_bytes(keys, p.value_size, s.backup.compression),
            save.us_per_key,
            save.write_bytes_per_sec,
            lzf_rate,
        )
        transfer_s = phys.transfer_seconds(rdb, replicas, cost.network_bytes_per_sec)
        writes = phys.sync_cow_writes(writes_per_sec * share, fork_s, save_s, transfer_s)
        layout = layout_mod.key_layout(p.key_size, p.value_size, keys, allocator)
        cow = cow_model(
            layout,
            keys,
            popularity(s.workload.key_distribution, keys),
            base_bytes=int(platform.cow.child_base + platform.cow.parent_base),
        )
        cow_peak = max(float(cow.cow_bytes(writes * x, x)) for x in (0.0, 0.25, 0.5, 0.75, 1.0))
        sync_s = phys.full_sync_seconds(fork_s, save_s, transfer_s, load_s)
        sync_peak = rss + cow_peak + page_table_bytes(rss)
        sync_buffer = writes_per_sec * share * sync_s * command_bytes(p.key_size, p.value_size)
    return RestoreShard(
        keys=keys,
        used_memory_bytes=used,
        rss_bytes=rss,
        rdb_bytes=rdb,
        load_s=load_s,
        peak_memory_bytes=peak,
        fits=phys.fits(used, budget.maxmemory) and peak <= budget.node_memory,
        replica_sync_s=sync_s,
        sync_peak_memory_bytes=sync_peak,
        sync_buffer_bytes=sync_buffer,
        slots=slots,
    )


def restore_fields(p: Prepared) -> RestoreSummary:
    """The ``restore_*`` summary fields of a prepared scenario with a ``restore:`` block."""
    s, r = p.scenario, p.scenario.restore
    if r is None:
        raise ValueError("restore_fields needs a scenario with a restore: block")
    budget = target_budget(r)
    engine = r.engine or s.engine
    cost, own = restore_costs(p.platform)
    messages = []
    if not own:
        messages.append(f"platform {p.platform.name} has no restore costs: the lab's are used")
    rdb_version = rdb_version_written(s.engine.name, s.engine.version_tuple)
    blocked = _blocked(s, r, engine, rdb_version)
    weights = shard_weights(Cluster(shards=r.shards, skew=r.skew))
    writes = s.workload.writes_per_sec if r.writes_per_sec is None else r.writes_per_sec
    shards = [
        shard_restore(p, float(w), budget, cost, engine.allocator, r.replicas, writes, n)
        for w, n in zip(weights, phys.slots_per_shard(r.shards), strict=True)
    ]
    worst = max(shards, key=lambda x: (x.used_memory_bytes, x.load_s))
    syncs = [x.replica_sync_s for x in shards if x.replica_sync_s is not None]
    sync_peak = max((x.sync_peak_memory_bytes for x in shards if x.sync_peak_memory_bytes is not None), default=None)
    buffered = max((x.sync_buffer_bytes for x in shards if x.sync_buffer_bytes is not None), default=None)
    catalog_limit = get_node_type(r.node_type).replica_output_buffer_limit_bytes if r.node_type else None
    cob_limit = output_buffer_limit(catalog_limit, budget.node_memory)
    if blocked:
        outcome, messages = blocked[0], messages + [blocked[1]]
    elif worst.peak_memory_bytes > budget.node_memory:
        outcome = "oom"
        messages.append(
            f"loading needs {format_bytes(worst.peak_memory_bytes)} but the node has "
            f"{format_bytes(budget.node_memory)}: the kernel kills the server while it loads"
        )
    elif worst.used_memory_bytes > budget.maxmemory:
        outcome = "over-maxmemory"
        messages.append(
            f"the data ({format_bytes(worst.used_memory_bytes)} used_memory per node) exceeds "
            f"maxmemory {format_bytes(budget.maxmemory)} (node memory minus reserved): choose a larger "
            f"node type{', more shards' if r.shards > 1 or r.node_type else ''} or a smaller reserve"
        )
    elif buffered is not None and buffered > cob_limit:
        outcome = "sync-fails"
        messages.append(
            f"the writes a replica must replay after its sync ({format_bytes(buffered)} at {writes:,.0f} "
            f"writes/s) overflow the replica output buffer ({format_bytes(cob_limit)}): the sync is "
            "dropped and starts over, again and again"
        )
    elif sync_peak is not None and sync_peak > budget.node_memory:
        outcome = "sync-oom"
        messages.append(
            f"a replica's full sync takes the new primary to {format_bytes(sync_peak)} "
            f"(copy-on-write under {writes:,.0f} writes/s) above its {format_bytes(budget.node_memory)}"
        )
    else:
        outcome = "ok"
    load_s = max(x.load_s for x in shards)
    sync_s = max(syncs) if syncs else None
    return RestoreSummary(
        restore_outcome=outcome,
        restore_fits=outcome in ("ok", "sync-oom", "sync-fails"),
        restore_load_s=load_s,
        restore_peak_memory_bytes=worst.peak_memory_bytes,
        replica_sync_s=sync_s,
        restore_ready_s=load_s + (sync_s or 0.0),
        restore_used_memory_bytes=worst.used_memory_bytes,
        restore_maxmemory_bytes=budget.maxmemory,
        restore_node_memory_bytes=budget.node_memory,
        restore_node_type=r.node_type,
        restore_engine=f"{engine.name} {engine.version}",
        restore_rdb_version=rdb_version,
        restore_shards=tuple(shards),
        restore_sync_peak_memory_bytes=sync_peak,
        restore_sync_buffer_bytes=buffered,
        restore_output_buffer_limit_bytes=cob_limit,
        restore_costs_calibrated=own and p.platform.calibration is not None,
        restore_messages=tuple(messages),
    )


def _blocked(s: Scenario, r: Restore, engine: Engine, rdb_version: int) -> tuple[str, str] | None:
    """(outcome, why) when the target cannot take the backup at all, else None."""
    if r.node_type is not None:
        target = get_node_type(r.node_type)
        if not target.backup_supported:
            return (
                "unsupported-node",
                f"ElastiCache does not restore backups onto {r.node_type} (backup and restore unsupported)",
            )
        if s.node.type and get_node_type(s.node.type).data_tiering and not target.data_tiering:
            return "unsupported-node", (
                f"a backup of data-tiered {s.node.type} restores only onto data-tiered "
                f"(r6gd) node types, not {r.node_type}"
            )
    why = load_refusal(rdb_version, engine.name, engine.version_tuple)
    if why:
        return "unreadable-rdb", f"{why}; the backup was written by {s.engine.name} {s.engine.version}"
    return None


def restore_rows(r: RestoreSummary | None) -> list[tuple[str, str]]:
    """Rows of the run table for the restore figures (empty without a restore block)."""
    if r is None:
        return []
    b, d = format_bytes, format_duration
    target = r.restore_node_type or f"{b(r.restore_node_memory_bytes)} node"
    shards = len(r.restore_shards)
    rows = [
        (
            "restore",
            f"{r.restore_outcome.upper()} onto {target} ({r.restore_engine}, RDB format "
            f"{r.restore_rdb_version}{f', {shards} shards' if shards > 1 else ''})",
        ),
        (
            "restore load",
            f"{d(r.restore_load_s)} unavailable while loading; peak {b(r.restore_peak_memory_bytes)}, "
            f"data {b(r.restore_used_memory_bytes)} of maxmemory {b(r.restore_maxmemory_bytes)}",
        ),
    ]
    if r.replica_sync_s is not None and r.restore_sync_peak_memory_bytes is not None:
        rows.append(
            (
                "replica sync",
                f"{d(r.replica_sync_s)} (new primary peaks at "
                f"{b(r.restore_sync_peak_memory_bytes)}); all in sync after {d(r.restore_ready_s)}",
            )
        )
    if not r.restore_costs_calibrated:
        rows.append(("restore costs", "not checked by harness runs on this platform"))
    rows += [("restore note", m) for m in r.restore_messages]
    return rows


def smallest_target(p: Prepared, node_types: list[str]) -> tuple[str, RestoreSummary] | None:
    """The node type with the least memory among ``node_types`` that the backup restores onto (outcome ok),
    with its restore fields; None when none does. Uses the ``restore:`` block's reserve, else 25 %."""
    r = p.scenario.restore
    if r is None:
        return None
    for name in sorted(node_types, key=lambda n: get_node_type(n).maxmemory_bytes):
        target = r.model_copy(update={"node_type": name, "memory": None})
        fields = restore_fields(replace(p, scenario=p.scenario.model_copy(update={"restore": target})))
        if fields.restore_outcome == "ok":
            return name, fields
    return None
