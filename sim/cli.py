"""The ``rbsim`` command: simulate scenario files and print or write the results."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import humanize, units
from .errors import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_OUTCOME, RbsimError
from .outcomes import OUTCOMES

if TYPE_CHECKING:
    from .result import Result


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a run that failed, 2 bad input, 3 an outcome named by
    ``--fail-on``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    from .inputs import InputError  # after parsing: `rbsim --help` loads no models

    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.handler(args)
    except (InputError, NotImplementedError) as exc:  # every input error of rbsim, from any command
        print(f"rbsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RbsimError as exc:  # a run that could not be done (harness, profile): one line, no traceback
        print(f"rbsim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so flushing at exit does not raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rbsim", description="Simulate Redis backups: fork stall, copy-on-write, paging."
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="simulate one backup per scenario file")
    run.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    run.add_argument("--json", action="store_true", help="print machine-readable results (a JSON list)")
    run.add_argument("--out", metavar="DIR", help="write each timeline (CSV) and memory plot (PNG) to DIR")
    run.add_argument("--format", choices=("csv", "parquet"), default="csv", help="timeline file format (default csv)")
    run.add_argument(
        "--fail-on",
        type=_outcomes,
        default=(),
        metavar="OUTCOMES",
        help=f"exit with status {EXIT_OUTCOME} when any run (or cluster shard) ends in one of these "
        f"comma-separated outcomes: {', '.join(o for o in OUTCOMES if o != 'ok')}",
    )
    run.set_defaults(handler=_run)
    catalog = sub.add_parser("catalog", help="list the ElastiCache node types rbsim knows")
    catalog.set_defaults(handler=_catalog)
    platforms = sub.add_parser("platforms", help="list the built-in platform profiles")
    platforms.set_defaults(handler=_platforms)
    for register in _front_ends():
        register(sub)
    return parser


def _front_ends():
    """``register(subparsers)`` of the commands that live in their own packages."""
    from .batch.sweep import register as sweep
    from .harness.cli import register as harness
    from .planner.cli import register as plan
    from .profiling.cli import register as profile
    from .validation.cli import register as validation

    return [plan, sweep, harness, profile, validation]


def _outcomes(text: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    allowed = [o for o in OUTCOMES if o != "ok"]
    wrong = [n for n in names if n not in allowed]
    if wrong or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: list outcomes from {', '.join(allowed)}, e.g. oom,paging")
    return names


def _run(args) -> int:
    from .outputs import check_out_dir, safe_stem, unique_stems
    from .run import run as run_scenario
    from .scenario import load_scenario
    from .summary import to_json

    scenarios = [(path, load_scenario(path)) for path in args.files]  # validate all before running any
    out = check_out_dir(args.out) if args.out else None  # and the output folder: nothing simulated is lost
    if out is not None and args.format == "parquet":
        _need_parquet()
    stems = unique_stems([scenario.name for _, scenario in scenarios])
    results = []
    for (path, scenario), stem in zip(scenarios, stems, strict=True):
        result = run_scenario(scenario, source_dir=Path(path).parent, timeline=out is not None)
        results.append(result)
        if out is not None:
            if stem != safe_stem(scenario.name):
                print(
                    f"rbsim: note: another scenario is also named {scenario.name!r}; {path} writes {out / stem}.*",
                    file=sys.stderr,
                )
            _write_outputs(result, out, stem, args.format)
        if not args.json:
            print(render_summary(result, path))
    if args.json:
        print(to_json([r.summary for r in results]))
    hit = sorted({o for r in results for o in outcomes_of(r)} & set(args.fail_on))
    if hit:
        print(
            f"rbsim: outcome {', '.join(hit)} (--fail-on {','.join(args.fail_on)}): exit {EXIT_OUTCOME}",
            file=sys.stderr,
        )
        return EXIT_OUTCOME
    return 0


def outcomes_of(result: Result) -> set[str]:
    """The run's outcome and, for a cluster, every shard's."""
    return {result.summary.outcome} | {s.outcome for s in result.summary.shards or ()}


def _need_parquet() -> None:
    try:
        import pyarrow  # noqa: F401 - imported only to check it is installed
    except ImportError:
        from .inputs import InputError

        raise InputError(
            "--format parquet needs pyarrow: pip install 'rbsim[parquet]' (make run installs it), or use --format csv"
        ) from None


def _write_outputs(result: Result, out: Path, stem: str, fmt: str) -> None:
    from .outputs import write_atomic
    from .plot import plot_memory
    from .summary import to_json

    timeline = out / f"{stem}.timeline.{fmt}"
    if fmt == "parquet":
        write_atomic(timeline, lambda tmp: result.timeline.to_parquet(tmp, index=False))
    else:
        write_atomic(timeline, lambda tmp: result.timeline.to_csv(tmp, index=False))
    write_atomic(out / f"{stem}.json", lambda tmp: tmp.write_text(to_json(result.summary) + "\n"))
    write_atomic(out / f"{stem}.png", lambda tmp: plot_memory(result, tmp))


OUTCOME_TEXT = {
    "failed": "the backup fails; the server keeps running",
    "ok": "backup completes; memory stays within the node",
    "overloaded": "memory is fine, but the offered load exceeds what one node serves: clients queue",
    "paging": "demand spills into swap: the node pages and slows down",
    "oom": "the kernel kills a process",
}


def render_summary(result: Result, path: str = "") -> str:
    """A readable table of one result."""
    from .restore import restore_rows

    r = result.summary
    b, d, ms = humanize.size, units.format_duration, humanize.latency
    calibrated = (
        "calibrated on harness runs" if r.platform_calibrated else "published figures, not checked by harness runs"
    )
    outcome = f"{r.outcome.upper()}: {OUTCOME_TEXT[r.outcome]}"
    if r.oom_victim:
        outcome += f" ({r.oom_consequence})"
    rows = [
        ("outcome", outcome),
        ("method", f"{r.method} from the {r.backup_source} ({r.engine_build} build)"),
        ("fork stall", d(r.fork_stall_s)),
        ("save duration", d(r.save_duration_s) if r.save_duration_s is not None else "did not finish"),
        ("copy-on-write peak", b(r.cow_peak_bytes)),
        (
            "peak memory",
            f"{b(r.peak_memory_bytes)} of {b(r.memory_limit_bytes)} node memory (headroom {b(r.headroom_bytes)})",
        ),
        (
            "data limit",
            f"maxmemory {b(r.maxmemory_bytes)}, reserved {b(r.reserved_memory_bytes)}; "
            f"dataset used_memory {b(r.used_memory_bytes)} (can grow x{r.data_growth_to_maxmemory:.2f})",
        ),
        ("swap peak", f"{b(r.swap_peak_bytes)} of {b(r.swap_limit_bytes)} allowed"),
        (
            "load",
            f"{humanize.per_second(r.offered_load_per_sec)} offered, one node serves "
            f"~{humanize.per_second(r.throughput_ceiling_per_sec)}",
        ),
        (
            "max latency",
            f"{ms(r.max_latency_ms)} (mean before the backup {ms(r.baseline_latency_ms)})"
            + (" at the primary, which does not fork" if r.backup_source == "replica" else ""),
        ),
        ("latency before", f"p50 {ms(r.p50_latency_before_ms)}, p99 {ms(r.p99_latency_before_ms)}"),
        (
            "latency in backup",
            f"p50 {ms(r.p50_latency_ms)}, p99 {ms(r.p99_latency_ms)}, p99.9 {ms(r.p999_latency_ms)}",
        ),
    ]
    if not math.isfinite(r.p50_latency_ms):  # no request met the backup: it never started (OOM) or none was sent
        rows[-1] = ("latency in backup", "no requests during a backup")
    if r.method == "forkless":
        rows.append(("writes delayed", f"{r.writes_delayed:,.0f}"))
    if r.failure:
        rows.append(("failure", r.failure))
    if r.oom_assumption:
        rows.append(("OOM victim rule", r.oom_assumption))
    if r.backup_source == "replica":
        rows.append(("replica lag", d(r.replica_lag_s)))
    if r.cluster is not None:
        c = r.cluster
        rows.append(("cluster", f"{c.shards} shards, worst {r.worst_shard}, {c.shards_failing} not ok"))
    rows.append(("RDB size", b(r.rdb_bytes)))
    rows += restore_rows(r.restore)
    width = max(len(k) for k, _ in rows)
    head = f"{r.scenario}" + (f"  [{path}]" if path else "")
    lines = [head, f"  platform {r.platform} ({calibrated})"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += [f"  unvalidated: {u}" for u in r.unvalidated if not u.startswith("platform ")]
    lines += [f"  warning: {w}" for w in r.warnings]
    return "\n".join(lines) + "\n"


def _catalog(args) -> int:
    from .elasticache.catalog import load_catalog

    print(f"{'node type':<22} {'vCPU':>4} {'memory':>11} {'USD/h':>7}  backups")
    for node in load_catalog().values():
        price = f"{node.price_usd_per_hour:.3f}" if node.price_usd_per_hour is not None else "?"
        vcpu = str(node.vcpu) if node.vcpu is not None else "?"
        print(
            f"{node.node_type:<22} {vcpu:>4} {units.format_bytes(node.maxmemory_bytes):>11} {price:>7}  "
            f"{'yes' if node.backup_supported else 'no'}"
        )
    return 0


def _platforms(args) -> int:
    from .platform import builtin_platforms, load_platform

    for name in builtin_platforms():
        profile = load_platform(name)
        print(f"{name:<8} {profile.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
