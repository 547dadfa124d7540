"""Paging: swapped pages slow requests and the save, and the engine feeds that back."""

import pytest
from helpers import scenario

from sim.engine import simulate
from sim.physics import paging
from sim.prepare import prepare

OVER = dict(
    node={"memory": "1.3GiB", "swap": "4GiB"},
    workload={"writes_per_sec": "60k", "reads_per_sec": 0},  # under the lab ceiling
    backup={"rdb_key_save_delay_us": 20},
)


def test_pure_costs():
    assert paging.out_share(0, 10) == 0 and paging.out_share(5, 10) == 0.5 and paging.out_share(20, 10) == 1
    assert paging.request_service_s(10e-6, 0.5, 4, 100e-6) == pytest.approx(210e-6)
    assert paging.save_s_per_key(0.25, 4, 100e-6) == pytest.approx(100e-6)


def test_paging_slows_writes_and_stretches_the_save():
    fast = simulate(scenario(**{**OVER, "node": {"memory": "8GiB"}}))
    paged = simulate(scenario(**OVER))
    assert fast["outcome"] == "ok" and paged["outcome"] == "paging"
    assert paged["min_served_writes_per_sec"] < 0.9 * 60_000 <= fast["min_served_writes_per_sec"] + 1
    assert paged["save_duration_s"] > fast["save_duration_s"]
    assert paged["p99_latency_ms"] > fast["p99_latency_ms"]


def test_without_fault_costs_paging_changes_nothing_but_swap():
    s = scenario(**OVER)
    p = prepare(s)
    free = p.platform.model_copy(
        update={
            "paging": p.platform.paging.model_copy(update={"fault_us": 0, "page_out_us": 0}),
            "fork": p.platform.fork.model_copy(update={"cow_fault_us": 0}),
            "cpu": p.platform.cpu.model_copy(update={"client_us_per_request": 0}),
        }
    )
    r = simulate(s, prepare(s, platform=free))
    assert r["outcome"] == "paging"
    assert r["save_duration_s"] == pytest.approx(p.save_s, rel=1e-6)
    assert r["min_served_writes_per_sec"] == pytest.approx(60_000, rel=0.01)


def test_more_fault_cost_never_speeds_the_save():
    s = scenario(**OVER)
    p = prepare(s)
    slower = p.platform.model_copy(update={"paging": p.platform.paging.model_copy(update={"fault_us": 1000})})
    assert simulate(s, prepare(s, platform=slower))["save_duration_s"] >= simulate(s)["save_duration_s"]
