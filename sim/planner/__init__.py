"""Capacity planner: the cheapest node type, reserved memory, backup source and window that keep a backup safe.

``plan(path)`` reads a scenario with a ``plan:`` block (see :mod:`sim.planner.spec`), searches the
choices (:mod:`.search`), estimates the risk under uncertain inputs (:mod:`.montecarlo`), measures the
margin of the recommendation (:mod:`.headroom`) and explains it (:mod:`.explain`); :mod:`.cli` is
the ``rbsim plan`` command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the planner's machinery loads on first use, so `rbsim --help` starts at once
    from ..batch.runner import Runner
    from ..scenario import Scenario
    from .headroom import Headroom
    from .search import Candidate, Planner, SearchResult
    from .spec import PlanSpec

__all__ = ["PlanResult", "plan"]


@dataclass
class PlanResult:
    """The search, the recommendation's margins and reasons; ``planner`` re-derives variants for reports."""

    source: str
    scenario: Scenario
    spec: PlanSpec
    planner: Planner
    found: SearchResult
    headroom: list[Headroom]
    reasons: list[str]

    @property
    def recommendation(self) -> Candidate | None:
        return self.found.accepted[0] if self.found.accepted else None

    def ranked(self) -> list[Candidate]:
        """Accepted candidates best first, then the others cheapest first."""
        rest = [c for c in self.found.candidates if c not in self.found.accepted]
        return self.found.accepted + sorted(rest, key=lambda c: (c.cost.total_usd, len(c.violations)))

    def verdict(self, candidate: Candidate) -> str:
        """The candidate's verdict in words; a forkless backup is marked as an unvalidated model."""
        from .explain import verdict

        text = verdict(candidate, self.spec.uncertainty is not None, self.spec.max_failure_probability)
        return text + (" (forkless backup: unvalidated model)" if candidate.summary.get("method") == "forkless" else "")

    def to_dict(self) -> dict:
        """The plan as plain values, for :func:`sim.summary.to_json` (``rbsim plan --json``, ``plan.json``)."""
        from .objectives import describe

        p = self.planner
        out = {
            "scenario": self.scenario.name,
            "source": self.source,
            "objectives": describe(self.spec.objectives),
            "nodes": p.nodes,
            "shards": p.shards,
            "replicas": self.spec.replicas,
            "retention_days": p.retention_days,
            "rdb_bytes": p.rdb_bytes,
            "restore": self.restore_summary(),
            "recommendation": self._candidate(self.recommendation) if self.recommendation else None,
            "reasons": self.reasons,
            "headroom": [vars(h) for h in self.headroom],
            "candidates": [self._candidate(c) for c in self.ranked()],
            "skipped": [vars(s) for s in self.found.skipped],
            "windows": [
                {
                    "window": r.window.label,
                    "writes_per_sec": r.window.writes,
                    "reads_per_sec": r.window.reads,
                    "meets_objectives": not r.violations,
                    "peak_memory_bytes": r.summary.get("peak_memory_bytes"),
                    "headroom_bytes": r.summary.get("headroom_bytes"),
                    "violations": [v.message for v in r.violations],
                }
                for r in self.found.windows
            ],
        }
        return out

    def restore_summary(self) -> dict | None:
        """With a ``restore:`` block: the smallest candidate node type the backup restores onto, and its figures."""
        if self.scenario.restore is None:
            return None
        from ..prepare import prepare
        from ..restore import smallest_target

        found = smallest_target(prepare(self.scenario, source_dir=Path(self.source).parent), self.spec.node_types)
        if found is None:
            return {"smallest_node_type": None}
        name, f = found
        return {
            "smallest_node_type": name,
            **{
                k: getattr(f, k)
                for k in (
                    "restore_load_s",
                    "replica_sync_s",
                    "restore_ready_s",
                    "restore_peak_memory_bytes",
                    "restore_used_memory_bytes",
                    "restore_maxmemory_bytes",
                    "restore_costs_calibrated",
                )
            },
        }

    def _candidate(self, c: Candidate) -> dict:
        s = c.summary
        return {
            "node_type": c.config.node_type,
            "reserved_memory_percent": c.config.reserved_percent,
            "source": c.config.source,
            "window": c.window.label,
            "window_writes_per_sec": c.window.writes,
            "window_reads_per_sec": c.window.reads,
            "nodes": c.cost.nodes,
            "node_usd_month": c.cost.node_usd,
            "backup_storage_usd_month": c.cost.backup_storage_usd,
            "total_usd_month": c.cost.total_usd,
            "meets_objectives_nominal": c.meets_nominal,
            "accepted": c in self.found.accepted,
            "failure_probability": c.mc.probability if c.mc else None,
            "monte_carlo_runs": c.mc.runs if c.mc else None,
            "verdict": self.verdict(c),
            "violations": [v.message for v in c.violations],
            **{
                k: s.get(k)
                for k in (
                    "outcome",
                    "peak_memory_bytes",
                    "memory_limit_bytes",
                    "swap_peak_bytes",
                    "max_latency_ms",
                    "p99_latency_ms",
                    "backup_duration_s",
                    "headroom_bytes",
                    "error",
                    "restore_outcome",
                    "restore_load_s",
                    "replica_sync_s",
                    "restore_ready_s",
                )
                if k in s
            },
        }


def plan(path: str | Path, runner: Runner | None = None) -> PlanResult:
    """Plan the scenario file's backups under its ``plan:`` block (serially unless given a runner)."""
    from ..batch.runner import Runner
    from .explain import reasons
    from .headroom import headroom
    from .search import Planner
    from .spec import load_plan

    scenario, spec, base = load_plan(path)
    planner = Planner(scenario, spec, base, str(path), runner or Runner())
    found = planner.search()
    margins, why = [], []
    if found.accepted:
        best = found.accepted[0]
        margins = headroom(base, scenario, best.config, best.window, planner.check)
        why = reasons(found, planner)
    return PlanResult(str(path), scenario, spec, planner, found, margins, why)
