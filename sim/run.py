"""Run a scenario end to end: cluster shards, the backup simulation and the managed-service rules."""

from __future__ import annotations

from pathlib import Path

from . import managed
from .costs import backup_storage_usd_per_month
from .cluster import combine, shard_scenarios
from .engine import simulate
from .prepare import prepare
from .restore import restore_fields
from .result import Result
from .scenario import Scenario


def _simulate_shards(shards: list[Scenario], source_dir: Path | None) -> list[Result]:
    """Simulate each distinct shard once: 500 equal shards of a uniform cluster cost one run, not 500."""
    done: dict[str, Result] = {}
    results = []
    for shard in shards:
        key = shard.model_copy(update={"name": ""}).model_dump_json()
        if key not in done:
            done[key] = simulate(shard, prepare(shard, source_dir=source_dir))
        same = done[key]
        results.append(Result(summary={**same.summary, "scenario": shard.name}, timeline=same.timeline,
                              events=same.events))
    return results


def run(scenario: Scenario, source_dir: Path | None = None) -> Result:
    """Simulate ``scenario`` (every shard of a cluster) and add the managed-backup warnings."""
    source, notes = managed.final_backup_source(scenario.backup.kind, scenario.backup.source)
    if source != scenario.backup.source:
        scenario = scenario.model_copy(update={"backup": scenario.backup.model_copy(update={"source": source})})
    if scenario.cluster is not None and scenario.cluster.shards > 1:
        shards = _simulate_shards(shard_scenarios(scenario), source_dir)
        result = combine(scenario, shards)
    else:
        result = simulate(scenario, prepare(scenario, source_dir=source_dir))
    result.summary["warnings"] = notes + result.summary["warnings"] + managed.run_warnings(
        scenario.backup.kind, result.summary["backup_duration_s"]
    )
    result.summary["operations_blocked_s"] = managed.operations_blocked_s(result.summary["backup_duration_s"])
    backup = scenario.backup
    kept = backup.retention_days * (backup.per_day if backup.kind == "manual" else 1)
    result.summary["backups_kept"] = kept
    result.summary["backup_storage_usd_month"] = backup_storage_usd_per_month(result.summary["rdb_bytes"], kept)
    if scenario.restore is not None:
        result.summary.update(restore_fields(prepare(scenario, source_dir=source_dir)))
    return result
