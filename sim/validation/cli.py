"""``rbsim calibrate`` and ``rbsim validate``: fit a profile to harness records, and score predictions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EXIT_BAD_INPUT
from ..outputs import check_out_dir, check_out_file, write_atomic

if TYPE_CHECKING:
    from ..platform import Platform

SIZE_FIELDS = {
    ("save", "write_bytes_per_sec"),
    ("save", "lzf_random_bytes_per_sec"),
    ("save", "lzf_repetitive_bytes_per_sec"),
    ("memory", "rss_base"),
    ("cow", "child_base"),
    ("cow", "parent_base"),
    ("forkless", "clone_max_value"),
    ("forkless", "clone_pool"),
    ("restore", "value_bytes_per_sec"),
    ("restore", "lzf_bytes_per_sec"),
    ("restore", "peak_extra"),
    ("restore", "network_bytes_per_sec"),
}


def register(subparsers) -> None:
    """Add ``calibrate``, ``validate`` and ``validate-restore`` to the rbsim command."""
    cal = subparsers.add_parser("calibrate", help="fit a platform profile to harness records")
    cal.add_argument("records", nargs="+", metavar="RECORDS", help="record files or folders")
    cal.add_argument("--base", default="lab", help="profile to start from (default lab)")
    cal.add_argument("--name", default="lab", help="name of the fitted profile")
    cal.add_argument(
        "--train-fraction",
        type=float,
        default=0.6,
        help="share of records to fit on; the rest is held out for validate (default 0.6)",
    )
    cal.add_argument("--out", required=True, metavar="FILE", help="profile YAML to write")
    cal.set_defaults(handler=_calibrate)
    val = subparsers.add_parser("validate", help="predict harness records and report the errors")
    val.add_argument("records", nargs="+", metavar="RECORDS", help="record files or folders")
    val.add_argument("--profile", default="lab", help="platform profile name or file (default lab)")
    val.add_argument("--out", metavar="DIR", help="write a Markdown report with plots to DIR")
    val.set_defaults(handler=_validate)
    rest = subparsers.add_parser("validate-restore", help="fit restore costs on 60%% of restore records, score all")
    rest.add_argument("records", nargs="+", metavar="RECORDS", help="restore record files or folders")
    rest.add_argument("--base", default="lab", help="profile whose other costs the predictions use (default lab)")
    rest.add_argument("--train-fraction", type=float, default=0.6, help="share fitted on (default 0.6)")
    rest.add_argument(
        "--out", metavar="DIR", help="write README.md (per-run and per-metric errors) and fit.yaml to DIR"
    )
    rest.set_defaults(handler=_validate_restore)


def _validate_restore(args) -> int:
    from .restore import restore_command  # scipy and pandas load when the command runs, not for `rbsim --help`

    return restore_command(args)


def _load(paths) -> list[dict]:
    from ..harness.record import RecordError, load_records

    try:
        records = load_records(paths)
    except RecordError as exc:
        raise SystemExit(_fail(str(exc))) from None
    if not records:
        raise SystemExit(_fail(f"no records found in {', '.join(map(str, paths))}"))
    return records


def _fail(message: str) -> int:
    print(f"rbsim: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _calibrate(args) -> int:
    from ..platform import PlatformError, load_platform
    from .calibrate import calibrate, training_split

    if not 0 < args.train_fraction <= 1:
        return _fail("--train-fraction must be in (0, 1]")
    check_out_file(args.out)
    records = _load(args.records)
    try:
        base = load_platform(args.base)
    except PlatformError as exc:
        return _fail(str(exc))
    train, held = training_split(records, args.train_fraction) if args.train_fraction < 1 else (records, [])
    fitted = calibrate(train, base, name=args.name)
    text = platform_yaml(
        fitted,
        f"fitted on {len(train)} of {len(records)} records ({len(held)} held out for rbsim validate), "
        f"starting from {base.name!r}; figures no record pins down (see the fits below) are {base.name!r}'s, "
        f"whose file cites their sources",
    )
    write_atomic(Path(args.out), lambda tmp: tmp.write_text(text))
    for step, fit in (fitted.calibration or {}).get("fits", {}).items():  # calibrate always records its fits
        print(f"{step:<8} {fit}")
    print(f"wrote {args.out} (fitted on {len(train)} records, {len(held)} held out)")
    return 0


def _validate(args) -> int:
    if args.out:
        check_out_dir(args.out)
    from ..platform import PlatformError, load_platform
    from .errors import confusion, error_table, per_kind_table, summary_table
    from .predict import predict
    from .report import write_report

    records = _load(args.records)
    try:
        platform = load_platform(args.profile)
    except PlatformError as exc:
        return _fail(str(exc))
    trained = set((platform.calibration or {}).get("records", [])) | typed_training_ids(records)
    split_records = {
        "held-out": [r for r in records if r["id"] not in trained],
        "training": [r for r in records if r["id"] in trained],
    }
    groups = {k: [predict(r, platform) for r in v] for k, v in split_records.items() if v}
    errors = {k: error_table(v) for k, v in groups.items()}
    for name, comparisons in groups.items():
        print(f"== {name} records: {len(comparisons)}")
        table = summary_table(errors[name])
        print(table.drop(columns=["what"]).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        kinds = per_kind_table(errors[name])
        if len(kinds) > 1 or (len(kinds) and kinds["kind"].iloc[0] != "string"):
            print("per data type (copy-on-write; peaks pinned at the limit apart):")
            print(kinds.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        print("outcomes (rows measured, columns predicted):")
        print(confusion(comparisons).to_string())
        print()
    if args.out:
        path = write_report(
            groups, errors, Path(args.out), f"Validation of platform {platform.name} on harness records"
        )
        print(f"wrote {path}")
    return 0


def typed_training_ids(records: list[dict]) -> set[str]:
    """Ids of the typed records the typed-data physics was examined and corrected on: the typed side of
    :func:`~sim.validation.calibrate.training_split` (60 % of the typed scenarios by a hash of their names);
    the rest stay held out. String records are split by the platform's calibration instead."""
    from .calibrate import training_split
    from .predict import typed

    return {r["id"] for r in training_split([r for r in records if typed(r)])[0]}


def platform_yaml(platform: Platform, note: str) -> str:
    """The profile as YAML, sizes written with a unit so the loader reads them back."""
    import yaml

    data = platform.model_dump(mode="json")
    for section, key in SIZE_FIELDS:
        if data.get(section) is not None:
            data[section][key] = f"{int(data[section][key])}B"
    header = f"# Platform profile {platform.name!r} written by rbsim calibrate: {note}.\n"
    return header + yaml.safe_dump(data, sort_keys=False)
