"""Search node types × reserved-memory-percent × backup source × backup window for the cheapest safe choice.

Pruning keeps it fast:
* node types without a price, without backups, or Valkey-only under Redis are skipped with the reason;
  so is every (type, reserved %) whose maxmemory cannot hold the data;
* each configuration is simulated once, in its quietest window: more load never helps a backup, so a
  configuration failing there fails in every window, and one passing there is best there;
* node types are tried cheapest first, and once three of them hold a configuration that meets the
  objectives, dearer types are not evaluated;
* the Monte-Carlo runs only for configurations that pass at nominal inputs, best first, and stops at
  the first that passes (and early for one that can no longer pass).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..batch.runner import Job, Runner
from ..dayload import DayLoad
from ..elasticache.catalog import get_node_type
from ..elasticache.costs import MonthlyCost, monthly_cost
from ..prepare import day_load, prepare
from ..scenario import Scenario, validate_scenario
from ..units import format_bytes
from .montecarlo import Draw, MonteCarlo, draws, estimate
from .objectives import Violation, violations
from .spec import PlanSpec
from .variants import Config, Window, peak_rates, quietest, variant, windows

ENOUGH_NODE_TYPES = 3
"""Stop trying dearer node types once this many hold a configuration that meets the objectives."""
PREFETCH_RUNS = 24
"""Configurations simulated together while no node type has met the objectives yet."""
MC_CHECKS = 4
"""Early-stopping checks over a candidate's Monte-Carlo: runs go in quarters (100 runs: chunks of 25,
enough to advance together in sim.batch.lockstep), at least 10 at a time."""


@dataclass(frozen=True)
class Skipped:
    """A node type (or type at a reserved percent) left out before simulation, and why."""

    subject: str
    reason: str


@dataclass(eq=False)
class Candidate:
    """One configuration in its best (quietest) window: cost, simulated summary, objectives missed."""

    config: Config
    window: Window
    cost: MonthlyCost
    summary: dict
    violations: list[Violation]
    mc: MonteCarlo | None = None

    @property
    def meets_nominal(self) -> bool:
        return not self.violations

    @property
    def client_latency_ms(self) -> float:
        """What the primary's clients see: p99 where simulated, else the maximum."""
        p99 = self.summary.get("p99_latency_ms")
        return p99 if p99 is not None and not math.isnan(p99) else self.summary.get("max_latency_ms", math.inf)

    @property
    def reserve_covers_backup(self) -> bool:
        """The reservation holds this backup's extra memory, so data may grow to maxmemory safely."""
        s = self.summary
        return s.get("reserved_memory_bytes", 0) >= s.get("peak_memory_bytes", math.inf) - s.get("rss_bytes", 0)

    def tie_break(self) -> tuple:
        """Between equal costs: a reserve that covers the backup, lower client latency, less reserved, a replica."""
        return (
            not self.reserve_covers_backup,
            self.client_latency_ms,
            self.config.reserved_percent,
            self.config.source != "replica",
        )


@dataclass
class WindowRisk:
    """The recommended configuration backed up in one window."""

    window: Window
    summary: dict
    violations: list[Violation]


@dataclass
class SearchResult:
    """Everything the search found; ``accepted`` is ranked, best first."""

    candidates: list[Candidate]
    accepted: list[Candidate]
    skipped: list[Skipped]
    windows: list[WindowRisk] = field(default_factory=list)


class Planner:
    """Holds the scenario, the plan and the runner; evaluates variants once each (cached)."""

    def __init__(self, scenario: Scenario, spec: PlanSpec, base: dict, source: str, runner: Runner):
        self.scenario, self.spec, self.base, self.source, self.runner = scenario, spec, base, source, runner
        self.source_dir = str(Path(source).parent)
        prepared = prepare(scenario, source_dir=Path(self.source_dir))
        self.used_memory = prepared.used_memory
        self.rdb_bytes = prepared.rdb_bytes
        cluster = getattr(scenario, "cluster", None)
        self.shards = cluster.shards if cluster is not None else 1
        self.nodes = self.shards * (1 + spec.replicas)
        self.retention_days = spec.retention(scenario)
        self.span_s = spec.window_length + prepared.fork_stall_s + prepared.save_s
        self.load = day_load(scenario, Path(self.source_dir))
        self.windows = windows(self.load, spec.windows, self.span_s)
        self.quiet = quietest(self.windows)
        self.draws: list[Draw] = draws(spec.uncertainty, base) if spec.uncertainty else []
        self._cache: dict[str, dict] = {}
        self._loads: dict[str, DayLoad] = {}

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, datas: list[dict]) -> list[dict]:
        """Summaries of scenario mappings, simulating each distinct one once."""
        keys = [json.dumps(d, sort_keys=True, default=str) for d in datas]
        todo = {k: d for k, d in zip(keys, datas, strict=True) if k not in self._cache}
        jobs = [Job(d, source=self.source, source_dir=self.source_dir) for d in todo.values()]
        for key, summary in zip(todo, self.runner.map(jobs, desc="plan"), strict=True):
            self._cache[key] = summary
        return [self._cache[k] for k in keys]

    def check(self, datas: list[dict]) -> list[tuple[dict, list[Violation]]]:
        """(summary, objectives missed) of each mapping."""
        return [(s, violations(self.spec.objectives, s, self.spec.window_length)) for s in self.evaluate(datas)]

    def cost(self, node_type: str) -> MonthlyCost:
        """Monthly cost of the replication group on ``node_type``."""
        price = get_node_type(node_type).price
        return monthly_cost(price, self.nodes, self.rdb_bytes, self.retention_days)

    # -- search ----------------------------------------------------------------------------
    def search(self) -> SearchResult:
        """Evaluate the configurations node type by node type, cheapest first (see the module docstring)."""
        skipped, types = self._prune_types()
        result = SearchResult(candidates=[], accepted=[], skipped=skipped)
        good_types: list[float] = []
        for n, (node_type, reserved) in enumerate(types):
            price = get_node_type(node_type).price
            if len(good_types) >= ENOUGH_NODE_TYPES and price > good_types[-1]:
                skipped.append(
                    Skipped(
                        node_type,
                        f"not evaluated: dearer than {ENOUGH_NODE_TYPES} node types that already meet the objectives",
                    )
                )
                continue
            if not good_types:
                self._prefetch(types[n:])
            configs = [Config(node_type, r, s) for r in reserved for s in self.spec.source_choices]
            checked = self.check([variant(self.base, c, self.quiet) for c in configs])
            found = [
                Candidate(c, self.quiet, self.cost(node_type), s, v) for c, (s, v) in zip(configs, checked, strict=True)
            ]
            result.candidates += found
            best = self._accept([c for c in found if c.meets_nominal])
            if best is not None:
                result.accepted.append(best)
                good_types.append(price)
        result.accepted.sort(key=self.rank)
        if result.accepted:
            result.windows = self.window_risks(result.accepted[0].config)
        return result

    def _prefetch(self, types: list[tuple[str, list[float]]]) -> None:
        """Simulate the configurations of the next node types in one batch (cached for the loop).

        Until one type meets the objectives, the next ones will be needed: one batch of them
        advances together (sim.batch.lockstep) instead of a few runs per node type on the engine.
        """
        datas = []
        for node_type, reserved in types:
            datas += [
                variant(self.base, Config(node_type, r, s), self.quiet)
                for r in reserved
                for s in self.spec.source_choices
            ]
            if len(datas) >= PREFETCH_RUNS:
                break
        self.evaluate(datas)

    def rank(self, candidate: Candidate) -> tuple:
        """Sort key of accepted candidates: cost, then risk, then the tie-breaks."""
        p = candidate.mc.probability if candidate.mc else 0.0
        return (round(candidate.cost.total_usd, 2), p) + candidate.tie_break()

    def _accept(self, passing: list[Candidate]) -> Candidate | None:
        """The best passing configuration of one node type that also passes the Monte-Carlo."""
        for candidate in sorted(passing, key=Candidate.tie_break):
            if not self.draws:
                return candidate
            candidate.mc = estimate(
                functools.partial(self._mc_runs, candidate),
                self.draws,
                self.spec.max_failure_probability,
                chunk=max(10, 4 * self.runner.parallelism, len(self.draws) // MC_CHECKS),
            )
            if not candidate.mc.stopped_early and candidate.mc.probability <= self.spec.max_failure_probability:
                return candidate
        return None

    def _mc_runs(self, candidate: Candidate, runs: list[Draw]) -> list[list[Violation]]:
        datas = []
        for draw in runs:
            data = draw.apply(self.base)
            writes, reads = peak_rates(self._load_of(data), candidate.window.start_s, self.span_s)
            window = Window(candidate.window.start_s, writes * draw.load_factor, reads * draw.load_factor)
            datas.append(variant(data, candidate.config, window))
        return [v for _, v in self.check(datas)]

    def _load_of(self, data: dict) -> DayLoad:
        key = json.dumps(data.get("workload"), sort_keys=True, default=str)
        if key not in self._loads:
            self._loads[key] = day_load(validate_scenario(data, source=self.source), Path(self.source_dir))
        return self._loads[key]

    def window_risks(self, config: Config) -> list[WindowRisk]:
        """The configuration in every candidate window (the risk over the day)."""
        checked = self.check([variant(self.base, config, w) for w in self.windows])
        return [WindowRisk(w, s, v) for w, (s, v) in zip(self.windows, checked, strict=True)]

    def _prune_types(self) -> tuple[list[Skipped], list[tuple[str, list[float]]]]:
        """Skip what cannot be costed or cannot hold the data; the rest cheapest first, with their reserved %."""
        skipped, kept = [], []
        per_node = self.used_memory / self.shards
        for name in self.spec.node_types:
            node = get_node_type(name)
            if node.price_usd_per_hour is None:
                skipped.append(Skipped(name, "no on-demand price in the catalog, so it cannot be costed"))
            elif not node.backup_supported:
                skipped.append(Skipped(name, "ElastiCache takes no backups on this node type"))
            elif node.valkey_only and self.scenario.engine.name != "valkey":
                skipped.append(
                    Skipped(name, f"Valkey-only node type; the scenario's engine is {self.scenario.engine.name}")
                )
            else:
                fits = [
                    r
                    for r in self.spec.reserved_memory_percent
                    if per_node <= node.maxmemory_bytes - round(node.maxmemory_bytes * r / 100)
                ]
                if not fits:
                    low = min(self.spec.reserved_memory_percent)
                    limit = node.maxmemory_bytes - round(node.maxmemory_bytes * low / 100)
                    skipped.append(
                        Skipped(
                            name,
                            f"maxmemory {format_bytes(limit)} (at {low:g} % reserved) cannot hold "
                            f"used_memory {format_bytes(per_node)}",
                        )
                    )
                    continue
                for r in self.spec.reserved_memory_percent:
                    if r not in fits:
                        skipped.append(
                            Skipped(
                                f"{name} at {r:g} % reserved",
                                f"maxmemory {format_bytes(node.maxmemory_bytes * (1 - r / 100))} "
                                f"cannot hold used_memory {format_bytes(per_node)}",
                            )
                        )
                kept.append((name, fits))
        kept.sort(key=lambda item: get_node_type(item[0]).price)
        return skipped, kept
