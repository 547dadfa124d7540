"""The engine: phases, closed forms for stall/save/COW, outcomes, OOM victims and replicas."""

import numpy as np
import pytest
from helpers import scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine import simulate
from sim.outcomes import OUTCOMES
from sim.physics.fork import fork_stall_seconds
from sim.prepare import prepare
from sim.scenario import parse_scenario

SEVERITY = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}


def test_phases_and_timeline():
    r = simulate(scenario())
    tl = r.timeline
    assert list(tl["phase"].unique()) == ["steady", "fork", "save", "after"]
    assert np.all(np.diff(tl["time_s"]) >= 0)
    for column in (
        "time_s",
        "parent_rss_bytes",
        "cow_bytes",
        "demand_bytes",
        "memory_limit_bytes",
        "served_writes_per_sec",
        "backlog_requests",
        "latency_ms",
        "swap_bytes",
    ):
        assert column in tl
    assert r["backup_completed"] and r["outcome"] == "ok"


def test_stall_and_save_follow_the_profile():
    s = scenario()
    p = prepare(s)
    r = simulate(s, p)
    prof = p.platform
    assert r["fork_stall_s"] == pytest.approx(fork_stall_seconds(p.rss, prof.fork.base_ms, prof.fork.ms_per_gib))
    cost = prof.save
    expected_save = (
        p.keys * cost.us_per_key / 1e6
        + p.rdb_bytes / cost.write_bytes_per_sec
        + p.keys * 1000 / cost.lzf_random_bytes_per_sec
    )
    # the child shares the CPUs while the stall's backlog drains: a few ms at most
    assert r["save_duration_s"] == pytest.approx(expected_save, rel=1e-3)


def test_cow_peak_is_the_model_at_the_writes_of_the_save():
    s = scenario()
    p = prepare(s)
    r = simulate(s, p)
    writes = 20_000 * r["save_duration_s"]  # the backlog of the stall is served during the save
    writes += 20_000 * r["fork_stall_s"]
    assert r["cow_peak_bytes"] == pytest.approx(p.cow.cow_bytes(writes), rel=0.01)


def test_no_writes_no_cow_beyond_the_base():
    s = scenario(workload={"writes_per_sec": 0})
    p = prepare(s)
    assert simulate(s, p)["cow_peak_bytes"] == pytest.approx(p.cow.base_bytes)


def test_max_latency_is_the_stall_plus_queueing():
    s = scenario()
    p = prepare(s)
    r = simulate(s, p)
    stall_and_queue = 1000 * r["fork_stall_s"] + r["baseline_latency_ms"]
    one_write_copying_its_pages = 1000 * p.pages_per_key * p.cow_fault_s
    assert stall_and_queue <= r["max_latency_ms"] <= stall_and_queue + one_write_copying_its_pages + 1e-9


def test_oom_without_swap_kills_the_parent():
    r = simulate(
        scenario(node={"memory": "1.3GiB"}, workload={"writes_per_sec": "200k"}, backup={"rdb_key_save_delay_us": 20})
    )
    assert r["outcome"] == "oom" and r["oom_victim"] == "parent" and not r["backup_completed"]
    assert r["peak_memory_bytes"] <= r["memory_limit_bytes"] + 1


def test_oom_score_adj_makes_the_child_the_victim_and_the_cache_survives():
    r = simulate(
        scenario(
            node={"memory": "1.3GiB", "oom_score_adj": True},
            workload={"writes_per_sec": "200k"},
            backup={"rdb_key_save_delay_us": 20},
        )
    )
    assert r["oom_victim"] == "child" and not r["backup_completed"]
    tail = r.timeline[r.timeline["phase"] == "failed"]
    assert len(tail) > 0 and (tail["parent_rss_bytes"] > 0).all() and (tail["cow_bytes"] == 0).all()


def test_swap_turns_oom_into_paging():
    r = simulate(
        scenario(
            node={"memory": "1.3GiB", "swap": "2GiB"},
            workload={"writes_per_sec": "200k"},
            backup={"rdb_key_save_delay_us": 20},
        )
    )
    assert r["outcome"] == "paging" and r["backup_completed"]
    assert r["swap_peak_bytes"] == pytest.approx(r["peak_memory_bytes"] - r["memory_limit_bytes"])


def test_replica_backup_spares_the_primary():
    primary = simulate(scenario())
    replica = simulate(scenario(backup={"source": "replica"}))
    assert replica["max_latency_ms"] < primary["max_latency_ms"] / 10
    assert replica["replica_lag_s"] == pytest.approx(replica["fork_stall_s"], rel=0.05)
    assert replica["cow_peak_bytes"] == pytest.approx(primary["cow_peak_bytes"], rel=0.05)


def test_catalog_node_budget():
    r = simulate(
        parse_scenario("node: {type: cache.t3.micro}\ndataset: {keys: 100k, value_size: 1KB}\nplatform: nitro\n")
    )
    assert r["memory_limit_bytes"] == 536870912 and r["maxmemory_bytes"] == 402653184


def test_huge_pages_shrink_the_stall_and_grow_the_copies():
    small = simulate(scenario(workload={"writes_per_sec": "2k"}))
    huge = simulate(scenario(node={"transparent_huge_pages": True, "swap": "8GiB"}, workload={"writes_per_sec": "2k"}))
    assert huge["fork_stall_s"] < small["fork_stall_s"]
    assert huge["cow_peak_bytes"] > 2 * small["cow_peak_bytes"]


@settings(max_examples=12, deadline=None)
@given(
    memory_mib=st.integers(700, 4000),
    extra_mib=st.integers(1, 4000),
    swap_mib=st.integers(0, 2000),
    writes=st.floats(0, 300_000),
    delay=st.integers(0, 30),
    zipf=st.one_of(st.none(), st.floats(0.6, 1.3)),
)
def test_more_memory_or_swap_never_makes_the_outcome_worse(memory_mib, extra_mib, swap_mib, writes, delay, zipf):
    dist = "uniform" if zipf is None else {"zipf": zipf}

    def outcome(mem, swap):
        s = scenario(
            node={"memory": f"{mem}MiB", "swap": f"{swap}MiB"},
            dataset={"keys": "500k"},
            workload={"writes_per_sec": writes, "key_distribution": dist},
            backup={"rdb_key_save_delay_us": delay},
            simulation={"before": "0s", "after": "0s"},
        )
        return SEVERITY[simulate(s)["outcome"]]

    base = outcome(memory_mib, swap_mib)
    assert outcome(memory_mib + extra_mib, swap_mib) <= base
    assert outcome(memory_mib, swap_mib + extra_mib) <= base


def test_daily_profile_sets_the_load_at_the_backup_start():
    quiet = [1_000] * 24
    quiet[14] = 150_000  # a busy hour 14:00-15:00
    busy = simulate(scenario(workload={"daily_profile": {"writes_per_sec": quiet}}, backup={"start": "14:10"}))
    calm = simulate(scenario(workload={"daily_profile": {"writes_per_sec": quiet}}, backup={"start": "03:00"}))
    assert busy["writes_per_sec"] == 150_000 and calm["writes_per_sec"] == 1_000
    assert busy["cow_peak_bytes"] > 9 * calm["cow_peak_bytes"]  # the busy save ends in OOM: its copies are capped


def test_load_changes_during_the_save():
    """A save that runs past the hour sees the next hour's rate."""
    rates = [0] * 24
    rates[4] = 50_000
    s = scenario(
        workload={"daily_profile": {"writes_per_sec": rates}}, backup={"start": "03:59:58", "rdb_key_save_delay_us": 5}
    )
    r = simulate(s)
    served = r.timeline.set_index("time_s")["served_writes_per_sec"]
    fork_at = s.simulation.before
    assert served[(served.index > fork_at) & (served.index < fork_at + 1.5)].max() == 0
    assert served[served.index > fork_at + 3].max() == pytest.approx(50_000, rel=0.01)


def test_child_slows_only_when_the_cores_are_oversubscribed():
    from sim.engine import child_cpu_share

    assert child_cpu_share(2, 0.5) == 1.0 and child_cpu_share(2, 1.0) == 1.0
    assert child_cpu_share(2, 3.0) == pytest.approx(0.5)
    assert child_cpu_share(1, 1.0) == pytest.approx(0.5)
    busy = simulate(scenario(node={"memory": "4GiB"}, workload={"writes_per_sec": "60k", "reads_per_sec": "20k"}))
    quiet = simulate(scenario(node={"memory": "4GiB"}, workload={"writes_per_sec": "1k", "reads_per_sec": 0}))
    assert busy["save_duration_s"] > 1.1 * quiet["save_duration_s"]
