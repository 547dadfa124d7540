"""The batch path (:mod:`sim.batch.lockstep`, used by sweeps and the planner) agrees with the SimPy engine."""

import math
from dataclasses import replace

import pytest
from helpers import BASE, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.batch import lockstep
from sim.batch.runner import Job, run_job, summaries
from sim.engine import simulate
from sim.physics.eviction import Churn
from sim.prepare import prepare
from sim.run import finish, managed_source
from sim.scenario import merge, validate_scenario
from sim.summary import as_dict

rates = st.floats(0, 150_000)
distributions = st.one_of(
    st.just("uniform"),
    st.builds(lambda s: {"zipf": s}, st.floats(0.6, 1.3)),
    st.builds(lambda k, w: {"hot_set": {"keys": k, "writes": w}}, st.floats(0.01, 0.5), st.floats(0.5, 0.99)),
)


MIX = {
    "string": ["SET", "APPEND", "NEW", "DEL", "EXPIRE"],
    "hash": ["HSET", "NEW", "DEL"],
    "set": ["SADD", "SREM"],
    "zset": ["ZADD", "NEW"],
    "list": ["LPUSH", "RPOP", "RPUSH"],
}


@st.composite
def typed_data(draw):
    """One to three key groups of any type (TTLs, locality, size spreads) and a write mix over them."""
    groups, mix = [], []
    for k in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(sorted(MIX)))
        group = {
            "name": f"g{k}",
            "type": kind,
            "keys": draw(st.integers(1_000, 400_000)),
            "locality": draw(st.sampled_from(["scattered", "clustered"])),
            "element_size": draw(
                st.sampled_from(
                    [
                        "40B",
                        "300B",
                        "2KB",
                        {"histogram": [{"size": "32B", "share": 0.5}, {"size": "100B", "share": 0.5}]},
                    ]
                )
            ),
        }
        if kind != "string":
            group["elements"] = draw(st.sampled_from([3, 50, 700, {"lognormal": {"median": 20, "sigma": 0.8}}]))
        if draw(st.booleans()):
            group["ttl"] = {"share": draw(st.floats(0.05, 1.0)), "mean": f"{draw(st.integers(1, 600))}s"}
        groups.append(group)
        for command in draw(st.lists(st.sampled_from(MIX[kind]), min_size=1, max_size=3, unique=True)):
            mix.append({"group": group["name"], "command": command, "share": draw(st.floats(0.1, 1.0))})
    total = sum(e["share"] for e in mix)
    for e in mix:
        e["share"] /= total
    fragmentation = draw(st.sampled_from([None, 1.0, 1.3]))
    dataset = {"groups": groups} | ({"fragmentation": fragmentation} if fragmentation else {})
    policy = draw(st.sampled_from(["noeviction", "allkeys-lru", "volatile-ttl"]))
    return {"dataset": dataset, "mix": mix, "policy": policy}


@st.composite
def fork_scenarios(draw):
    """Fork backups over the physics the batch path covers: paging, OOM (both victims), daily load."""
    data = {
        "name": f"h{draw(st.integers(0, 10**6))}",
        "node": {
            "memory": f"{draw(st.floats(0.4, 3.0)):.3f}GiB",
            "swap": f"{draw(st.sampled_from([0, 0.5, 2]))}GiB",
            "reserved_memory_percent": 25,
            "oom_score_adj": draw(st.booleans()),
        },
        "platform": draw(st.sampled_from(["lab", "nitro"])),
        "dataset": {"keys": draw(st.integers(10_000, 1_500_000)), "value_size": f"{draw(st.integers(50, 5000))}B"},
        "workload": {
            "key_distribution": draw(distributions),
            "new_keys_fraction": draw(st.sampled_from([0, 0.05, 0.3])),
        },
        "backup": {
            "method": "fork",
            "source": draw(st.sampled_from(["primary", "replica"])),
            "rdb_key_save_delay_us": draw(st.sampled_from([0, 0, 5, 50])),
        },
        "simulation": {"before": f"{draw(st.floats(0, 5)):.2f}s", "after": f"{draw(st.floats(0, 5)):.2f}s"},
    }
    if draw(st.integers(0, 2)) == 0:  # typed groups, their mix, TTLs, an eviction policy, a fragmentation
        typed = draw(typed_data())
        data["dataset"] = typed["dataset"]
        data["workload"] = {"key_distribution": data["workload"]["key_distribution"], "mix": typed["mix"]}
        data["engine"] = {"parameters": {"maxmemory-policy": typed["policy"]}}
    if draw(st.booleans()):
        data["workload"]["daily_profile"] = {
            "writes_per_sec": draw(st.lists(rates, min_size=24, max_size=24)),
            "reads_per_sec": draw(st.lists(rates, min_size=24, max_size=24)),
        }
        data["backup"]["start"] = f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}"
    else:
        data["workload"].update(writes_per_sec=draw(rates), reads_per_sec=draw(rates))
    return data


def batched(datas: list[dict]) -> list[dict]:
    """Summaries from the batch path itself (no fallback to the engine)."""
    runs = [managed_source(validate_scenario(d)) for d in datas]
    preps = [prepare(s) for s, _ in runs]
    assert all(lockstep.supported(p) is None for p in preps)
    done = lockstep.simulate_many(preps)
    return [as_dict(finish(s, r, notes).summary) for (s, notes), r in zip(runs, done, strict=True)]


def assert_agree(batch: dict, engine: dict):
    assert batch.keys() == engine.keys()
    for key, expected in engine.items():
        got = batch[key]
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(got), key
        elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
            tiny = 1.0 if key.endswith("_bytes") else 1e-9  # within a byte: bisected OOM instants leave ~1e-6 B
            assert got == pytest.approx(expected, rel=0.01, abs=tiny), key
        else:
            assert got == expected, key


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fork_scenarios(), min_size=1, max_size=6))
def test_batch_agrees_with_the_engine_within_one_percent(datas):
    for data, batch in zip(datas, batched(datas), strict=True):
        assert_agree(batch, run_job(Job(data)))


def test_the_examples_cover_paging_and_both_oom_victims():
    # the strategy above must reach the interesting outcomes: these hand-picked ones do
    base = {
        "node": {"memory": "1.3GiB"},
        "workload": {"writes_per_sec": "200k"},
        "backup": {"rdb_key_save_delay_us": 20},
    }
    cases = [
        base,
        {**base, "node": {"memory": "1.3GiB", "oom_score_adj": True}},
        {**base, "node": {"memory": "1.3GiB", "swap": "2GiB"}},
    ]
    datas = [merge(BASE, c) for c in cases]
    got = batched(datas)
    for one_by_one, together in zip(summaries([Job(d) for d in datas]), got, strict=True):  # few runs: the engine
        assert_agree(together, one_by_one)
    assert [(g["outcome"], g["oom_victim"]) for g in got] == [("oom", "parent"), ("oom", "child"), ("paging", None)]
    for data, batch in zip(datas, got, strict=True):
        assert_agree(batch, run_job(Job(data)))


def test_the_engine_keeps_what_the_batch_path_does_not_do():
    assert lockstep.supported(prepare(scenario())) is None
    forkless = prepare(scenario(backup={"method": "forkless"}, engine={"name": "valkey", "version": "9.2.0"}))
    old = prepare(scenario(engine={"version": "2.8.0"}))
    assert "forkless" in lockstep.supported(forkless)
    assert "2.8.22" in lockstep.supported(old)


@st.composite
def churning(draw):
    """Prepared fork backups whose data grows, shrinks, expires and hits maxmemory under each kind of policy."""
    p = prepare(validate_scenario(draw(fork_scenarios())))
    per_key = p.bytes_per_key
    policy = draw(st.sampled_from(["noeviction", "allkeys-lru", "volatile-ttl"]))
    churn = Churn(
        grow=draw(st.floats(0, 2)) * per_key,
        shrink=draw(st.floats(0, 0.5)) * per_key,
        expired_keys_per_s=(expired := draw(st.floats(0, 20_000))),
        expired_bytes_per_s=expired * per_key,
        maxmemory=p.used_memory * draw(st.floats(0.9, 1.3)),
        key_bytes=per_key,
        deny_share=draw(st.floats(0.0, 1.0)),
    )
    evictable = {"noeviction": 0.0, "allkeys-lru": math.inf, "volatile-ttl": draw(st.floats(0, 1e4))}[policy]
    return replace(p, churn=churn, evictable_keys=evictable, maxmemory_policy=policy)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(churning(), min_size=1, max_size=5))
def test_batch_agrees_with_the_engine_on_expiry_eviction_and_refused_writes(preps):
    for p, batch in zip(preps, lockstep.simulate_many(preps), strict=True):
        assert_agree(as_dict(batch.summary), as_dict(simulate(p.scenario, p, timeline=False).summary))
