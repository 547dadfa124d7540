"""The OOM victim follows the kernel's badness rule, and the output says what the kill costs and why."""

import pytest
from helpers import scenario

from sim.cli import render_summary
from sim.engine import simulate
from sim.physics import oom
from sim.run import run
from sim.scenario import load_scenario

GIB = 1024**3
OOM = dict(node={"memory": "1.3GiB"}, workload={"writes_per_sec": "200k"}, backup={"rdb_key_save_delay_us": 20})


def test_badness_is_rss_swap_page_tables_and_the_adjustment():
    assert oom.badness(4 * GIB, GIB, 8 * 2**20, 0, 16 * GIB) == 5 * GIB + 8 * 2**20
    assert oom.badness(0, 0, 0, 800, 10 * GIB) == 8 * GIB


def test_the_larger_process_dies_ties_go_to_the_parent_and_the_adjustment_decides():
    assert oom.choose(2 * GIB, 2 * GIB, 0, 0, 4 * GIB, child_adjusted=False).victim == "parent"
    assert oom.choose(2 * GIB, 3 * GIB, 0, 0, 4 * GIB, child_adjusted=False).victim == "child"
    assert oom.choose(3 * GIB, 2 * GIB, 0, 0, 4 * GIB, child_adjusted=True).victim == "child"  # +0.8 x 4 GiB


def test_a_primary_oom_loses_the_cache_a_replica_oom_does_not():
    primary = simulate(scenario(**OOM))
    replica = simulate(scenario(**{**OOM, "backup": {**OOM["backup"], "source": "replica"}}))
    assert primary["oom_victim"] == replica["oom_victim"] == "parent"
    assert "every key in memory is lost" in primary["oom_consequence"]
    assert "resyncs from the primary" in replica["oom_consequence"] and "lost" not in replica["oom_consequence"]
    for r in (primary, replica):
        assert "memory cgroup" in r["oom_assumption"] and "oom-score-adj no" in r["oom_assumption"]


def test_the_run_text_states_the_rule_behind_the_victim():
    r = run(load_scenario("scenarios/oom-score-adj.yaml"))
    text = render_summary(r)
    assert r["oom_victim"] == "child" and "the save child: this backup fails" in text
    assert "OOM victim rule" in text and "+800 on the child" in text
    assert "whole cache" not in text


def test_child_kill_with_adjustment_even_when_it_holds_less():
    r = simulate(scenario(**{**OOM, "node": {"memory": "1.3GiB", "oom_score_adj": True}}))
    assert r["oom_victim"] == "child" and r["outcome"] == "oom"
    assert r["oom_assumption"].startswith("OOM in the container's memory cgroup")
    assert r["used_memory_bytes"] > 0 and r["headroom_bytes"] == pytest.approx(0, abs=2)
