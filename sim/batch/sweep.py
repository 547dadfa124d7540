"""``rbsim sweep``: simulate a grid or a Monte-Carlo sample of scenario variants into one table.

``--grid workload.writes_per_sec=10k,20k,40k --grid node.type=cache.r6g.large,cache.r6g.xlarge`` runs
the cartesian product; ``--sample 'dataset.keys={normal: {mean: 8M, sd: 1M}}' --runs 1000`` draws
runs at random. Values are YAML scalars, so units work. The table (CSV or Parquet by the extension of
``--out``) has one row per run: the varied inputs, then the summary fields, then ``error``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EXIT_BAD_INPUT
from ..inputs import InputError, YamlError, cut, load_yaml, load_yaml_file, shown
from ..outputs import check_out_file, write_atomic

if TYPE_CHECKING:  # numpy, pandas and pydantic load when a sweep runs, not for `rbsim --help`
    import pandas as pd

    from .runner import Runner

NEEDS_RUNS = "--sample needs --runs N (how many random runs)"
MAX_RUNS = 10_000_000
"""Most runs, workers or chunk size one sweep takes (a 10,000-run sweep takes minutes)."""


class SweepSpecError(InputError):
    """A ``--grid`` or ``--sample`` option that cannot be used; the message names the option."""


def split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets and braces: ``uniform,{zipf: 0.9, x: 1}`` gives two items."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [item.strip() for item in items]


def _option(spec: str, flag: str) -> tuple[str, tuple[str, ...], str]:
    from .fieldpaths import FieldPathError, check_path

    path, sep, rest = spec.partition("=")
    if not sep or not rest.strip():
        raise SweepSpecError(
            f"{flag} {shown(spec)}: write it as FIELD.PATH=VALUES, e.g. {flag} workload.writes_per_sec="
            + ("10k,20k,40k" if flag == "--grid" else "'{range: [10k, 30k]}'")
        )
    try:
        return path.strip(), check_path(path.strip()), rest
    except FieldPathError as exc:
        raise SweepSpecError(f"{flag} {shown(spec)}: {exc}") from None


def _yaml_value(text: str, flag: str, spec: str) -> Any:
    try:
        return load_yaml(text, f"{flag} {shown(spec)}")[0]
    except YamlError as exc:
        raise SweepSpecError(f"{flag} {shown(spec)}: cannot read {shown(text)} as YAML: {exc.problem}") from None


def _column_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=str)


def grid_variants(base: dict, specs: list[str], source: str) -> list[dict[tuple[str, ...], tuple[Any, Any]]]:
    """Cartesian product of ``--grid`` options: per run, path → (value written, value as parsed)."""
    from ..scenario import validate_scenario
    from .fieldpaths import read_value, with_value

    axes = []
    for spec in specs:
        path, parts, rest = _option(spec, "--grid")
        values = []
        for text in split_top_level(rest):
            raw = _yaml_value(text, "--grid", spec)
            scenario = validate_scenario(
                with_value(base, parts, raw), source=f"{source} (with --grid {path}={cut(text, 60)})"
            )
            values.append((parts, (raw, _column_value(read_value(scenario, parts)))))
        axes.append(values)
    return [dict(combo) for combo in itertools.product(*axes)]


def sample_variants(
    base: dict, specs: list[str], runs: int, seed: int, source: str
) -> list[dict[tuple[str, ...], tuple[Any, Any]]]:
    """``runs`` random draws of the ``--sample`` options: per run, path → (value written, value drawn)."""
    import numpy as np

    from ..scenario import ScenarioError, validate_scenario
    from . import distributions
    from .fieldpaths import number_encoder, number_parser, with_value

    rng = np.random.default_rng(seed)
    columns = []
    for spec in specs:
        path, parts, rest = _option(spec, "--sample")
        try:
            dist = distributions.parse(_yaml_value(rest, "--sample", spec))
            if isinstance(dist, distributions.Choice):
                for value in dist.choice:
                    validate_scenario(
                        with_value(base, parts, value), source=f"{source} (with --sample {path} = {shown(value)})"
                    )
                drawn = distributions.draw(dist, float, rng, runs)
                columns.append([(parts, (v, _column_value(v))) for v in drawn])
                continue
            parse = number_parser(base, parts, source)
            distributions.check(dist, parse)
            drawn = distributions.draw(dist, parse, rng, runs)
        except ValueError as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise SweepSpecError(f"--sample {shown(spec)}: {exc}") from None
        if not drawn:
            columns.append([])
            continue
        encode = number_encoder(base, parts, drawn[0])
        columns.append([(parts, (encode(v), v)) for v in drawn])
    return [dict(row) for row in zip(*columns, strict=False)]


def sweep(
    path: str | Path,
    grids: Sequence[str] = (),
    samples: Sequence[str] = (),
    runs: int | None = None,
    seed: int = 0,
    runner: Runner | None = None,
) -> pd.DataFrame:
    """Simulate every variant of the scenario file and return one row per run."""
    import pandas as pd

    from ..scenario import load_scenario
    from .fieldpaths import with_value
    from .runner import Job, Runner

    if bool(grids) == bool(samples):
        raise SweepSpecError(
            "give --grid options (a grid) or --sample options with --runs (Monte-Carlo), not both or neither"
        )
    if samples and not runs:
        raise SweepSpecError(NEEDS_RUNS)
    path = Path(path)
    load_scenario(path)  # validate the file itself first, with line numbers
    base = load_yaml_file(path)
    base.pop("plan", None)
    source = str(path)
    if grids:
        variants = grid_variants(base, list(grids), source)
    elif runs:
        variants = sample_variants(base, list(samples), runs, seed, source)
    else:  # refused above, before the file was read
        raise SweepSpecError(NEEDS_RUNS)
    jobs = []
    for variant in variants:
        data = base
        for parts, (raw, _) in variant.items():
            data = with_value(data, parts, raw)
        jobs.append(Job(data, source=source, source_dir=str(path.parent)))
    runner = runner or Runner()
    summaries = runner.map(jobs, desc="sweep")
    rows = []
    for number, (variant, summary) in enumerate(zip(variants, summaries, strict=True)):
        row: dict[str, Any] = {"run": number}
        row.update({".".join(parts): shown for parts, (_, shown) in variant.items()})
        row.update({key: _flat(value) for key, value in summary.items() if key != "error"})
        row["error"] = summary.get("error")
        rows.append(row)
    return pd.DataFrame(rows)


def _flat(value: Any) -> Any:
    """A table cell: a list of texts (warnings) joined by "; ", a record or list of them as JSON."""
    from ..summary import to_json

    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    if isinstance(value, (list, dict)):
        return to_json(value, indent=None)
    return value


def write_table(table: pd.DataFrame, out: str | Path) -> None:
    """Write CSV or Parquet, chosen by the file's extension."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        _need_pyarrow()
        write_atomic(out, lambda tmp: table.to_parquet(tmp, index=False))
    elif out.suffix == ".csv":
        write_atomic(out, lambda tmp: table.to_csv(tmp, index=False))
    else:
        raise SweepSpecError(f"--out {out}: use a .csv or .parquet file name")


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401 - imported only to check it is installed
    except ImportError:
        raise SweepSpecError(
            "writing Parquet needs pyarrow: pip install 'rbsim[parquet]' (make run installs it), or use --out FILE.csv"
        ) from None


def register(subparsers) -> None:
    """Add ``rbsim sweep`` to the command's subparsers."""
    p = subparsers.add_parser("sweep", help="simulate a grid or Monte-Carlo sample of scenario variants into a table")
    p.add_argument("file", metavar="FILE", help="scenario YAML file")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=V1,V2,...",
        help="vary a field over listed values (repeat for a cartesian product)",
    )
    p.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="PATH=DIST",
        help="draw a field from {range: [lo, hi]}, {normal: {mean: m, sd: s}}, {lognormal: ...} or {choice: [...]}",
    )
    p.add_argument("--runs", type=_positive, help="number of Monte-Carlo runs (with --sample)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed for --sample (default 0)")
    p.add_argument("--out", required=True, metavar="FILE", help="table to write: FILE.parquet or FILE.csv")
    p.add_argument(
        "--workers", type=_positive, default=os.cpu_count() or 1, help="local worker processes (default: CPU count)"
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:8786)")
    p.add_argument("--chunk-size", type=_positive, help="runs per task shipped to a worker (default: automatic)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_sweep_command)


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is a whole number from 0 to 2^63-1")
    return seed


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_RUNS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 1 to {MAX_RUNS:,}")
    return number


def run_sweep_command(args) -> int:
    """Handler of ``rbsim sweep``: returns 0, or 2 on bad input."""
    started = time.perf_counter()
    try:
        if args.out and Path(args.out).suffix not in (".csv", ".parquet"):
            raise SweepSpecError(f"--out {shown(args.out)}: use a .csv or .parquet file name")
        check_out_file(args.out)  # before the runs: nothing simulated is lost to a bad path
        if Path(args.out).suffix == ".parquet":
            _need_pyarrow()
        with _runner(args) as runner:
            table = sweep(args.file, args.grid, args.sample, args.runs, args.seed, runner)
        write_table(table, args.out)
    except InputError as exc:
        print(f"rbsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    elapsed = time.perf_counter() - started
    counts = table["outcome"].value_counts().to_dict() if "outcome" in table else {}
    errors = int(table["error"].notna().sum())
    tally = ", ".join(f"{k} {v}" for k, v in counts.items()) + (f", errors {errors}" if errors else "")
    print(f"{len(table)} runs in {elapsed:.1f} s ({len(table) / elapsed:.1f} runs/s): {tally} -> {args.out}")
    return 0


def _runner(args) -> Runner:
    from .runner import Runner

    if args.scheduler is None:
        return Runner(workers=args.workers, chunk_size=args.chunk_size, progress=not args.quiet)
    try:
        return Runner(scheduler=args.scheduler, chunk_size=args.chunk_size, progress=not args.quiet)
    except ImportError:
        raise SweepSpecError("--scheduler needs Dask: pip install 'rbsim[dask]'") from None
    except (OSError, TimeoutError) as exc:
        raise SweepSpecError(f"--scheduler {args.scheduler}: cannot reach the Dask scheduler ({exc})") from None
