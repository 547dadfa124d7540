"""Run a scenario end to end: cluster shards, the backup simulation and the managed-service rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .elasticache import managed
from .elasticache.cluster import combine, shard_scenarios
from .elasticache.costs import backup_storage_usd_per_month
from .engine import simulate
from .prepare import prepare
from .restore import restore_fields
from .result import Result
from .scenario import Scenario
from .summary import Managed

if TYPE_CHECKING:
    from .platform import Platform


def run(
    scenario: Scenario, source_dir: Path | None = None, timeline: bool = True, platform: Platform | None = None
) -> Result:
    """Simulate ``scenario`` (every shard of a cluster) and add the managed-backup warnings.

    ``timeline=False`` keeps only the summary (what sweeps and the planner need); ``platform``
    replaces the scenario's own platform profile (``rbsim validate --profile``).
    """
    scenario, notes = managed_source(scenario)
    if scenario.cluster is not None and scenario.cluster.shards > 1:
        result = combine(scenario, _shards(shard_scenarios(scenario), source_dir, timeline, platform))
    else:
        result = simulate(scenario, prepare(scenario, platform, source_dir), timeline)
    return finish(scenario, result, notes, source_dir, platform)


def managed_source(scenario: Scenario) -> tuple[Scenario, list[str]]:
    """The scenario with the backup source the managed service really uses, and the notes saying so."""
    source, notes = managed.final_backup_source(scenario.backup.kind, scenario.backup.source)
    if source != scenario.backup.source:
        scenario = scenario.model_copy(update={"backup": scenario.backup.model_copy(update={"source": source})})
    return scenario, notes


def finish(
    scenario: Scenario,
    result: Result,
    notes: list[str],
    source_dir: Path | None = None,
    platform: Platform | None = None,
) -> Result:
    """The simulated result with the run's summary: the managed-backup warnings and figures (blocked
    operations, storage cost) and, with a ``restore:`` block, the restore figures."""
    s, backup = result.summary, scenario.backup
    kept = backup.retention_days * (backup.per_day if backup.kind == "manual" else 1)
    summary = replace(
        s,
        warnings=(*notes, *s.warnings, *managed.run_warnings(backup.kind, s.backup_duration_s)),
        managed=Managed(
            operations_blocked_s=managed.operations_blocked_s(s.backup_duration_s),
            backups_kept=kept,
            backup_storage_usd_month=backup_storage_usd_per_month(s.rdb_bytes, kept),
        ),
        restore=restore_fields(prepare(scenario, platform, source_dir)) if scenario.restore is not None else None,
    )
    return result.with_summary(summary)


def _shards(
    shards: list[Scenario], source_dir: Path | None, timeline: bool, platform: Platform | None = None
) -> list[Result]:
    """Simulate each shard; shards alike but for their name (an even split) are simulated once.

    Without a timeline, many distinct shards (a skewed cluster) advance together (sim.batch.lockstep).
    """
    from .batch import lockstep

    distinct: dict[str, Scenario] = {}
    for shard in shards:
        distinct.setdefault(shard.model_copy(update={"name": ""}).model_dump_json(), shard)
    preps = {key: prepare(shard, platform, source_dir) for key, shard in distinct.items()}
    together = (
        not timeline
        and len(preps) >= lockstep.TOGETHER_MIN
        and all(lockstep.supported(p) is None for p in preps.values())
    )
    if together:
        done = dict(zip(preps, lockstep.simulate_many(list(preps.values())), strict=True))
    else:
        done = {key: simulate(distinct[key], p, timeline) for key, p in preps.items()}
    out = []
    for shard in shards:
        key = shard.model_copy(update={"name": ""}).model_dump_json()
        out.append(done[key].with_summary(replace(done[key].summary, scenario=shard.name)))
    return out
