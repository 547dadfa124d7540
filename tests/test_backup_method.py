"""Which builds can back up without forking, and that every output using the forkless model says it is unvalidated."""

import json
import textwrap

import pytest
from helpers import scenario

from sim.cli import main, render_summary
from sim.prepare import prepare
from sim.run import run
from sim.scenario import ScenarioError, load_scenario

TIGHT = {"memory": "1.25GiB", "reserved_memory_percent": 5}  # free memory well under 20 % of the node


@pytest.mark.parametrize(
    "engine, platform, expected",
    [
        ({"build": "elasticache"}, "lab", "forkless"),
        ({"build": "elasticache", "name": "valkey", "version": "7.2.4"}, "lab", "forkless"),
        ({}, "lab", "fork"),  # a container on the lab machine: open-source Redis
        ({}, "nitro", "fork"),  # node.memory means a container: open source
        ({"build": "open-source", "version": "7.4.0"}, "nitro", "fork"),
        ({"build": "open-source", "name": "valkey", "version": "9.1.2"}, "nitro", "fork"),
        ({"build": "open-source", "name": "valkey", "version": "9.2.0"}, "nitro", "forkless"),
        ({"build": "elasticache", "version": "2.8.19"}, "nitro", "fork"),
    ],
)
def test_auto_goes_forkless_only_where_the_build_has_it(engine, platform, expected):
    p = prepare(scenario(engine=engine, platform=platform, node=TIGHT, backup={"method": "auto"}))
    assert p.method == expected


def test_a_catalog_node_type_means_elasticache_and_a_container_open_source():
    ec = scenario(node={"type": "cache.r6g.large", "memory": None}, platform="nitro")
    oss = scenario()
    assert ec.build == "elasticache" and oss.build == "open-source"


def test_forkless_on_open_source_redis_is_refused_naming_the_field(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent("""\
        node: {memory: 2GiB}
        dataset: {keys: 1M, value_size: 1KB}
        backup: {method: forkless}
        """)
    )
    with pytest.raises(ScenarioError, match="backup.method forkless: open-source redis 7.0.15 has no forkless backup"):
        load_scenario(path)
    assert main(["run", str(path)]) == 2


def test_the_threshold_is_a_scenario_field_that_moves_the_cliff():
    base = dict(engine={"build": "elasticache"}, node={"memory": "1.6GiB", "reserved_memory_percent": 5})
    free = prepare(scenario(**base))
    share = (free.budget.node_memory - free.rss) / free.budget.node_memory
    assert prepare(scenario(**base, backup={"method": "auto", "forkless_threshold": share + 0.01})).method == "forkless"
    assert prepare(scenario(**base, backup={"method": "auto", "forkless_threshold": share - 0.01})).method == "fork"


def test_the_cliff_in_the_example_a_little_more_data_flips_oom_to_ok(tmp_path):
    """README: in scenarios/forkless-auto.yaml 1.5 % more data turns a forked OOM into a forkless OK."""
    text = open("scenarios/forkless-auto.yaml").read()
    outcomes = {}
    for keys in ("5.12M", "5.197M"):  # +1.5 %
        path = tmp_path / f"{keys}.yaml"
        path.write_text(text.replace("keys: 5.2M", f"keys: {keys}"))
        r = run(load_scenario(path))
        outcomes[keys] = (r["method"], r["outcome"])
    assert outcomes == {"5.12M": ("fork", "oom"), "5.197M": ("forkless", "ok")}


def test_every_output_of_a_forkless_run_says_it_is_unvalidated(capsys):
    r = run(load_scenario("scenarios/forkless-auto.yaml"))
    assert r["method"] == "forkless"
    assert any(u.startswith("forkless backup") for u in r["unvalidated"])
    assert "unvalidated: forkless backup" in render_summary(r)
    assert main(["run", "--json", "scenarios/forkless-auto.yaml"]) == 0
    out = json.loads(capsys.readouterr().out)[0]
    assert any("forkless" in u for u in out["unvalidated"])
    forked = run(load_scenario("scenarios/comfortable.yaml"))
    assert not any("forkless" in u for u in forked["unvalidated"])


def test_a_plan_marks_forkless_candidates_and_its_recommendation_as_unvalidated(tmp_path):
    from sim.planner import plan
    from sim.planner.render import render_plan

    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent("""\
        node: {type: cache.t4g.micro}
        dataset: {keys: 400k, value_size: 1KB}
        workload: {writes_per_sec: 5k}
        plan:
          node_types: [cache.t4g.micro]
          reserved_memory_percent: [5]
          sources: [primary]
          windows: ["03:00"]
          objectives: {min_data_growth: 1.05}
        """)
    )
    result = plan(path)
    best = result.recommendation
    assert best.summary["method"] == "forkless"
    assert result.verdict(best).endswith("(forkless backup: unvalidated model)")
    assert "unvalidated: forkless backup" in render_plan(result)
