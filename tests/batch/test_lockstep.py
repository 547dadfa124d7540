"""The batch path (:mod:`sim.batch.lockstep`, used by sweeps and the planner) agrees with the SimPy engine."""

import math

import pytest
from helpers import BASE, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.batch import lockstep
from sim.batch.runner import Job, run_job, summaries
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
