"""``rbsim harness FILE... --out DIR``: run the same scenario files the simulator reads against a real server.

One JSON record per run (schema ``rbsim-harness-record/1``, see :mod:`sim.harness.record`) is written to
``--out``. Exit codes: 0 every run produced a record (whatever its outcome: an OOM kill is a result);
1 some run failed inside the harness; 2 bad input (a scenario error, a scenario this machine cannot run)
or no place to run (not root, no memory cgroup, no server binary). ``register(subparsers)`` adds the
subcommand to rbsim's parser.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from sim.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from sim.harness.quiet import wait_until_idle

DEFAULT_OUT = "reports/validation/records"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``harness`` subcommand (handler: :func:`harness_command`)."""
    from sim.harness import DEFAULT_BINARY, DEFAULT_TIMEOUT_S, STEADY_S

    p = subparsers.add_parser(
        "harness", help="run scenario files against a real redis-server (root)", description=__doc__.splitlines()[0]
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help=f"record folder (default {DEFAULT_OUT}; restore runs: reports/validation/restore-records)",
    )
    p.add_argument(
        "--server",
        metavar="PATH",
        default=DEFAULT_BINARY,
        help=f"server binary: redis-server or valkey-server (default {DEFAULT_BINARY})",
    )
    p.add_argument("--repeat", metavar="N", type=int, default=1, help="runs per file (default 1)")
    p.add_argument("--label", metavar="TEXT", default="", help="free text stored in every record")
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="wall-time budget of one run; past it the run is killed, outcome timeout "
        f"(default {DEFAULT_TIMEOUT_S:.0f})",
    )
    p.add_argument(
        "--steady",
        metavar="SECONDS",
        type=float,
        default=STEADY_S,
        help=f"write load before the BGSAVE (default {STEADY_S:g})",
    )
    p.add_argument(
        "--quiet-wait",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="before each run, wait up to this long for the CPUs to be 90%% idle (0: don't wait)",
    )
    p.add_argument(
        "--backend",
        choices=("cgroup", "podman"),
        default="cgroup",
        help="run the server in a memory cgroup the harness makes (default) or in a podman container "
        "(needs podman and runc; backup runs only)",
    )
    p.set_defaults(handler=harness_command)
    return p


def _err(msg: str) -> None:
    print(f"rbsim harness: {msg}", file=sys.stderr)


def harness_command(args: argparse.Namespace) -> int:
    """Validate every file, check the machine, then run each file ``--repeat`` times; returns the exit code."""
    from sim.harness.janitor import sweep_leftovers
    from sim.harness.record import write_record
    from sim.harness.run import HarnessError, check_environment, execute, plan_run, server_problems
    from sim.harness.server import server_version
    from sim.scenario import ScenarioError, load_scenario

    if args.repeat < 1:
        _err("--repeat must be at least 1")
        return EXIT_BAD_INPUT
    loaded = []
    try:
        for f in args.files:
            scenario = load_scenario(f)
            loaded.append((f, scenario))
    except ScenarioError as exc:
        print(f"rbsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from sim.harness.restore import plan_restore, run_restores
    from sim.inputs import InputError
    from sim.outputs import check_out_dir

    restores = [(f, s) for f, s in loaded if s.restore is not None]  # these measure a restore, the others a backup
    try:  # every file is checked before anything is made or run
        restore_plans = [plan_restore(s, str(f), Path(f).read_text()) for f, s in restores]
        plans = [plan_run(s, str(f), Path(f).read_text()) for f, s in loaded if s.restore is None]
    except HarnessError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    try:
        check_out_dir(args.out)  # records of long runs must have somewhere to go
    except InputError as exc:
        print(f"rbsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    why = check_environment(args.server)
    if not why and args.backend == "podman":
        from sim.harness.podman import podman_available

        why = podman_available()
        if restore_plans:
            why = why or f"{restores[0][0]}: restore runs have only the cgroup backend (drop --backend podman)"
    if why:
        _err(f"cannot run here: {why}")
        return EXIT_BAD_INPUT
    from sim.harness.run import free_page_reporting

    if free_page_reporting():  # measured here: loads and copies 2-3x slower than on a dedicated node
        _err(
            "note: this VM hands freed memory back to its host (virtio balloon free page reporting), so every "
            "first touch of memory costs a host fault; records say so (machine.free_page_reporting). For "
            "figures like a dedicated node's, unbind it while measuring: echo virtio0 > "
            "/sys/bus/virtio/drivers/virtio_balloon/unbind (bind it back the same way afterwards)"
        )
    version = server_version(args.server)
    problems = [f"{p.scenario_file}: {why}" for p in plans for why in server_problems(p, version)]
    if problems:
        _err("\n".join(problems))
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sweep_leftovers(record_dirs=[args.out])  # what killed runs of earlier (dead) harness processes left behind
    status = EXIT_OK
    for plan in plans:
        for i in range(args.repeat):
            if args.quiet_wait > 0 and not wait_until_idle(args.quiet_wait):
                _err(f"the machine stayed busy for {args.quiet_wait:.0f} s; running {plan.scenario_file} anyway")
            t = time.monotonic()
            try:
                record = execute(
                    plan,
                    binary=args.server,
                    label=args.label,
                    timeout=args.timeout,
                    steady_s=args.steady,
                    backend=args.backend,
                )
            except HarnessError as exc:
                _err(str(exc))
                status = EXIT_FAILED
                continue
            except Exception as exc:  # noqa: BLE001 - report, clean up (context managers did) and go on
                _err(f"{plan.scenario_file} run {i + 1} failed: {exc!r}")
                traceback.print_exc(file=sys.stderr)
                status = EXIT_FAILED
                continue
            path = write_record(record, args.out or DEFAULT_OUT)
            print(summary_line(record, path, time.monotonic() - t), flush=True)
    if restore_plans:
        status = max(status, run_restores(restore_plans, args))
    return status


def summary_line(record: dict, path: Path, wall: float) -> str:
    """One line per run: file, outcome, fork, save, COW, peak, ping max, served rate, record path."""
    m, ld = record["measured"], record["load"]

    def mib(x):
        return "-" if x is None else f"{x / 2**20:.0f}MiB"

    def num(x, fmt):
        return "-" if x is None else format(x, fmt)

    victim = f"({m['oom_victim']})" if m["oom_victim"] else ""
    return (
        f"{record['scenario_file']}: {m['outcome']}{victim} "
        f"fork {num(m['fork_usec'] and m['fork_usec'] / 1000, '.1f')}ms save {num(m['save_duration_s'], '.2f')}s "
        f"cow {mib(m['rdb_last_cow_size'] or m.get('cow_peak_sampled_bytes'))} "
        f"peak {mib(m['peak_container_bytes'])} swap {mib(m['swap_peak_bytes'])} "
        f"ping max {num(m['ping_max_ms'], '.1f')}ms writes {num(ld['served_writes_per_sec_during_save'], '.0f')}"
        f"/{ld['target_writes_per_sec']:.0f}/s load {record['machine']['loadavg_before'][0]:.2f} "
        f"wall {wall:.0f}s -> {path}"
    )


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m sim.harness.cli FILE...``) until rbsim's parser registers the subcommand."""
    parser = argparse.ArgumentParser(prog="rbsim")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["harness", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
