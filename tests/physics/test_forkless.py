"""Forkless backups: method selection, no stall or copy-on-write, shared main thread, delayed writes.

No real forkless server could be run here (Valkey 9.2's BGSAVE THREAD is not on PyPI, npm or
Debian yet), so these tests check the model against its own closed forms and against what is
published (docs/literature.md §4.3: values up to 512 B are cloned and never block a write).
"""

import numpy as np
import pytest
from helpers import scenario

from sim.engine import simulate
from sim.keydist import Uniform
from sim.physics import forkless
from sim.physics.keyspace import popularity
from sim.prepare import prepare


def test_auto_forks_with_room_and_goes_forkless_when_memory_is_short():
    ec = {"build": "elasticache"}
    roomy = prepare(scenario(engine=ec, backup={"method": "auto"}, node={"memory": "4GiB"}))
    tight = prepare(
        scenario(engine=ec, backup={"method": "auto"}, node={"memory": "1.25GiB", "reserved_memory_percent": 5})
    )
    assert roomy.method == "fork" and tight.method == "forkless"
    assert any("forkless" in w for w in tight.warnings)


def test_old_engines_always_fork():
    p = prepare(
        scenario(
            engine={"version": "2.8.19"},
            backup={"method": "auto"},
            node={"memory": "1.25GiB", "reserved_memory_percent": 5},
        )
    )
    assert p.method == "fork"


def test_forkless_has_no_stall_and_no_copy_on_write():
    r = simulate(scenario(engine={"build": "elasticache"}, backup={"method": "forkless"}))
    p = prepare(scenario(engine={"build": "elasticache"}, backup={"method": "forkless"}))
    assert r["fork_stall_s"] == 0 and r["method"] == "forkless"
    assert r["cow_peak_bytes"] == pytest.approx(p.forkless_buffer_bytes)
    assert r["outcome"] == "ok" and r["backup_completed"]


def test_idle_server_saves_at_full_speed_and_busy_one_at_the_minimum_share():
    idle = scenario(
        engine={"build": "elasticache"},
        backup={"method": "forkless"},
        workload={"writes_per_sec": 0, "reads_per_sec": 0},
    )
    p = prepare(idle)
    assert simulate(idle)["save_duration_s"] == pytest.approx(p.save_s, rel=1e-3)
    rate = 0.9 / p.service_s  # 90 % busy: the snapshot is held to its minimum share
    busy = scenario(
        engine={"build": "elasticache"},
        backup={"method": "forkless"},
        workload={"writes_per_sec": rate, "reads_per_sec": 0},
    )
    r = simulate(busy)
    assert r["save_duration_s"] == pytest.approx(p.save_s / p.platform.forkless.min_share, rel=1e-3)
    # requests get 2/3 of the thread but need 90 %: throughput falls to what is left
    assert r["min_served_writes_per_sec"] == pytest.approx((1 - p.platform.forkless.min_share) / p.service_s, rel=0.02)


def test_small_values_are_cloned_and_never_delay_writes():
    r = simulate(
        scenario(engine={"build": "elasticache"}, backup={"method": "forkless"}, dataset={"value_size": "500B"})
    )
    assert r["writes_delayed"] == 0


def test_delayed_writes_match_the_closed_form():
    """Uniform writes at rate w over K keys, save of T s: delayed = ∫ w (1 - t/T) e^(-w t / K) dt."""
    s = scenario(
        engine={"build": "elasticache"},
        backup={"method": "forkless"},
        dataset={"keys": "200k", "value_size": "2KB"},
        workload={"writes_per_sec": "5k", "reads_per_sec": 0},
    )
    r = simulate(s)
    T, w, K = r["save_duration_s"], 5_000.0, 200_000
    t = np.linspace(0, T, 20_001)
    expected = np.trapezoid(w * (1 - t / T) * np.exp(-w * t / K), t)
    assert r["writes_delayed"] == pytest.approx(expected, rel=0.03)
    assert r["p999_latency_ms"] > r["p99_latency_before_ms"]


def test_unsaved_write_fraction():
    pop = popularity(Uniform(), 1000)
    assert forkless.unsaved_write_fraction(pop, 0, 0) == pytest.approx(1.0)
    assert forkless.unsaved_write_fraction(pop, 0, 0.5) == pytest.approx(0.5)
    assert forkless.unsaved_write_fraction(pop, 1000, 0) == pytest.approx(np.exp(-1), rel=1e-6)
    assert forkless.snapshot_share(0.2, 1 / 3) == pytest.approx(0.8)
    assert forkless.snapshot_share(0.95, 1 / 3) == pytest.approx(1 / 3)
