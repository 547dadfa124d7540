"""The planner on small cases whose answer is known by hand (300k keys of 1 KB on t4g nodes: fast runs)."""

import json
import textwrap

import pytest
import yaml
from helpers import REPO_ROOT

from sim.batch import lockstep
from sim.batch import runner as batch
from sim.dayload import DayLoad
from sim.planner import plan
from sim.planner.cli import run_plan_command
from sim.planner.objectives import describe, violations
from sim.planner.spec import Objectives
from sim.planner.variants import Window, peak_rates, quietest, variant
from sim.scenario import ScenarioError

MICRO, SMALL, MEDIUM = "cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium"


def scenario(tmp_path, workload="writes_per_sec: 1k", keys="300k", **plan_fields):
    """A 300k-key scenario (about 320 MiB: fits a t4g.micro at 25 % reserved) with a plan block."""
    block = {
        "node_types": [MEDIUM, MICRO, SMALL],
        "reserved_memory_percent": [25],
        "sources": ["replica"],
        "windows": ["00:00", "06:00", "12:00", "18:00"],
        # 300k keys fill a t4g.micro's maxmemory to x1.20 growth; these tests are about the other objectives
        "objectives": {"min_data_growth": 1.1},
    }
    block.update(plan_fields)
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: tiny
        node: {{type: {MICRO}}}
        dataset: {{keys: {keys}, value_size: 1KB}}
        workload: {{{workload}}}
        """)
        + yaml.safe_dump({"plan": {k: v for k, v in block.items() if v is not None}}, sort_keys=False)
    )
    return path


def test_a_node_too_small_for_the_data_is_skipped_with_the_reason(tmp_path):
    result = plan(scenario(tmp_path, keys="600k"))
    assert result.recommendation.config.node_type == SMALL
    skipped = {s.subject: s.reason for s in result.found.skipped}
    assert "cannot hold used_memory" in skipped[MICRO]
    assert all(c.config.node_type != MICRO for c in result.found.candidates)


def test_a_node_whose_backup_runs_out_of_memory_is_rejected(tmp_path):
    result = plan(scenario(tmp_path, workload="writes_per_sec: 40k"))
    micro = next(c for c in result.found.candidates if c.config.node_type == MICRO)
    assert not micro.meets_nominal and "OOM" in result.verdict(micro)
    assert result.recommendation.config.node_type == SMALL


def test_the_cheaper_node_that_meets_the_objectives_wins(tmp_path):
    result = plan(scenario(tmp_path))
    ranked = [c.config.node_type for c in result.found.accepted]
    assert ranked == [MICRO, SMALL, MEDIUM]
    costs = [c.cost.total_usd for c in result.found.accepted]
    assert costs == sorted(costs) and costs[0] < costs[1]
    assert "cheapest configuration" in result.reasons[0]


def test_the_quiet_hours_window_is_chosen(tmp_path):
    rates = ["40k"] * 24
    rates[3] = rates[4] = "1k"  # 03:00-05:00 is quiet
    path = scenario(
        tmp_path,
        workload=f"daily_profile: {{writes_per_sec: [{', '.join(rates)}]}}",
        node_types=[MICRO],
        windows=["01:00", "03:00", "05:00", "09:00"],
    )
    result = plan(path)
    best = result.recommendation
    assert best.config.node_type == MICRO and best.window.label == "03:00"
    risk = {r.window.label: bool(r.violations) for r in result.found.windows}
    assert risk == {"01:00": True, "03:00": False, "05:00": True, "09:00": True}


def test_a_window_is_judged_at_its_worst_rates_until_the_backup_can_end():
    load = DayLoad.hourly([float(h) for h in range(24)], None)
    assert peak_rates(load, 3 * 3600, 3600 + 60) == (4.0, 0.0)  # a backup begun at 03:59 runs into 04:00
    assert peak_rates(load, 23 * 3600, 3600 + 60) == (23.0, 0.0)  # wraps to hour 0
    assert quietest([Window(0, 5, 1), Window(3600, 2, 9), Window(7200, 2, 3)]).start_s == 7200


def test_monte_carlo_rejects_a_risky_candidate(tmp_path):
    uncertainty = {"runs": 20, "seed": 3, "inputs": {"workload.writes_per_sec": {"range": ["5k", "60k"]}}}
    result = plan(
        scenario(
            tmp_path,
            workload="writes_per_sec: 10k",
            uncertainty=uncertainty,
            max_failure_probability=0.05,
            node_types=[MICRO, SMALL],
        )
    )
    micro = next(c for c in result.found.candidates if c.config.node_type == MICRO)
    assert micro.meets_nominal and micro.mc is not None
    assert micro.mc.stopped_early and micro not in result.found.accepted
    assert "misses an objective" in result.verdict(micro)
    best = result.recommendation
    assert best.config.node_type == SMALL and best.mc.probability <= 0.05 and best.mc.runs == 20


def test_headroom_brackets_the_failing_write_rate(tmp_path):
    hot = "key_distribution: {hot_set: {keys: 20%, writes: 80%}}"
    result = plan(scenario(tmp_path, workload=f"writes_per_sec: 22k, {hot}", node_types=[MICRO]))
    best = result.recommendation
    by_dim = {h.dimension: h for h in result.headroom}
    writes = by_dim["writes"]
    assert writes.multiplier > 1 and "before" in writes.sentence and "×" in writes.sentence
    planner = result.planner

    def misses(multiplier):
        data = variant(planner.base, best.config, Window(best.window.start_s, best.window.writes * multiplier, 0))
        return planner.check([data])[0][1]

    assert not misses(writes.multiplier)
    assert misses(writes.multiplier * 1.15)
    skew = by_dim["skew"]
    assert 0 < skew.multiplier < 1 and "80% of writes on the hot set down to" in skew.sentence
    assert "the data can grow" in by_dim["data"].sentence


def test_simulator_errors_are_recorded_as_failures(tmp_path, monkeypatch):
    real = batch._run

    def flaky(scenario, source_dir=None, **options):
        if scenario.node.type == MICRO:
            raise RuntimeError("odd combination")
        return real(scenario, source_dir=source_dir, **options)

    monkeypatch.setattr(batch, "_run", flaky)
    together = lockstep.simulate_many

    def flaky_together(preps):
        if any(p.scenario.node.type == MICRO for p in preps):
            raise RuntimeError("odd combination")
        return together(preps)

    monkeypatch.setattr(lockstep, "simulate_many", flaky_together)
    result = plan(scenario(tmp_path))
    micro = next(c for c in result.found.candidates if c.config.node_type == MICRO)
    assert "simulator failed: RuntimeError: odd combination" in result.verdict(micro)
    assert result.recommendation.config.node_type == SMALL


def test_objectives_name_what_was_missed():
    summary = {
        "used_memory_bytes": 1,
        "maxmemory_bytes": 2,
        "outcome": "paging",
        "backup_completed": True,
        "swap_peak_bytes": 400e6,
        "max_latency_ms": 2000.0,
        "p99_latency_ms": float("nan"),
        "backup_duration_s": 4000.0,
        "headroom_bytes": -5,
    }
    objectives = Objectives(max_swap="300MB", max_latency_ms=1000, max_p99_latency_ms=50, min_headroom="0B")
    missed = {v.objective: v for v in violations(objectives, summary, 3600)}
    assert set(missed) == {"max_swap", "max_latency_ms", "max_p99_latency_ms", "backup_within_window", "min_headroom"}
    assert missed["max_swap"].limit == "swap exceeds 300 MB"
    assert "p99 not simulated" in missed["max_p99_latency_ms"].message


@pytest.mark.parametrize(
    "fields, where, message",
    [
        ({"objectives": {"max_swp": "1GB"}}, "plan.objectives.max_swp", "did you mean 'max_swap'"),
        ({"node_types": ["cache.r6g.larg"]}, "plan.node_types", "did you mean 'cache.r6g.large'"),
        ({"window_length": "30min"}, "plan.window_length", "minimum backup window is 60 minutes"),
        ({"replicas": 0}, "plan", "needs one"),
        (
            {"uncertainty": {"inputs": {"workload.writes": {"range": ["1k", "2k"]}}}},
            "plan.uncertainty.inputs.workload.writes",
            "did you mean 'workload.writes_per_sec'",
        ),
        (
            {"uncertainty": {"inputs": {"dataset.keys": {"range": ["1k", "2KB"]}}}},
            "plan.uncertainty.inputs.dataset.keys",
            "is a size",
        ),
        (
            {"uncertainty": {"inputs": {"dataset.keys": {"uniform": [1, 2]}}}},
            "plan.uncertainty.inputs.dataset.keys",
            "is not a distribution",
        ),
        (
            {"uncertainty": {"inputs": {"node.type": {"choice": [MICRO]}}}},
            "plan.uncertainty.inputs.node.type",
            "the planner chooses node.type",
        ),
    ],
)
def test_bad_plan_blocks_name_file_line_and_field(tmp_path, fields, where, message):
    path = scenario(tmp_path, **fields)
    with pytest.raises(ScenarioError) as caught:
        plan(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:") and f": {where}:" in text and message in text
    assert text.split(":")[1].isdigit()  # the line of the field


def test_daily_profile_rates_cannot_be_uncertain_fields(tmp_path):
    path = scenario(
        tmp_path,
        workload="daily_profile: {writes_per_sec: [" + ", ".join(["1k"] * 24) + "]}",
        uncertainty={"inputs": {"workload.writes_per_sec": {"range": ["1k", "2k"]}}},
    )
    with pytest.raises(ScenarioError, match="use load_factor"):
        plan(path)


def test_command_prints_a_table_or_json(tmp_path, capsys):
    path = scenario(tmp_path)

    class Args:
        file, report, workers, quiet = str(path), None, 1, True
        json = False

    assert run_plan_command(Args) == 0
    out = capsys.readouterr().out
    assert "RECOMMENDED  cache.t4g.micro" in out and "skipped" not in out
    Args.json = True
    assert run_plan_command(Args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["recommendation"]["node_type"] == MICRO
    assert data["recommendation"]["total_usd_month"] == pytest.approx(2 * 0.016 * 730)
    Args.file = str(tmp_path / "missing.yaml")
    assert run_plan_command(Args) == 2


def test_data_headroom_is_the_same_whether_the_data_is_keys_and_value_size_or_keys_and_used_memory(tmp_path):
    """Issue 9: with keys + used_memory (what `rbsim profile` writes) growing keys kept memory fixed (x31.3 vs
    x1.04)."""
    from sim.physics.layout import used_memory

    by_size = plan(scenario(tmp_path, workload="writes_per_sec: 5k", node_types=[MICRO]))
    used = used_memory(300_000, 16, 1000, "jemalloc")
    path = scenario(tmp_path, workload="writes_per_sec: 5k", node_types=[MICRO])
    path.write_text(path.read_text().replace("value_size: 1KB", f"used_memory: {used}B"))
    by_memory = plan(path)
    data = [next(h for h in r.headroom if h.dimension == "data") for r in (by_size, by_memory)]
    assert data[0].multiplier is not None and data[0].multiplier < 1.5
    assert data[1].multiplier == pytest.approx(data[0].multiplier, rel=0.05)


def test_growing_keys_by_path_keeps_the_value_size_when_used_memory_is_given():
    from sim.batch.fieldpaths import with_value

    grown = with_value({"dataset": {"keys": "1M", "used_memory": "1GiB"}}, ("dataset", "keys"), 2_000_000)
    assert grown["dataset"] == {"keys": 2_000_000, "used_memory": f"{2 * 1024**3}B"}


def test_a_nearly_full_node_misses_the_default_data_growth_objective(tmp_path):
    path = scenario(tmp_path)
    path.write_text(path.read_text().replace("min_data_growth: 1.1", "min_data_growth: 1.25"))
    result = plan(path)
    micro = next(c for c in result.found.candidates if c.config.node_type == MICRO)
    assert not micro.meets_nominal and "the data can grow only ×1.2" in result.verdict(micro)
    assert result.recommendation.config.node_type == SMALL
    assert "the data can grow ×1.25 before it outgrows maxmemory" in describe(result.spec.objectives)


def test_more_load_than_one_node_serves_misses_an_objective():
    summary = {
        "used_memory_bytes": 1,
        "maxmemory_bytes": 10,
        "outcome": "overloaded",
        "backup_completed": True,
        "swap_peak_bytes": 0,
        "max_latency_ms": 1,
        "headroom_bytes": 1,
        "overloaded": True,
        "offered_load_per_sec": 600_000.0,
        "throughput_ceiling_per_sec": 125_000.0,
    }
    missed = violations(Objectives(max_swap=None), summary, 3600)
    assert [v.objective for v in missed] == ["throughput"] and "125,000/s" in missed[0].message


def test_every_command_refuses_a_misspelled_plan_field(tmp_path):
    """The plan block is part of the scenario model: `rbsim run` names a typo in it as for any field."""
    import subprocess
    import sys

    root = REPO_ROOT
    path = tmp_path / "typo.yaml"
    path.write_text(
        (root / "scenarios/comfortable.yaml").read_text()
        + "plan:\n  node_typs: [cache.r6g.large]\n  objectives: {no_oom: true, max_swp: 0}\n"
    )
    done = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(path)], capture_output=True, text=True, cwd=root)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert any(
        f"{path}:16: plan.node_typs: unknown field 'node_typs'; did you mean 'node_types'?" in line for line in lines
    )
    assert any("plan.objectives.max_swp: unknown field 'max_swp'; did you mean 'max_swap'?" in line for line in lines)
