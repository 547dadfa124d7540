"""Cluster mode: split a scenario over its shards, simulate each, and report the worst and the whole.

ElastiCache backs up a cluster-mode-enabled cluster as a whole: every shard saves at the same time
(docs/elasticache.md §3.4). Data and writes follow the cluster's skew over shards.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..keydist import Uniform, Zipf
from ..outcomes import OUTCOMES
from ..result import Result
from ..scenario import Cluster, Scenario, ShardWeights
from ..summary import ClusterTotals


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
    """The worst shard's result (summary and timeline) with the cluster's totals and every shard's summary."""

    def badness(r: Result) -> tuple[int, float]:
        return (OUTCOMES.index(r.summary.outcome), r.summary.peak_memory_bytes / r.summary.memory_limit_bytes)

    worst = max(shards, key=badness)
    each = tuple(r.summary for r in shards)
    durations = [s.backup_duration_s for s in each]
    done = [d for d in durations if d is not None]
    summary = replace(
        worst.summary,
        scenario=scenario.name,
        backup_completed=all(s.backup_completed for s in each),
        backup_duration_s=max(done) if len(done) == len(durations) else None,
        rdb_bytes=int(sum(s.rdb_bytes for s in each)),
        max_latency_ms=max(s.max_latency_ms for s in each),  # the longest wait on any shard
        overloaded=any(s.overloaded for s in each),
        worst_shard=worst.summary.scenario,
        cluster=ClusterTotals(
            shards=len(each),
            outcome=worst.summary.outcome,
            shards_failing=sum(s.outcome != "ok" for s in each),
            used_memory_bytes=int(sum(s.used_memory_bytes for s in each)),
            writes_per_sec=float(sum(s.writes_per_sec for s in each)),
        ),
        shards=each,
    )
    return worst.with_summary(summary)
