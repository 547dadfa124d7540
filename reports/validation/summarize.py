"""Print the Markdown table of the validation records (used for reports/validation/README.md).

``.venv/bin/python reports/validation/summarize.py [DIR]`` (default: reports/validation/records).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim.harness.record import load_records

HERE = Path(__file__).resolve().parent
MiB = 1 << 20


def dist_text(d: dict) -> str:
    if "zipf" in d:
        return f"Zipf {d['zipf']}"
    if "hot_set" in d:
        h = d["hot_set"]
        return f"hot {h['keys']:.0%}/{h['writes']:.0%}"
    return "uniform"


def size_text(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / MiB:.0f} MiB"


def row(r: dict) -> str:
    s, m, c, f, ld = r["scenario"], r["measured"], r["config"], r["fill"], r["load"]
    name = Path(r["scenario_file"]).name
    engine = f"{r['server']['flavor']} {r['server']['version']}"
    limit = size_text(c["limit_bytes"]) + (f" + {size_text(c['swap_bytes'])} swap" if c["swap_bytes"] else "")
    if c["oom_score_adj"]:
        limit += ", adj"
    outcome = m["outcome"] + (f" ({m['oom_victim']})" if m["oom_victim"] else "")
    cow = m["rdb_last_cow_size"] if m["rdb_last_cow_size"] is not None else m.get("cow_peak_sampled_bytes")
    served = ld["served_writes_per_sec_during_save"]

    def n(x, fmt):
        return "–" if x is None else format(x, fmt)

    return (
        "| "
        + " | ".join(
            [
                name,
                engine,
                f"{size_text(f['used_memory'] or 0)} ({f['keys'] / 1e6:.2f}M keys)" if f["keys"] else "–",
                f"{s['dataset']['value_size']} B {s['dataset']['value_pattern'][:3]}"
                + ("" if c["compression"] else ", nocomp"),
                f"{ld['target_writes_per_sec'] / 1000:g}k ({n(served and served / 1000, '.1f')}k)",
                dist_text(ld["distribution"]),
                str(c["rdb_key_save_delay"]),
                limit,
                f"**{outcome}**",
                n(m["fork_usec"] and m["fork_usec"] / 1000, ".0f"),
                n(m["save_duration_s"], ".1f"),
                n(cow and cow / MiB, ".0f"),
                n(m["swap_peak_bytes"] and m["swap_peak_bytes"] / MiB, ".0f"),
                n(m["ping_max_ms"], ".0f"),
                f"{r['machine']['loadavg_before'][0]:.1f}",
                n(m.get("wall_s"), ".0f"),
            ]
        )
        + " |"
    )


HEADER = (
    "| file | engine | dataset (used_memory) | value | writes/s target (served in save) | distribution | delay µs "
    "| limit | outcome | fork ms | save s | COW MiB | swap MiB | ping max ms | load | wall s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str]) -> None:
    folder = Path(argv[0]) if argv else HERE / "records"
    records = sorted(load_records(folder), key=lambda r: (Path(r["scenario_file"]).name, r["created"]))
    print(HEADER)
    for r in records:
        print(row(r))
    outcomes: dict[str, int] = {}
    for r in records:
        outcomes[r["measured"]["outcome"]] = outcomes.get(r["measured"]["outcome"], 0) + 1
    wall = sum(r["measured"].get("wall_s") or 0 for r in records)
    print(
        f"\n{len(records)} records; outcomes "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        + f"; total wall time {wall / 60:.1f} min"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
