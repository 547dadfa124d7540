"""Fuzz rbsim's command line: N malformed or extreme inputs, counts by class (see tests/fuzzing.py).

    .venv/bin/python scripts/fuzz.py --cases 10000 [--seconds 20] [--kind scenario|extreme|plan|sweep|record]

Prints one line per case that is not ``ok`` or ``error`` (with its detail), then the counts by class.
Exit status 1 if any case ended in a traceback, a hang or a vague error.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fuzzing
from hypothesis import HealthCheck, Phase, given, settings

KINDS = {
    "scenario": fuzzing.scenario_cases(),
    "extreme": fuzzing.scenario_cases(extreme_only=True),
    "plan": fuzzing.scenario_cases(with_plan=True),
    "typed": fuzzing.typed_cases(),
    "sweep": fuzzing.sweep_cases(),
    "record": fuzzing.record_cases(),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0, help="wall-clock limit of one case (a hang past it)")
    ap.add_argument("--kind", choices=sorted(KINDS), help="only this kind of case")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    counts: collections.Counter = collections.Counter()
    by_kind: collections.Counter = collections.Counter()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="rbsim-fuzz-"))
    strategy = KINDS[args.kind] if args.kind else fuzzing.any_case()

    @settings(
        max_examples=args.cases,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def one(case):
        n = sum(counts.values())
        verdict, detail = fuzzing.judge(case, root / f"c{n}", args.seconds)
        counts[verdict] += 1
        by_kind[(case.kind, verdict)] += 1
        if verdict not in ("ok", "error"):
            print(
                f"[{n}] {case.kind} {verdict}: {detail.strip().splitlines()[-1] if detail.strip() else ''}"
                f"  argv={[a[:80] for a in case.argv]} files={root / f'c{n}'}",
                flush=True,
            )
        else:  # only the cases worth reproducing keep their files
            shutil.rmtree(root / f"c{n}", ignore_errors=True)
        if n and n % 500 == 0:
            print(f"... {n} cases, {dict(counts)}, {time.monotonic() - started:.0f} s", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import random

        random.seed(args.seed)
        one()
    total = sum(counts.values())
    kept = "" if any(root.iterdir()) else " (no failing case: nothing kept)"
    if kept:
        root.rmdir()
    print(f"\n{total} cases in {time.monotonic() - started:.0f} s{kept}")
    for verdict in fuzzing.CLASSES:
        print(
            f"  {verdict:<10} {counts[verdict]:>6}   "
            + ", ".join(f"{kind} {by_kind[(kind, verdict)]}" for kind in KINDS if by_kind[(kind, verdict)])
        )
    return 1 if counts["traceback"] or counts["hang"] or counts["vague"] else 0


if __name__ == "__main__":
    sys.exit(main())
