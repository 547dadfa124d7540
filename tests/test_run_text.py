"""`rbsim run` prints numbers people read: no exponents, no negative zero, p50 compared with p50."""

import re

from sim import humanize
from sim.cli import render_summary
from sim.run import run
from sim.scenario import load_scenario


def test_latencies_and_sizes_read_naturally():
    assert humanize.latency(8090.0) == "8.09 s"
    assert humanize.latency(0.0246) == "24.6 µs"
    assert humanize.latency(128.4) == "128 ms"
    assert humanize.size(-1e-7) == "0 B" and humanize.size(-2.5 * 1024**3) == "-2.50 GiB"
    assert humanize.per_second(3870) == "3.87k/s" and humanize.nice_round(3870) == 3000
    assert [humanize.nice_round(x) for x in (1000, 1600, 4400, 6900, 13_000)] == [1000, 1500, 5000, 7000, 15_000]


def test_the_old_xen_example_prints_seconds_and_the_oom_example_no_negative_zero():
    xen = render_summary(run(load_scenario("scenarios/old-xen-fork-stall.yaml")))
    assert "max latency         8.09 s" in xen
    oom = render_summary(run(load_scenario("scenarios/oom-score-adj.yaml")))
    assert "headroom 0 B" in oom
    for text in (xen, oom):
        assert not re.search(r"\de[+-]\d", text) and "-0 B" not in text


def test_p50_in_the_backup_is_compared_with_p50_before_not_with_the_mean():
    """Issue 9: p50 during the backup (a median) looked below the baseline (a mean, ~1.44 x the median)."""
    r = run(load_scenario("scenarios/comfortable.yaml"))
    assert r["p50_latency_ms"] >= r["p50_latency_before_ms"]
    assert r["baseline_latency_ms"] > r["p50_latency_before_ms"]  # mean vs median of the same M/M/1 queue
    text = render_summary(r)
    assert "mean before the backup" in text and "latency before      p50" in text
