"""README.md's field lists pinned to the code: a field added, renamed or dropped fails here until the README says so.

The scenario table ("Scenario fields") is checked against the pydantic models it documents; the result
list ("Results") against the keys real runs of the example scenarios print with ``rbsim run --json``.
"""

import json
import re
import subprocess
import sys
import typing
from dataclasses import fields
from pathlib import Path

from sim.batch.fieldpaths import models_in
from sim.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

DOCUMENTED_WHOLE = {
    "workload.daily_profile": "shown by its YAML form ({writes_per_sec: [...]} or {csv: ...})",
    "restore.engine": "the same fields as engine.*",
    "engine.parameters": "one row listing the server parameters under their Redis names",
    "plan": "the planner's block, described field by field in 'Plan, sweep, what-if' (pinned below)",
}
"""Model-valued fields the table documents in one row instead of one row per sub-field."""


def section(title: str) -> str:
    """README text from the heading ``## title`` to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def table_paths() -> list[str]:
    """Field paths of the scenario table's first column (`a.b` / `.c` names a.b and a.c)."""
    paths = []
    for row in re.findall(r"^\| (`[^|]+) \|", section("Scenario fields"), re.M):
        names = re.findall(r"`([^`]+)`", row)
        first = names[0]
        paths.append(first)
        for rel in names[1:]:
            assert rel.startswith("."), f"row {row!r}: write further names as `.field`"
            paths.append(first.rsplit(".", 1)[0] + rel)
    return paths


LISTS_OF_GROUPS = {"dataset.groups", "workload.mix"}
"""Lists of models: one row for the list and one per item field."""


def list_item_models(annotation) -> list:
    """The models a ``list[Model]`` (optionally ``| None``) holds."""
    if typing.get_origin(annotation) is list:
        return models_in(typing.get_args(annotation)[0])
    found = []
    for arg in typing.get_args(annotation):
        found += list_item_models(arg)
    return found


def model_paths(model=Scenario, prefix: str = "") -> tuple[set[str], set[str]]:
    """(every field path, the paths a user must find documented): leaves, and groups documented whole."""
    every, needed = set(), set()
    for name, info in model.model_fields.items():
        path = prefix + name
        every.add(path)
        inner = models_in(info.annotation) or list_item_models(info.annotation)
        if inner and path in LISTS_OF_GROUPS:  # the list itself has a row, and each item field too
            needed.add(path)
        if len(inner) == 1 and path not in DOCUMENTED_WHOLE:  # a group of fields: document each
            sub_every, sub_needed = model_paths(inner[0], path + ".")
            every |= sub_every
            needed |= sub_needed
        else:  # a value (unions of shapes such as key_distribution count as one value)
            needed.add(path)
    return every, needed


def test_scenario_table_documents_every_field_and_only_real_ones():
    documented = table_paths()
    every, needed = model_paths()
    assert len(documented) == len(set(documented)), "a field has two rows"
    assert sorted(set(documented) - every) == [], "README rows naming no scenario field"
    assert sorted(needed - set(documented)) == [], "scenario fields missing from README's table"


def test_plan_paragraph_names_every_plan_field():
    from sim.planner.spec import Objectives, PlanSpec, Uncertainty

    text = section("Use")
    text = text[text.index("`plan` reads the scenario's `plan:` block") : text.index("`sweep` writes one row per run")]
    named = set(re.findall(r"`([a-z_0-9]+)`", text))
    for model in (PlanSpec, Objectives, Uncertainty):
        missing = sorted(set(model.model_fields) - named)
        assert missing == [], f"{model.__name__} fields not described in README's plan paragraph"


EXAMPLES = [
    "comfortable",
    "write-heavy",
    "forkless-auto",
    "cluster-skewed",
    "plan-restore-rto",
    "old-engine-buffer-overflow",
    "oom-score-adj",
]
"""One plain fork, paging, forkless, cluster, restore, buffer-overflow failure and child OOM run."""


def produced_keys() -> set[str]:
    """Union of the top-level keys ``rbsim run --json`` prints for the example scenarios."""
    files = [ROOT / "scenarios" / f"{name}.yaml" for name in EXAMPLES]
    done = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--json", *map(str, files)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert {r["method"] for r in results} >= {"fork", "forkless"}
    assert any(r.get("cluster") for r in results) and any("restore_outcome" in r for r in results)
    return set().union(*(r.keys() for r in results))


def results_text() -> str:
    """The Results section up to the throughput-ceiling note (the field list and what follows it)."""
    return section("Results").split("**Throughput ceiling.**")[0]


def test_results_list_documents_every_key_and_only_produced_ones():
    from sim.outcomes import OUTCOMES

    text = results_text()
    named = set(re.findall(r"`([a-z][a-z0-9_]*)`", text))
    values = set(OUTCOMES) | {"parent", "child"}  # values listed beside a key, not keys
    produced = produced_keys()
    assert sorted(produced - named) == [], "result keys missing from README's Results"
    assert sorted(named - values - produced) == [], "README names result keys no run produces"


def test_example_table_lists_every_scenario_file():
    table = section("Use").split("### Example scenarios")[1].split("###")[0]
    listed = set(re.findall(r"^\| `(scenarios/[^`]+\.yaml)` \|", table, re.M))
    on_disk = {f"scenarios/{p.name}" for p in (ROOT / "scenarios").glob("*.yaml")}
    assert sorted(on_disk - listed) == [] and sorted(listed - on_disk) == []


def summary_keys(record) -> list[str]:
    """The JSON keys of a result record in field order, a flattened sub-record's keys in its place."""
    import sim.summary

    keys = []
    for f in fields(record):
        if f.metadata.get("json") == "flatten":  # annotated "Managed | None": the record's class by name
            keys += summary_keys(getattr(sim.summary, f.type.split(" | ")[0]))
        else:
            keys.append(f.name)
    return keys


def test_results_list_names_the_records_fields_in_their_order():
    from sim.outcomes import OUTCOMES
    from sim.summary import Summary

    values = set(OUTCOMES) | {"parent", "child"}  # `overloaded` is a value and a key: its place is not checked
    named = re.findall(r"`([a-z][a-z0-9_]*)`", results_text())
    keys = summary_keys(Summary)
    assert sorted(set(keys) - set(named)) == [], "Summary fields missing from README's Results"
    in_order = [n for n in dict.fromkeys(named) if n not in values]
    assert in_order == [k for k in keys if k not in values], "README's Results lists the fields in another order"
