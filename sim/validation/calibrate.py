"""Fit a platform profile's parameters to harness records (``rbsim calibrate``).

Each parameter is fitted on the records that isolate it, in this order:

1. fork: ``latest_fork_usec`` = base + per-GiB x RSS (least squares), on every record: string and typed
   records alike, so the fit spans the machines (sessions) they were taken on;
2. memory: RSS = base + fragmentation x the model's used_memory, on every record;
3. save: the duration of completed saves without paging is linear in the per-key cost, the
   stored bytes, the bytes LZF scans and the number of ``usleep`` calls of ``rdb-key-save-delay``
   (on a quiet machine the write loads of the set barely slow the child, so all such saves count);
   only records of plain string data, the only ones these features describe;
4. copy-on-write base: the child's private memory after a save with no writes;
5. paging: the major-fault time that best predicts the saves that paged.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
from scipy.optimize import minimize_scalar, nnls

from ..physics.save import lzf_scanned_bytes
from ..platform import Platform
from ..prepare import prepare
from ..units import GIB
from .predict import predict, prediction_scenario, typed


def split(records: list[dict], train_fraction: float = 0.6) -> tuple[list[dict], list[dict]]:
    """Deterministic split by a hash of each record id, stratified by measured outcome."""
    train, held = [], []
    by_outcome: dict[str, list[dict]] = {}
    for r in records:
        by_outcome.setdefault(r["measured"]["outcome"], []).append(r)
    for group in by_outcome.values():
        group = sorted(group, key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
        cut = max(1, round(len(group) * train_fraction)) if len(group) > 1 else len(group)
        train += group[:cut]
        held += group[cut:]
    return train, held


def split_by_scenario(records: list[dict], train_fraction: float = 0.6) -> tuple[list[dict], list[dict]]:
    """:func:`split` over scenarios (each judged by its first record's outcome)."""
    by_name: dict[str, list[dict]] = {}
    for r in records:
        by_name.setdefault(r["scenario"]["name"], []).append(r)
    firsts = [{"id": name, "measured": runs[0]["measured"]} for name, runs in by_name.items()]
    train, held = split(firsts, train_fraction)
    return ([r for f in train for r in by_name[f["id"]]], [r for f in held for r in by_name[f["id"]]])


def training_split(records: list[dict], train_fraction: float = 0.6) -> tuple[list[dict], list[dict]]:
    """(training, held out): string records split one by one (:func:`split`), typed records by scenario, so
    repeated runs of one typed scenario are never on both sides. ``rbsim validate`` holds out the same."""
    strings = [r for r in records if not typed(r)]
    typed_train, typed_held = split_by_scenario([r for r in records if typed(r)], train_fraction)
    train, held = split(strings, train_fraction) if strings else ([], [])
    return train + typed_train, held + typed_held


def calibrate(records: list[dict], base: Platform, name: str = "lab") -> Platform:
    """A copy of ``base`` with every parameter the records can pin down refitted."""
    usable = [r for r in records if r["measured"]["outcome"] != "timeout"]
    fits: dict[str, dict] = {}
    platform = base
    platform, fits["fork"] = _fit_fork(platform, usable)
    platform, fits["memory"] = _fit_memory(platform, usable)
    platform, fits["save"] = _fit_save(platform, usable)
    platform, fits["cow"] = _fit_cow_base(platform, usable)
    platform, fits["paging"] = _fit_paging(platform, usable)
    return platform.model_copy(
        update={
            "name": name,
            "calibration": {
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "records": sorted(r["id"] for r in usable),
                "fits": fits,
            },
        }
    )


def _fit_fork(platform: Platform, records: list[dict]) -> tuple[Platform, dict]:
    rows = [
        (r["fill"]["used_memory_rss"] / GIB, r["measured"]["fork_usec"] / 1000)
        for r in records
        if r["measured"].get("fork_usec")
    ]
    if len(rows) < 3:
        return platform, {"skipped": "fewer than 3 forks"}
    x, y = np.array(rows).T
    coef, _ = nnls(np.column_stack([np.ones_like(x), x]), y)
    fork = platform.fork.model_copy(update={"base_ms": float(coef[0]), "ms_per_gib": float(coef[1])})
    return platform.model_copy(update={"fork": fork}), {"runs": len(rows), **_residuals(y, coef[0] + coef[1] * x)}


def _fit_memory(platform: Platform, records: list[dict]) -> tuple[Platform, dict]:
    rows = []
    for r in records:
        p = prepare(prediction_scenario(r), platform=platform)
        rows.append((p.used_memory, r["fill"]["used_memory_rss"]))
    x, y = np.array(rows, float).T
    coef, _ = nnls(np.column_stack([np.ones_like(x), x]), y)
    frag = float(np.clip(coef[1], 1.0, 3.0))
    base = float(max(0.0, np.median(y - frag * x)))
    memory = platform.memory.model_copy(update={"rss_base": int(base), "fragmentation": frag})
    return platform.model_copy(update={"memory": memory}), {"runs": len(rows), **_residuals(y, base + frag * x)}


def _save_features(record: dict, platform: Platform) -> tuple[np.ndarray, float]:
    """(features, known seconds) of a save: keys, stored bytes, LZF bytes by pattern, sleeps."""
    scenario = prediction_scenario(record)
    p = prepare(scenario, platform=platform)
    data, backup = scenario.dataset, scenario.backup
    lzf = lzf_scanned_bytes(p.keys, p.value_size, backup.compression)
    delay = backup.rdb_key_save_delay_us
    sleeps = p.keys if delay > 0 else (p.keys / -delay if delay < 0 else 0.0)
    slept = p.keys * delay / 1e6 if delay > 0 else (sleeps / 1e6 if delay < 0 else 0.0)
    features = np.array(
        [
            p.keys / 1e6,
            p.rdb_bytes,
            lzf if data.value_pattern == "random" else 0.0,
            lzf if data.value_pattern == "repetitive" else 0.0,
            sleeps / 1e6,
        ]
    )
    return features, slept


def _fit_save(platform: Platform, records: list[dict]) -> tuple[Platform, dict]:
    quiet = [r for r in records if _clean_save(r) and not typed(r)]
    if len(quiet) < 5:
        return platform, {"skipped": "fewer than 5 completed saves without paging"}
    rows = [_save_features(r, platform) for r in quiet]
    X = np.array([f for f, _ in rows])
    y = np.array([r["measured"]["save_duration_s"] - slept for r, (_, slept) in zip(quiet, rows, strict=True)])
    scale = X.max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(X / scale, y)
    coef = coef / scale
    us_per_key, s_per_byte, s_per_lzf_random, s_per_lzf_rep, overhead_us = coef
    cost = platform.save.model_copy(
        update={
            "us_per_key": float(us_per_key),
            "write_bytes_per_sec": _rate(s_per_byte, platform.save.write_bytes_per_sec),
            "lzf_random_bytes_per_sec": _rate(s_per_lzf_random, platform.save.lzf_random_bytes_per_sec),
            "lzf_repetitive_bytes_per_sec": _rate(s_per_lzf_rep, platform.save.lzf_repetitive_bytes_per_sec),
            "delay_overhead_us": float(overhead_us),
        }
    )
    platform = platform.model_copy(update={"save": cost})
    fitted = X @ coef
    return platform, {"runs": len(quiet), **_residuals(y, fitted)}


def _rate(seconds_per_byte: float, fallback: int) -> int:
    """Bytes per second from a fitted cost; a cost the data cannot see keeps the previous figure."""
    return int(1.0 / seconds_per_byte) if seconds_per_byte > 1e-12 else int(fallback)


def _fit_cow_base(platform: Platform, records: list[dict]) -> tuple[Platform, dict]:
    idle = [
        r["measured"]["rdb_last_cow_size"]
        for r in records
        if _clean_save(r) and not _writes(r) and r["measured"].get("rdb_last_cow_size") is not None
    ]
    if not idle:
        return platform, {"skipped": "no saves without writes: the profile's base is kept"}
    base = float(np.median(idle))
    cow = platform.cow.model_copy(update={"child_base": int(base * 0.5), "parent_base": int(base * 0.5)})
    return platform.model_copy(update={"cow": cow}), {"runs": len(idle), "median_bytes": base}


def _fit_paging(platform: Platform, records: list[dict]) -> tuple[Platform, dict]:
    paged = [r for r in records if r["measured"]["outcome"] == "paging" and r["measured"].get("backup_completed")]
    if not paged:
        return platform, {"skipped": "no completed saves that paged"}

    def with_fault(us: float) -> Platform:
        return platform.model_copy(
            update={"paging": platform.paging.model_copy(update={"fault_us": us, "page_out_us": us / 4})}
        )

    def loss(us: float) -> float:
        errs = [
            np.log(predict(r, with_fault(us)).predicted["save_duration_s"] / r["measured"]["save_duration_s"])
            for r in paged
        ]
        return float(np.mean(np.square(errs)))

    best = minimize_scalar(loss, bounds=(1.0, 2000.0), method="bounded", options={"xatol": 1.0})
    return with_fault(float(best.x)), {
        "runs": len(paged),
        "fault_us": float(best.x),
        "rms_log_error": float(np.sqrt(best.fun)),
    }


def _clean_save(record: dict) -> bool:
    m = record["measured"]
    return bool(m.get("backup_completed")) and m["outcome"] == "ok" and m.get("save_duration_s")


def _writes(record: dict) -> float:
    return float(record["load"].get("served_writes_per_sec_before") or 0.0)


def _residuals(y: np.ndarray, fitted: np.ndarray) -> dict:
    rel = (fitted - y) / y
    return {
        "median_abs_error_pct": float(100 * np.median(np.abs(rel))),
        "worst_abs_error_pct": float(100 * np.max(np.abs(rel))),
    }
