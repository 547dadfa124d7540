"""The ``rbsim profile`` subcommand: :func:`register` adds it to rbsim's argparse subparsers, :func:`main`
runs it alone; it profiles a server or cluster and writes the scenario."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import units
from ..errors import EXIT_BAD_INPUT
from . import ProfileError
from .keysample import MAX_SAMPLE_KEYS, MAX_SAMPLE_S, MIN_SAMPLE_KEYS, MIN_SAMPLE_S
from .live import scrub, secrets_in
from .take import ELASTICACHE_SCHEME


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``profile`` to an argparse subparsers object; its handler returns the exit status."""
    profile = subparsers.add_parser(
        "profile",
        help="write a scenario from a live Redis/Valkey server or an ElastiCache cluster",
        description="Read a live server (INFO over a short window, a bounded SCAN sample; read-only) or an "
        "ElastiCache replication group or cluster (AWS APIs and a day of CloudWatch) and write a "
        "scenario YAML whose comments say where each figure came from.",
    )
    profile.add_argument(
        "source",
        metavar="URL",
        help="redis://[user:pass@]host:port[/db], rediss://... for TLS (the password may also come "
        "from REDISCLI_AUTH), or elasticache://REPLICATION_GROUP_OR_CLUSTER_ID",
    )
    profile.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        help="write the scenario to FILE (default: print it; the report then goes to stderr)",
    )
    profile.add_argument("--name", help="scenario name (default profile-HOST-PORT or profile-ID)")
    node = profile.add_mutually_exclusive_group()
    node.add_argument("--node-type", metavar="TYPE", help="the node's ElastiCache type, e.g. cache.r6g.large")
    node.add_argument("--memory", metavar="SIZE", help="the node's memory limit instead, e.g. 1.4GiB")
    profile.add_argument("--platform", help="platform profile (default: from the node type's family, else nitro)")
    live = profile.add_argument_group("live server")
    live.add_argument("--window", default="10s", metavar="DURATION", help="sampling window for rates (default 10s)")
    live.add_argument(
        "--sample-keys",
        default="auto",
        metavar="N",
        help=f"keys to sample with SCAN (default auto: 1%% of the keys, at least {MIN_SAMPLE_KEYS:,} and at most "
        f"{MAX_SAMPLE_KEYS:,}, so a type holding 1%% of the keys is seen at least 30 times)",
    )
    live.add_argument(
        "--sample-time",
        default="auto",
        metavar="DURATION",
        help=f"time limit of the key sample (default auto: {MIN_SAMPLE_S:g} to {MAX_SAMPLE_S:g} s with its size)",
    )
    live.add_argument(
        "--no-self-check", action="store_true", help="do not compare a simulation with the server's own last save"
    )
    aws = profile.add_argument_group("ElastiCache")
    aws.add_argument("--region", help="AWS region (default: the standard AWS configuration)")
    profile.set_defaults(handler=run_profile)
    return profile


def run_profile(args) -> int:
    """Profile ``args.source``, write the scenario, print the report; 0, or 2 with one line on stderr."""
    secrets = [] if args.source.startswith(ELASTICACHE_SCHEME) else secrets_in(args.source)
    report = sys.stdout if args.out else sys.stderr
    try:
        lines, text = _profile(args)
    except ProfileError as exc:
        print(scrub(f"rbsim: {exc}", secrets), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.out:
        try:
            Path(args.out).write_text(scrub(text, secrets))
        except OSError as exc:
            print(f"rbsim: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        lines.insert(0, f"wrote {args.out}")
    else:
        sys.stdout.write(scrub(text, secrets))
    for line in lines:
        print(scrub(line, secrets), file=report)
    return 0


def _profile(args) -> tuple[list[str], str]:
    """(report lines, scenario YAML) for the parsed arguments."""
    from ..elasticache.catalog import UnknownNodeTypeError
    from ..platform import PlatformError
    from .take import profile

    memory = _option("--memory", units.parse_size, args.memory) if args.memory else None
    window = _option("--window", units.parse_duration, args.window)
    sample_time = (
        None if args.sample_time == "auto" else _option("--sample-time", units.parse_duration, args.sample_time)
    )
    sample_keys = None if args.sample_keys == "auto" else _count(args.sample_keys)
    try:
        taken = profile(
            args.source,
            name=args.name,
            node_type=args.node_type,
            memory=memory,
            platform=args.platform,
            window=window,
            sample_keys=sample_keys,
            sample_time=sample_time,
            region=args.region,
            self_check=not args.no_self_check,
        )
    except (UnknownNodeTypeError, PlatformError) as exc:
        raise ProfileError(str(exc)) from None
    return taken.report, taken.text


def _option(flag: str, parse, text: str):
    """``parse(text)``, or a one-line error naming ``flag``."""
    try:
        return parse(text)
    except units.UnitError as exc:
        raise ProfileError(f"{flag}: {exc}") from None


def _count(text: str) -> int:
    """``--sample-keys``: a whole number of keys."""
    try:
        return int(text)
    except ValueError:
        raise ProfileError(f"--sample-keys {text!r}: expected a whole number of keys or auto") from None


def main(argv: list[str] | None = None) -> int:
    """Run ``profile`` on its own (``python -m sim.profiling.cli URL ...``)."""
    parser = argparse.ArgumentParser(prog="rbsim")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["profile", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
