"""Fuzz the command line (issue 9's "done means"): malformed and extreme scenario files, plan blocks, sweep
arguments and harness records through the real entry point, each under a 20 s alarm.

Every case must end in a clean result (exit 0, only finite numbers printed) or a clean error (exit 2, the
message naming the file or the option); never a traceback, a hang or a vague error. 400 cases, ~20-40 s;
``scripts/fuzz.py --cases 10000`` runs the long version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzzing import BASE_PLAN, BASE_SCENARIO, Case, any_case, judge, plan_text, render
from hypothesis import HealthCheck, given, settings

CASE_SECONDS = 20.0


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=False)
@given(any_case())
def test_every_input_ends_in_a_result_or_a_clean_error(case):
    with tempfile.TemporaryDirectory() as folder:
        verdict, detail = judge(case, Path(folder), CASE_SECONDS)
    files = {name: raw[:2000] for name, raw in case.files.items()}
    assert verdict in ("ok", "error"), f"{verdict}: {detail}\nargv: {case.argv}\nfiles (cut): {files}"


def test_the_judge_tells_results_from_errors(tmp_path):
    good = Case("scenario", ["run", "{dir}/s.yaml"], {"s.yaml": render(BASE_SCENARIO).encode()}, ("s.yaml",))
    assert judge(good, tmp_path / "a") == ("ok", "")
    bad = Case(
        "scenario",
        ["run", "{dir}/s.yaml"],
        {"s.yaml": b"node: {memory: .nan}\ndataset: {keys: 1k, value_size: 1KB}\n"},
        ("s.yaml",),
    )
    verdict, detail = judge(bad, tmp_path / "b")
    assert verdict == "error" and "node.memory" in detail
    planned = render(BASE_SCENARIO) + plan_text(BASE_PLAN)
    plan = Case(
        "plan", ["plan", "{dir}/s.yaml", "--workers", "1", "--quiet"], {"s.yaml": planned.encode()}, ("s.yaml",)
    )
    assert judge(plan, tmp_path / "c")[0] == "ok"
