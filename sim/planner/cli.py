"""``rbsim plan FILE [--json] [--report DIR] [--workers N]``: the planner's command-line front end."""

from __future__ import annotations

import os
import sys

from ..errors import EXIT_BAD_INPUT
from ..outputs import check_out_dir


def register(subparsers) -> None:
    """Add ``rbsim plan`` to the command's subparsers."""
    p = subparsers.add_parser(
        "plan", help="find the cheapest node type, reserved memory, backup source and window that meet the objectives"
    )
    p.add_argument("file", metavar="FILE", help="scenario YAML file with a plan: block")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--report", metavar="DIR", help="also write a sizing report (HTML + Markdown with PNG plots) to DIR")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="local worker processes (default: CPU count)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run_plan_command)


def run_plan_command(args) -> int:
    """Handler of ``rbsim plan``: 0 with a recommendation, 1 without one, 2 on bad input."""
    from ..batch.runner import Runner
    from ..scenario import ScenarioError
    from . import plan
    from .render import render_plan

    if args.report:
        check_out_dir(args.report, "--report")  # before hours of planning, not after
    try:
        with Runner(workers=args.workers, progress=not args.quiet) as runner:
            result = plan(args.file, runner)
            if args.report:
                from ..report import write_report

                written = write_report(result, args.report)
    except ScenarioError as exc:
        print(f"rbsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        from ..summary import to_json

        print(to_json(result.to_dict()))
    else:
        print(render_plan(result), end="")
    if args.report:
        print("report: " + ", ".join(str(path) for path in written), file=sys.stderr)
    return 0 if result.recommendation else 1
