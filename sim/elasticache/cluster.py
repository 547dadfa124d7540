"""Cluster mode: split a scenario over its shards, simulate each, and report the worst and the whole.

ElastiCache backs up a cluster-mode-enabled cluster as a whole: every shard saves at the same time
(docs/elasticache.md §3.4). Data and writes follow the cluster's skew over shards.
"""

from __future__ import annotations

import numpy as np

from ..keydist import Uniform, Zipf
from ..outcomes import OUTCOMES
from ..result import Result
from ..scenario import Cluster, Scenario, ShardWeights


def shard_weights(cluster: Cluster) -> np.ndarray:
    """Share of the data and of the writes on each shard."""
    skew = cluster.skew
    if isinstance(skew, Uniform):
        w = np.ones(cluster.shards)
    elif isinstance(skew, Zipf):
        w = np.arange(1, cluster.shards + 1, dtype=float) ** -skew.zipf
    elif isinstance(skew, ShardWeights):
        w = np.asarray(skew.weights, float)
    else:
        raise TypeError(f"unknown shard skew {skew!r}")
    return w / w.sum()


def shard_scenarios(scenario: Scenario) -> list[Scenario]:
    """One single-node scenario per shard, with that shard's share of data and load."""
    if scenario.cluster is None:  # a single node is its own one shard
        return [scenario]
    out = []
    for i, share in enumerate(shard_weights(scenario.cluster)):
        data = scenario.dataset
        dataset = data.model_copy(
            update={
                "keys": max(1, round(data.keys * share)) if data.keys is not None else None,
                "used_memory": int(data.used_memory * share) if data.used_memory is not None else None,
            }
        )
        workload = scenario.workload
        profile = workload.daily_profile
        if profile is not None and profile.writes_per_sec is not None:
            profile = profile.model_copy(
                update={
                    "writes_per_sec": [r * share for r in profile.writes_per_sec],
                    "reads_per_sec": [r * share for r in profile.reads_per_sec] if profile.reads_per_sec else None,
                }
            )
        workload = workload.model_copy(
            update={
                "writes_per_sec": workload.writes_per_sec * share,
                "reads_per_sec": workload.reads_per_sec * share,
                "daily_profile": profile,
            }
        )
        out.append(
            scenario.model_copy(
                update={
                    "name": f"{scenario.name}/shard-{i + 1}",
                    "dataset": dataset,
                    "workload": workload,
                    "cluster": None,
                }
            )
        )
    return out


def combine(scenario: Scenario, shards: list[Result]) -> Result:
    """The worst shard's summary and timeline, with cluster totals and every shard's summary."""

    def badness(r: Result) -> tuple:
        return (OUTCOMES.index(r["outcome"]), r["peak_memory_bytes"] / r["memory_limit_bytes"])

    worst = max(shards, key=badness)
    durations = [r["backup_duration_s"] for r in shards]
    summary = dict(worst.summary)
    summary.update(
        {
            "scenario": scenario.name,
            "worst_shard": worst["scenario"],
            "backup_completed": all(r["backup_completed"] for r in shards),
            "backup_duration_s": None if None in durations else max(durations),
            "rdb_bytes": int(sum(r["rdb_bytes"] for r in shards)),
            "max_latency_ms": max(r["max_latency_ms"] for r in shards),  # the longest wait on any shard
            "overloaded": any(r["overloaded"] for r in shards),
            "cluster": {
                "shards": len(shards),
                "outcome": worst["outcome"],
                "shards_failing": sum(r["outcome"] != "ok" for r in shards),
                "used_memory_bytes": int(sum(r["used_memory_bytes"] for r in shards)),
                "writes_per_sec": float(sum(r["writes_per_sec"] for r in shards)),
            },
            "shards": [r.summary for r in shards],
        }
    )
    return worst.with_summary(summary)
