"""Resolve a scenario and its platform profile into the numbers the engine runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .dayload import DayLoad, read_day_csv
from .elasticache.catalog import get_node_type
from .elasticache.flavor import ELASTICACHE
from .elasticache.generations import platform_warning
from .keymodel import key_model
from .physics.budget import MemoryBudget, memory_budget
from .physics.changelog import output_buffer_limit
from .physics.cow import CowModel
from .physics.eviction import Churn
from .physics.fork import fork_stall_seconds, page_table_bytes
from .physics.save import effective_key_delay_us, save_seconds
from .physics.throughput import ceiling_per_sec, io_thread_speedup
from .platform import Platform, load_platform
from .scenario import Node, Scenario, resolve_path
from .units import format_bytes

HUGE_PAGE = 2 * 1024 * 1024
SMALL_PAGE = 4096


@dataclass(frozen=True)
class Prepared:
    """Everything derived from the inputs before time starts."""

    scenario: Scenario
    platform: Platform
    budget: MemoryBudget
    keys: int
    key_size: int
    value_size: int
    used_memory: int
    rss: int
    page_size: int
    cow: CowModel
    bytes_per_key: float  # mean used_memory of a key
    churn: Churn  # growth, frees, expiry and the maxmemory limit per write command / second
    evictable_keys: float  # keys the maxmemory-policy may evict (0 for noeviction)
    maxmemory_policy: str
    slot_sizes: tuple[int, ...]  # slot sizes of the keys' allocations (where writes into freed slots land)
    slot_byte_shares: tuple[float, ...]  # each size's share of the keys' bytes
    used_memory_by_group: tuple[tuple[str, int], ...]
    fork_stall_s: float
    page_tables: float
    save_s: float
    rdb_bytes: int
    writes_per_sec: float  # at the fork
    reads_per_sec: float  # at the fork, on the node that forks
    load: DayLoad
    fork_time_of_day: float  # seconds after midnight
    service_s: float
    method: str
    pages_per_key: float  # pages a request or the save touches for one key
    cow_fault_s: float  # main-thread time to copy one page on write
    cores: float  # CPUs the server, its save child and any local clients share
    old_engine: bool  # before 2.8.22: the change log is buffered during a backup
    output_buffer_limit: int
    forkless_buffer_bytes: int
    warnings: tuple[str, ...] = field(default=())
    throughput_ceiling: float = float("inf")  # requests/s one node serves (main thread with I/O threads)
    ceiling_source: str = ""
    unvalidated: tuple[str, ...] = field(default=())  # figures of this run no real run has checked

    @property
    def data_pages(self) -> float:
        """Pages the data holds (where freed slots, and the writes that reuse them, fall)."""
        return self.used_memory / self.page_size

    def rates(self, sim_time: float) -> tuple[float, float]:
        """(writes/s, reads/s) arriving at the forking node at simulation time ``sim_time``."""
        writes, reads = self.load.at(self.fork_time_of_day - self.scenario.simulation.before + sim_time)
        return writes, reads if self.scenario.backup.source == "primary" else 0.0


def prepare(scenario: Scenario, platform: Platform | None = None, source_dir: Path | None = None) -> Prepared:
    """Derive dataset size, budget, fork stall, save time and the copy-on-write model."""
    platform = platform or load_platform(scenario.platform, relative_to=source_dir)
    warnings: list[str] = []
    engine, node = scenario.engine, scenario.node
    page_size = HUGE_PAGE if node.transparent_huge_pages else SMALL_PAGE
    budget = node_budget(node)
    model = key_model(
        scenario,
        budget.maxmemory,
        page_size,
        dismiss_large_values=engine.dismisses_child_memory and page_size == SMALL_PAGE,
        base_bytes=int(platform.cow.child_base + platform.cow.parent_base),
    )
    keys, used = model.keys, model.used_memory
    fragmentation = scenario.dataset.fragmentation or platform.memory.fragmentation
    rss = int(platform.memory.rss_base + used * fragmentation)

    if used > budget.maxmemory:
        warnings.append(
            f"used_memory ({used:,} B) exceeds maxmemory ({budget.maxmemory:,} B = node memory minus reserved): "
            "Redis would evict keys or refuse writes before this backup"
        )
    if model.rotated_queue_bytes:
        warnings.append(
            "lists are modelled as built by RPUSH (head nodes full, so LPUSH makes new nodes); in a queue that "
            f"has rotated for a while LPUSH also copies each head node once: up to "
            f"{format_bytes(model.rotated_queue_bytes)} more copy-on-write"
        )
    old_generation = platform_warning(node.type, platform.name)
    if old_generation:
        warnings.append(old_generation)
    if node.type and not get_node_type(node.type).backup_supported:
        warnings.append(f"ElastiCache does not support backups on {node.type} (docs/elasticache.md §3.4)")

    cost = platform.save
    delay = effective_key_delay_us(scenario.backup.rdb_key_save_delay_us, cost.delay_overhead_us)
    rdb, lzf = model.rdb_bytes, model.lzf_bytes
    lzf_rate = cost.lzf_repetitive_bytes_per_sec if model.repetitive else cost.lzf_random_bytes_per_sec
    save_s = save_seconds(keys, rdb, lzf, cost.us_per_key, cost.write_bytes_per_sec, lzf_rate, delay)
    method = _method(scenario, platform, budget, rss, warnings)
    load = day_load(scenario, source_dir)
    start = scenario.backup.start or 0.0
    writes, reads = load.at(start)
    cores = float(_cores(node, platform))
    io = io_thread_speedup(
        scenario.build == ELASTICACHE and node.type is not None, engine.name, engine.version_tuple, cores
    )
    service_s = platform.latency.service_us / 1e6 / io.speedup
    return Prepared(
        scenario=scenario,
        platform=platform,
        budget=budget,
        keys=keys,
        key_size=round(model.key_size),
        value_size=model.value_size,
        used_memory=used,
        rss=rss,
        page_size=page_size,
        cow=model.cow,
        bytes_per_key=model.bytes_per_key,
        churn=model.churn,
        evictable_keys=model.evictable_keys,
        maxmemory_policy=model.maxmemory_policy,
        slot_sizes=model.slot_sizes,
        slot_byte_shares=model.slot_byte_shares,
        used_memory_by_group=model.used_by_group,
        fork_stall_s=fork_stall_seconds(
            rss, platform.fork.base_ms, platform.fork.ms_per_gib, node.transparent_huge_pages
        ),
        page_tables=page_table_bytes(rss, page_size),
        save_s=save_s,
        rdb_bytes=rdb,
        writes_per_sec=writes,
        reads_per_sec=reads if scenario.backup.source == "primary" else 0.0,
        load=load,
        fork_time_of_day=start,
        service_s=service_s,
        method=method,
        cores=cores,
        cow_fault_s=(platform.fork.huge_cow_fault_us if node.transparent_huge_pages else platform.fork.cow_fault_us)
        / 1e6,
        pages_per_key=model.pages_per_key,
        old_engine=not engine.can_fork_less,
        output_buffer_limit=output_buffer_limit(
            get_node_type(node.type).replica_output_buffer_limit_bytes if node.type else None, budget.node_memory
        ),
        forkless_buffer_bytes=int(platform.forkless.clone_pool),
        warnings=tuple(warnings),
        throughput_ceiling=ceiling_per_sec(service_s, platform.cpu.client_us_per_request / 1e6, cores),
        ceiling_source=(
            f"{platform.latency.service_us:g} us per request on the main thread ({platform.name}), {io.source}"
        )
        + (
            f", local clients {platform.cpu.client_us_per_request:g} us each on {cores:g} cores"
            if platform.cpu.client_us_per_request
            else ""
        ),
        unvalidated=_unvalidated(scenario, platform, method, model.churn),
    )


def node_budget(node: Node) -> MemoryBudget:
    """The memory budget of a scenario's node: its catalog type's maxmemory, or its explicit memory."""
    if node.type:
        memory = get_node_type(node.type).maxmemory_bytes
    elif node.memory is not None:
        memory = int(node.memory)
    else:  # the Node model requires one of them
        raise ValueError("node: give node.type or node.memory")
    return memory_budget(memory, node.reserved_percent, node.reserved_memory, node.swap)


TYPED_LAYOUTS_RUN = ("redis", (7, 0))
"""The engine whose typed layouts real runs checked (reports/validation/typed-records: redis 7.0.15)."""


def _unvalidated(scenario: Scenario, platform: Platform, method: str, churn: Churn) -> tuple[str, ...]:
    """The parts of this run's figures that no harness run has checked (README "What is checked")."""
    out = []
    engine = scenario.engine
    if scenario.dataset.groups is not None and (engine.name, engine.version_tuple[:2]) != TYPED_LAYOUTS_RUN:
        out.append(
            f"typed key groups on {engine.name} {engine.version}: its layouts are read from the sources; "
            "harness runs checked redis 7.0 only"
        )
    if churn.active:
        out.append(
            "memory churn (TTL expiry, eviction or refused writes at maxmemory, writes into freed slots "
            "under a fork): checked by 4 harness runs only, copy-on-write within 2-22 %"
        )
    if method == "forkless":
        out.append("forkless backup: no forkless server was run; the model follows Valkey's published design")
    if platform.calibration is None:
        out.append(f"platform {platform.name}: published figures, not checked by harness runs")
    if not scenario.engine.can_fork_less:
        out.append("engine before 2.8.22 (change log, output-buffer overflow): from AWS docs only")
    return tuple(out)


def _cores(node, platform: Platform) -> float:
    """The node type's vCPUs, else the platform's core count."""
    vcpu = get_node_type(node.type).vcpu if node.type else None
    return vcpu or platform.cpu.cores


def day_load(scenario: Scenario, source_dir: Path | None = None) -> DayLoad:
    """The workload's rates over the day (constant unless a daily profile is given)."""
    workload = scenario.workload
    profile = workload.daily_profile
    if profile is None:
        return DayLoad.constant(workload.writes_per_sec, workload.reads_per_sec)
    if profile.writes_per_sec is not None:
        return DayLoad.hourly(profile.writes_per_sec, profile.reads_per_sec)
    if profile.csv is None:  # the DailyProfile model requires one of them
        raise ValueError("workload.daily_profile: give writes_per_sec or csv")
    return read_day_csv(resolve_path(profile.csv, source_dir))


def _method(scenario: Scenario, platform: Platform, budget: MemoryBudget, rss: int, warnings: list[str]) -> str:
    """The backup method that runs: ``fork`` unless the build has a forkless save and ``auto`` picks it.

    ElastiCache forks "if there is sufficient available memory" and otherwise saves forkless
    (docs/elasticache.md §3.1); the test is not published, so rbsim uses ``backup.forkless_threshold``
    (default: the platform's ``forkless.auto_threshold``): forkless when free memory is below that
    share of node memory. Open-source Redis, Valkey before 9.2 and engines before 2.8.22 always fork.
    """
    requested = scenario.backup.method
    if requested == "fork":
        return "fork"
    if requested == "forkless":
        return "forkless"
    if not scenario.has_forkless:
        return "fork"
    free = budget.node_memory - rss
    threshold = scenario.backup.forkless_threshold
    threshold = platform.forkless.auto_threshold if threshold is None else threshold
    if free < threshold * budget.node_memory:
        warnings.append(
            f"method auto: free memory {free / budget.node_memory:.1%} of the node is below the "
            f"{threshold:.1%} forkless threshold, so the backup runs forkless (rbsim's assumed rule, "
            "backup.forkless_threshold; AWS does not publish it; the forkless model is unvalidated)"
        )
        return "forkless"
    return "fork"
