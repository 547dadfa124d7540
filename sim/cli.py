"""The ``rbsim`` command: simulate scenario files and print or write the results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import units

if TYPE_CHECKING:
    from .result import Result

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    from .platform import PlatformError  # after parsing: `rbsim --help` loads no models
    from .scenario import ScenarioError
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.handler(args)
    except (ScenarioError, PlatformError, NotImplementedError) as exc:
        print(f"rbsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rbsim", description="Simulate Redis backups: fork stall, copy-on-write, paging.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="simulate one backup per scenario file")
    run.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    run.add_argument("--json", action="store_true", help="print machine-readable results (a JSON list)")
    run.add_argument("--out", metavar="DIR", help="write each timeline (CSV) and memory plot (PNG) to DIR")
    run.add_argument("--format", choices=("csv", "parquet"), default="csv", help="timeline file format (default csv)")
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
    from .harness.cli import register as harness
    from .planner.cli import register as plan
    from .profile.cli import register as profile
    from .sweep import register as sweep
    from .validation.cli import register as validation

    return [plan, sweep, harness, profile, validation]


def _run(args) -> int:
    from .result import finite
    from .run import run as run_scenario
    from .scenario import load_scenario

    scenarios = [(path, load_scenario(path)) for path in args.files]  # validate all before running any
    results = []
    for path, scenario in scenarios:
        result = run_scenario(scenario, source_dir=Path(path).parent, timeline=bool(args.out))
        results.append(result)
        if args.out:
            _write_outputs(result, Path(args.out), args.format)
        if not args.json:
            print(render_summary(result, path))
    if args.json:
        print(json.dumps([finite(r.summary) for r in results], indent=2, default=float))
    return 0


def _write_outputs(result: Result, out: Path, fmt: str) -> None:
    from .plot import plot_memory

    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(result["scenario"])
    if fmt == "parquet":
        result.timeline.to_parquet(out / f"{stem}.timeline.parquet", index=False)
    else:
        result.timeline.to_csv(out / f"{stem}.timeline.csv", index=False)
    (out / f"{stem}.json").write_text(result.to_json() + "\n")
    plot_memory(result, out / f"{stem}.png")


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "scenario"


OUTCOME_TEXT = {
    "failed": "the backup fails; the server keeps running",
    "ok": "backup completes; memory stays within the node",
    "paging": "demand spills into swap: the node pages and slows down",
    "oom": "the kernel kills a process",
}


def render_summary(result: Result, path: str = "") -> str:
    """A readable table of one result."""
    r = result.summary
    b, d = units.format_bytes, units.format_duration
    calibrated = "calibrated on harness runs" if r["platform_calibrated"] else "published figures, not checked by harness runs"
    outcome = f"{r['outcome'].upper()}: {OUTCOME_TEXT[r['outcome']]}"
    if r["oom_victim"] == "parent":
        outcome += " (the Redis parent: the whole cache is lost)"
    elif r["oom_victim"] == "child":
        outcome += " (the save child: this backup fails, the cache survives)"
    rows = [
        ("outcome", outcome),
        ("method", f"{r['method']} from the {r['backup_source']}"),
        ("fork stall", d(r["fork_stall_s"])),
        ("save duration", d(r["save_duration_s"]) if r["save_duration_s"] is not None else "did not finish"),
        ("copy-on-write peak", b(r["cow_peak_bytes"])),
        ("peak memory", f"{b(r['peak_memory_bytes'])} of {b(r['memory_limit_bytes'])} node memory "
                        f"(headroom {b(r['headroom_bytes'])})"),
        ("data limit", f"maxmemory {b(r['maxmemory_bytes'])}, reserved {b(r['reserved_memory_bytes'])}; "
                       f"dataset used_memory {b(r['used_memory_bytes'])}"),
        ("swap peak", f"{b(r['swap_peak_bytes'])} of {b(r['swap_limit_bytes'])} allowed"),
        ("max latency", f"{r['max_latency_ms']:.3g} ms (baseline {r['baseline_latency_ms']:.3g} ms)"
                        + (" at the primary, which does not fork" if r["backup_source"] == "replica" else "")),
    ]
    rows.append(("latency in backup", f"p50 {r['p50_latency_ms']:.3g} ms, p99 {r['p99_latency_ms']:.3g} ms, "
                                      f"p99.9 {r['p999_latency_ms']:.3g} ms (before: p99 {r['p99_latency_before_ms']:.3g} ms)"))
    if r["method"] == "forkless":
        rows.append(("writes delayed", f"{r['writes_delayed']:,.0f}"))
    if r["failure"]:
        rows.append(("failure", r["failure"]))
    if r["backup_source"] == "replica":
        rows.append(("replica lag", d(r["replica_lag_s"])))
    if r.get("cluster"):
        c = r["cluster"]
        rows.append(("cluster", f"{c['shards']} shards, worst {r['worst_shard']}, {c['shards_failing']} not ok"))
    rows.append(("RDB size", b(r["rdb_bytes"])))
    width = max(len(k) for k, _ in rows)
    head = f"{r['scenario']}" + (f"  [{path}]" if path else "")
    lines = [head, f"  platform {r['platform']} ({calibrated})"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += [f"  warning: {w}" for w in r["warnings"]]
    return "\n".join(lines) + "\n"


def _catalog(args) -> int:
    from .catalog import load_catalog

    print(f"{'node type':<22} {'vCPU':>4} {'memory':>11} {'USD/h':>7}  backups")
    for node in load_catalog().values():
        price = f"{node.price_usd_per_hour:.3f}" if node.price_usd_per_hour is not None else "?"
        vcpu = str(node.vcpu) if node.vcpu is not None else "?"
        print(f"{node.node_type:<22} {vcpu:>4} {units.format_bytes(node.maxmemory_bytes):>11} {price:>7}  "
              f"{'yes' if node.backup_supported else 'no'}")
    return 0


def _platforms(args) -> int:
    from .platform import builtin_platforms, load_platform

    for name in builtin_platforms():
        profile = load_platform(name)
        print(f"{name:<8} {profile.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
