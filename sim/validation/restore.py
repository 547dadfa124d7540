"""``rbsim validate-restore``: fit the restore costs on part of the restore records, score them on the rest.

Restore records (``rbsim-restore-record/1``, written by ``rbsim harness`` for scenarios with a ``restore:``
block) are split as ``rbsim calibrate`` splits backups, a deterministic 60 % stratified by measured outcome,
except that the hash is of the scenario's name, so repeated runs of one scenario stay on one side.
On the training part the load's per-key, per-RDB-byte and per-LZF-byte costs are fitted by non-negative least
squares to the server's CPU seconds during the load (utime + stime), not its wall time: the load is one
thread, and on a machine others share the wall time stretches by their work while the CPU time does not.
The loader's extra memory is the median of measured peak RSS minus the model's RSS. Then every record is
predicted: load time (vs CPU and, for information, wall), peak RSS while loading, used_memory after it,
the outcome (ok / over-maxmemory / oom: fit or no fit) and the replica's full sync time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import nnls

from ..platform import Platform, load_platform
from ..prepare import prepare
from ..restore import lzf_raw_bytes, restore_fields
from ..scenario import parse_scenario
from .calibrate import split

SCHEMA = "rbsim-restore-record/1"
QUIET_BUSY = 0.75
"""Loads fitted on: the machine's busy share at most this (the loading server alone makes ~0.5 of 2 cores).
Under heavy sharing even CPU time stretches (shared caches and memory bandwidth), so busier loads are scored
but not fitted on, unless fewer than 3 quiet ones are left."""
METRICS = {
    "load_cpu": ("restore_load_s", "load_cpu_s", "RDB load time vs the server's CPU seconds (fitted on these)"),
    "load_wall": ("restore_load_s", "load_log_s", "RDB load time vs the wall time Redis logs (others' work inflates it)"),
    "peak_memory": ("restore_peak_memory_bytes", "peak_rss", "peak RSS while loading"),
    "used_memory": ("restore_used_memory_bytes", "used_memory", "used_memory after the load"),
    "replica_sync": ("replica_sync_s", "sync_wall_s", "a replica's full sync (wall)"),
}


def register(subparsers) -> None:
    """Add ``validate-restore`` to the rbsim command."""
    p = subparsers.add_parser("validate-restore", help="fit restore costs on 60%% of restore records, score all")
    p.add_argument("records", nargs="+", metavar="RECORDS", help="restore record files or folders")
    p.add_argument("--base", default="lab", help="profile whose other costs the predictions use (default lab)")
    p.add_argument("--train-fraction", type=float, default=0.6, help="share fitted on (default 0.6)")
    p.add_argument("--out", metavar="DIR", help="write README.md (per-run and per-metric errors) and fit.yaml to DIR")
    p.set_defaults(handler=_command)


def load_restore_records(paths: list[str]) -> list[dict]:
    """Restore records from files and folders, sorted by creation time; SystemExit(2) on a bad file."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    records = []
    for f in files:
        try:
            r = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(_fail(f"{f}: cannot read a restore record: {exc}"))
        if not isinstance(r, dict) or r.get("schema") != SCHEMA:
            raise SystemExit(_fail(f"{f}: not a {SCHEMA} record"))
        records.append(r)
    if not records:
        raise SystemExit(_fail(f"no restore records in {', '.join(paths)}"))
    return sorted(records, key=lambda r: (r["created"], r["id"]))


def split_by_scenario(records: list[dict], train_fraction: float = 0.6) -> tuple[list[dict], list[dict]]:
    """:func:`~sim.validation.calibrate.split` over scenarios (each judged by its first record's outcome)."""
    by_name: dict[str, list[dict]] = {}
    for r in records:
        by_name.setdefault(r["scenario"]["name"], []).append(r)
    firsts = [{"id": name, "measured": runs[0]["measured"]} for name, runs in by_name.items()]
    train, held = split(firsts, train_fraction)
    return ([r for f in train for r in by_name[f["id"]]], [r for f in held for r in by_name[f["id"]]])


def _fail(message: str) -> int:
    print(f"rbsim: {message}", file=sys.stderr)
    return 2


def prepared(record: dict, platform: Platform):
    """The simulator's view of a record's scenario on ``platform``."""
    scenario = parse_scenario(record["scenario_yaml"], source=record["scenario_file"])
    return prepare(scenario, platform=platform)


def fit_costs(records: list[dict], base: Platform) -> tuple[Platform, dict]:
    """``base`` with restore costs fitted to the loads in ``records`` (CPU seconds), and the fit's facts."""
    rows, y, extra = [], [], []
    cost = base.restore
    loads = [r for r in records if r["measured"].get("loaded") and r["measured"].get("load_cpu_s") is not None]
    quiet = [r for r in loads if r["measured"]["machine_busy_share"] <= QUIET_BUSY]
    for r in quiet if len(quiet) >= 3 else loads:
        m = r["measured"]
        p = prepared(r, base)
        s = p.scenario
        rows.append([p.keys / 1e6, p.keys * p.value_size, lzf_raw_bytes(p.keys, p.value_size, s.dataset.value_pattern,
                                                                 s.backup.compression)])
        y.append(m["load_cpu_s"])
        extra.append(_peak_rss(m) - restore_fields(p)["restore_peak_memory_bytes"] + cost.peak_extra)
    if len(y) < 3:
        return base, {"skipped": f"{len(y)} loads in the training set (need 3)"}
    x, y = np.array(rows, float), np.array(y, float)
    coef, _ = nnls(x, y)
    fitted = x @ coef
    restore = cost.model_copy(update={
        "us_per_key": float(coef[0]),
        "value_bytes_per_sec": int(1 / coef[1]) if coef[1] > 0 else cost.value_bytes_per_sec,
        "lzf_bytes_per_sec": int(1 / coef[2]) if coef[2] > 0 else cost.lzf_bytes_per_sec,
        "peak_extra": int(max(0.0, float(np.median(extra)))),
    })
    err = np.abs(fitted - y) / y * 100
    facts = {"runs": len(y), "quiet_runs_only": len(quiet) >= 3, "median_abs_error_pct": float(np.median(err)), "worst_abs_error_pct": float(err.max()),
             "records": sorted(r["id"] for r in records)}
    return base.model_copy(update={"restore": restore}), facts


def _peak_rss(m: dict) -> float:
    """Measured peak resident memory of a load: the larger of the sampled anon peak and the final RSS."""
    return float(max(m.get("peak_anon_sampled_bytes") or 0, m.get("used_memory_rss") or 0))


def measured(record: dict) -> dict:
    """The measured side of a record under the metric names of :data:`METRICS`."""
    m, s = record["measured"], record.get("replica_sync") or {}
    return {"load_cpu_s": m.get("load_cpu_s") if m.get("loaded") else None,
            "load_log_s": m.get("load_log_s"),
            "peak_rss": _peak_rss(m) if m.get("loaded") else None,
            "used_memory": m.get("used_memory"),
            "sync_wall_s": s.get("sync_wall_s") if s.get("status") == "ok" else None,
            "outcome": m["outcome"], "machine_busy_share": m.get("machine_busy_share")}


def compare(record: dict, platform: Platform, group: str) -> dict:
    """One row: predicted vs measured for every metric, and the outcomes."""
    pred = restore_fields(prepared(record, platform))
    meas = measured(record)
    row = {"run": record["id"].rsplit("-", 2)[0], "group": group, "busy": meas["machine_busy_share"],
           "outcome": meas["outcome"], "predicted_outcome": pred["restore_outcome"],
           "fit_right": (meas["outcome"] == "ok") == pred["restore_fits"]}
    for name, (p_key, m_key, _) in METRICS.items():
        p, m = pred[p_key], meas[m_key]
        row[f"{name}_pred"], row[f"{name}_meas"] = p, m
        row[f"{name}_err_pct"] = 100 * (p - m) / m if p is not None and m else None
    return row


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Median and worst absolute error per metric and group (and of the held-out loads on a quiet machine)."""
    out = []
    quiet = rows[(rows["group"] == "held-out") & (rows["busy"] <= QUIET_BUSY)].assign(group=f"held-out, busy <= {QUIET_BUSY}")
    for group, g in pd.concat([rows, quiet]).groupby("group", sort=False):
        for name, (_, _, what) in METRICS.items():
            e = g[f"{name}_err_pct"].dropna().abs()
            out.append({"group": group, "metric": name, "runs": len(e), "median_abs_err_pct": e.median() if len(e) else None,
                        "worst_abs_err_pct": e.max() if len(e) else None, "what": what})
        out.append({"group": group, "metric": "fit_or_not", "runs": len(g), "median_abs_err_pct": None,
                    "worst_abs_err_pct": None, "what": f"{int(g['fit_right'].sum())} of {len(g)} right"})
    return pd.DataFrame(out)


def _command(args) -> int:
    if not 0 < args.train_fraction < 1:
        return _fail("--train-fraction must be in (0, 1)")
    records = load_restore_records(args.records)
    base = load_platform(args.base)
    if base.restore is None:  # start from the hand-written first guesses
        base = base.model_copy(update={"restore": load_platform("lab-uncalibrated").restore})
    train, held = split_by_scenario(records, args.train_fraction)
    platform, facts = fit_costs(train, base)
    rows = pd.DataFrame([compare(r, platform, "held-out") for r in held] +
                        [compare(r, platform, "training") for r in train])
    table = summary(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    block = {"restore": _restore_yaml(platform), "fit": {k: v for k, v in facts.items() if k != "records"}}
    print(yaml.safe_dump(block, sort_keys=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "fit.yaml").write_text(yaml.safe_dump({**block, "records": facts.get("records", [])}, sort_keys=False))
        (out / "README.md").write_text(_markdown(rows, table, facts, len(records)))
        print(f"wrote {out / 'README.md'}")
    return 0


def _restore_yaml(platform: Platform) -> dict:
    data = platform.restore.model_dump()
    for key in ("value_bytes_per_sec", "lzf_bytes_per_sec", "peak_extra", "network_bytes_per_sec"):
        data[key] = f"{int(data[key])}B"
    return data


def _markdown(rows: pd.DataFrame, table: pd.DataFrame, facts: dict, n: int) -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    def md(df: pd.DataFrame) -> str:
        lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
        lines += ["| " + " | ".join(cell(v) for v in rec) + " |" for rec in df.itertuples(index=False)]
        return "\n".join(lines)

    cols = ["run", "group", "busy", "outcome", "predicted_outcome", "load_cpu_pred", "load_cpu_meas", "load_cpu_err_pct",
            "load_wall_meas", "load_wall_err_pct", "peak_memory_pred", "peak_memory_meas", "peak_memory_err_pct",
            "replica_sync_pred", "replica_sync_meas", "replica_sync_err_pct"]
    per_run = rows[cols].copy()
    for c in ("peak_memory_pred", "peak_memory_meas"):
        per_run[c] = per_run[c].map(lambda v: None if v is None or v != v else v / 2**20)
    per_run = per_run.rename(columns={"peak_memory_pred": "peak_pred_MiB", "peak_memory_meas": "peak_meas_MiB"})
    return "\n\n".join([
        "# Restore validation",
        f"Written by `rbsim validate-restore` from {n} real restores (`reports/validation/restore-records`). "
        f"The restore costs were fitted on {facts.get('runs', 0)} loads of the training split "
        "(deterministic 60 %, stratified by outcome) against the server's CPU seconds; the held-out runs were "
        "not used for the fit. `busy` is the machine's busy share during the load (1.0 = both cores busy; "
        "the restoring server alone makes about 0.5).",
        "## Errors per metric (absolute %, predicted vs measured)",
        md(table),
        "## Every run",
        md(per_run),
    ]) + "\n"
