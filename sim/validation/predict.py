"""Predict a harness record with the simulator: the same scenario, the load the server really saw."""

from __future__ import annotations

from dataclasses import dataclass

from ..platform import Platform
from ..result import Result
from ..run import run
from ..scenario import Scenario, parse_scenario

PING_INTERVAL_S = 0.005
"""The harness's ping loop sends one PING about every 5 ms: ~200 reads/s besides the writes."""


@dataclass(frozen=True)
class Comparison:
    """A record, its prediction, and the measured and predicted value of each metric."""

    record: dict
    result: Result
    measured: dict
    predicted: dict

    @property
    def id(self) -> str:
        return self.record["id"]


def prediction_scenario(record: dict) -> Scenario:
    """The record's scenario with what the run measured about its inputs.

    The write rate is the one the server served before the backup (the load generator's offered
    load as the server took it); the key names' real length replaces the default key size; the
    simulation starts when the run's write load did, its steady phase before the BGSAVE (the timeline's
    first sample), so memory that grows or is refused before the fork does so in the model too.
    """
    load, fill = record["load"], record["fill"]
    writes = load.get("served_writes_per_sec_before") or load.get("target_writes_per_sec") or 0
    overrides: dict = {
        "workload": {"writes_per_sec": f"{float(writes):.3f}/s", "reads_per_sec": f"{1 / PING_INTERVAL_S:.0f}/s"},
        "simulation": {"before": f"{steady_seconds(record):.1f}s", "after": "1s"},
    }
    if not typed(record):  # typed groups carry their own key sizes
        overrides["dataset"] = {"key_size": f"{max(1, round(fill['key_name_bytes_mean']))}B"}
    return parse_scenario(record["scenario_yaml"], source=record["id"], overrides=overrides)


def steady_seconds(record: dict) -> float:
    """Seconds the run's write load ran before its BGSAVE: the timeline starts then (t < 0), at least 1 s."""
    timeline = record.get("timeline") or []
    return max(1.0, round(-min((row["t"] for row in timeline), default=0.0), 1))


def typed(record: dict) -> bool:
    """Whether the record's scenario describes its data as typed key groups."""
    return bool((record.get("scenario") or {}).get("dataset", {}).get("groups"))


def record_kind(record: dict) -> str:
    """The data type that takes most of a record's writes (``string``, ``hash``, ...), or ``mixed`` when
    none takes 70 %: the per-type split of the validation report."""
    scenario = parse_scenario(record["scenario_yaml"], source=record["id"])
    types = {g.name: g.type for g in scenario.key_groups()}
    shares: dict[str, float] = {}
    for entry in scenario.write_mix():
        shares[types[entry.group]] = shares.get(types[entry.group], 0.0) + entry.share
    kind, share = max(shares.items(), key=lambda kv: kv[1]) if shares else ("string", 1.0)
    return kind if share >= MIXED_BELOW else "mixed"


MIXED_BELOW = 0.7


def predict(record: dict, platform: Platform) -> Comparison:
    """Simulate the record's scenario on ``platform`` (the full pipeline, as ``rbsim run``) and pair each
    metric with its measurement."""
    result = run(prediction_scenario(record), platform=platform)
    m, r = record["measured"], result.summary
    measured = {
        "cow_bytes": m.get("rdb_last_cow_size"),
        "peak_container_bytes": m.get("peak_container_bytes"),
        "save_duration_s": m.get("save_duration_s"),
        "fork_s": (m["fork_usec"] / 1e6) if m.get("fork_usec") else None,
        "served_writes_per_sec": record["load"].get("served_writes_per_sec_during_save"),
        "ping_max_ms": m.get("ping_max_ms"),
        "outcome": _outcome(m.get("outcome"), m.get("oom_victim")),
    }
    served = result.timeline.loc[result.timeline["phase"] == "save", "served_writes_per_sec"]
    predicted = {
        "cow_bytes": r.cow_peak_bytes,
        "peak_container_bytes": r.peak_container_usage_bytes,
        "save_duration_s": r.save_duration_s,
        "fork_s": r.fork_stall_s,
        "served_writes_per_sec": float(served.mean()) if len(served) else None,
        "ping_max_ms": r.max_latency_ms,
        "outcome": _outcome(r.outcome, r.oom_victim),
    }
    return Comparison(record, result, measured, predicted)


def _outcome(outcome: str | None, victim: str | None) -> str | None:
    """Outcome with the OOM victim, e.g. ``oom:parent``."""
    return f"oom:{victim}" if outcome == "oom" else outcome
