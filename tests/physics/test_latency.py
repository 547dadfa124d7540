"""Latency: the fluid queue and the mixture quantiles against closed forms."""

import math

import pytest
from helpers import scenario

from sim.engine import simulate
from sim.physics import latency
from sim.prepare import prepare


def test_single_exponential_quantiles():
    q = latency.mixture_quantiles([1.0], [0.002], [1000.0], [0.5, 0.99])
    assert q[0] == pytest.approx(0.002 + math.log(2) / 1000, rel=1e-6)
    assert q[1] == pytest.approx(0.002 + math.log(100) / 1000, rel=1e-6)


def test_mixture_of_two_separated_components():
    q = latency.mixture_quantiles([0.9, 0.1], [0.0, 1.0], [1e4, 1e4], [0.5, 0.95])
    assert q[0] < 0.001 and 1.0 < q[1] < 1.001


def test_drain_conserves_requests():
    backlog, served = latency.drain(100.0, 1000.0, 1500.0, 0.5)
    assert backlog + served == pytest.approx(100 + 500)
    assert served == pytest.approx(600)


def test_before_backup_percentiles_are_mm1():
    r = simulate(scenario(workload={"writes_per_sec": "20k", "reads_per_sec": "30k"}))
    s, rho = 10e-6, 50_000 * 10e-6  # the lab profile's service time
    assert r["p50_latency_before_ms"] == pytest.approx(1000 * math.log(2) * s / (1 - rho), rel=0.02)
    assert r["p99_latency_before_ms"] == pytest.approx(1000 * math.log(100) * s / (1 - rho), rel=0.02)


def test_stall_spike_shows_in_the_tail_in_proportion():
    """A request arriving t into a stall D waits D - t(1 - rho): the tail above rho*D is linear.

    With a = D / ((1 - rho) T) the share of the backup's requests caught by the stall, the share
    waiting more than x is a (1 - x/D), so the q-quantile is D (1 - (1 - q)/a).
    """
    sc = scenario(
        platform="xen-pv",
        workload={"writes_per_sec": "10k", "reads_per_sec": "10k"},
        dataset={"value_pattern": "repetitive"},
    )
    xen = prepare(sc).platform
    no_fault_cost = xen.model_copy(update={"fork": xen.fork.model_copy(update={"cow_fault_us": 0.0})})
    r = simulate(sc, prepare(sc, platform=no_fault_cost))  # keep rho constant after the stall
    s = 15e-6  # the xen-pv profile's service time
    stall, rho = r["fork_stall_s"], 20_000 * s
    a = stall / ((1 - rho) * r["backup_duration_s"])
    for key, q in (("p99_latency_ms", 0.99), ("p999_latency_ms", 0.999)):
        expected = stall * (1 - (1 - q) / a)
        assert expected > rho * stall  # inside the linear part of the tail
        assert r[key] == pytest.approx(1000 * expected, rel=0.1, abs=0.05)
    # the other requests keep the M/M/1 shape; the median moves up by the share the stall took
    assert r["p50_latency_ms"] == pytest.approx(-1000 * math.log(1 - 0.5 / (1 - a)) * s / (1 - rho), rel=0.03)
    assert r["max_latency_ms"] == pytest.approx(1000 * stall + r["baseline_latency_ms"], rel=1e-6)


def test_huge_page_copies_slow_the_main_thread_after_fork():
    """THP: each first write to a 2 MiB page costs ~0.25 ms (redis PR #7381): latency rises after fork."""
    plain = simulate(scenario(workload={"writes_per_sec": "5k", "reads_per_sec": "5k"}, node={"swap": "8GiB"}))
    huge = simulate(
        scenario(
            workload={"writes_per_sec": "5k", "reads_per_sec": "5k"},
            node={"swap": "8GiB", "transparent_huge_pages": True},
        )
    )
    assert huge["fork_stall_s"] < plain["fork_stall_s"] and huge["max_latency_ms"] > 2 * plain["max_latency_ms"]
    assert huge["p999_latency_ms"] > 2 * plain["p999_latency_ms"]
