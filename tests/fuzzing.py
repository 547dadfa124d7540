"""Malformed and extreme inputs for rbsim's command line, and a judge of what the command did with them.

Used by tests/test_fuzz.py (a bounded hypothesis run in the suite) and scripts/fuzz.py (N cases, counts
by class). A case is a scenario file, a plan block, sweep arguments or a harness record; it runs through
the real entry point :func:`sim.cli.main` in this process, under a wall-clock alarm, and is judged:

* ``ok``: exit 0 (or plan's 1, no recommendation) and no ``nan``/``inf`` in what it printed;
* ``error``: exit 2 with a message naming the file or the option, no traceback;
* ``vague``: exit 2 without naming the file or option;
* ``nonfinite``: accepted, but printed ``nan`` or ``inf``;
* ``traceback``: an exception escaped, or a sweep row failed with an exception that is not bad input;
* ``hang``: still running when the alarm went off.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
RECORDS = sorted((REPO / "reports" / "validation" / "records").glob("*.json"))
QUICK_RECORDS = [p for p in RECORDS if '"outcome": "ok"' in p.read_text() and '"swap_peak_bytes": 0' in p.read_text()]
"""Records whose calibration is quick (fitting paging records takes ~20 s by itself)."""
CLASSES = ("ok", "error", "vague", "nonfinite", "traceback", "hang")
NON_FINITE = re.compile(r"(?<![\w.])-?(nan|inf)(?![\w])", re.IGNORECASE)
INPUT_ERRORS = (
    "ScenarioError",
    "UnitError",
    "DayLoadError",
    "PlatformError",
    "YamlError",
    "FileReadError",
    "FieldPathError",
    "InputError",
    "NotImplementedError",
)

NASTY = [
    ".nan",
    ".inf",
    "-.inf",
    "1e400",
    "1e400GiB",
    "1e400/s",
    "-1",
    "0",
    "1e-300",
    "9" * 4301,
    "2020-13-45",
    "!!bool maybe",
    "!!int 1.5",
    "!!float abc",
    "14:00",
    "25:61",
    "23:59:59",
    "18446744073709551617",
    "1e19",
    "3e19",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    "~",
    "null",
    "true",
    "'" + "x" * 200_000 + "'",
    '"\\0"',
    "*undefined",
    "\U0001f4a5",
    "1.5k",
    "20k/s",
    "1.2M/min",
    "512MiB",
    "13.07GiB",
    "100%",
    "150%",
    "-5%",
    "0.5",
    "1e9",
    "1e8",
    "1e8/s",
    "uniform",
    "{zipf: 0.99}",
    "{zipf: 100}",
    "{hot_set: {keys: 10%, writes: 90%}}",
    "{hot_set: {keys: 0%, writes: 90%}}",
    "1h",
    "500ms",
    "1e12s",
    "0s",
    "'0B'",
    "1B",
    "1TiB",
    "100TiB",
    "[" * 200 + "]" * 200,
    "{a: &a [1, 2], b: [*a, *a]}",
    "2^64",
    "0x10",
    "0o17",
    "yes",
    "off",
    "'  '",
]
UNITS = ["", "B", "KB", "KiB", "MiB", "GiB", "TiB", "k", "M", "G", "/s", "k/min", "%", "ms", "s", "h", "x"]
SCENARIO_FIELDS = [
    "name",
    "description",
    "engine.name",
    "engine.version",
    "engine.allocator",
    "node.type",
    "node.memory",
    "node.swap",
    "node.reserved_memory_percent",
    "node.reserved_memory",
    "node.transparent_huge_pages",
    "node.oom_score_adj",
    "platform",
    "dataset.keys",
    "dataset.value_size",
    "dataset.used_memory",
    "dataset.key_size",
    "dataset.value_pattern",
    "workload.writes_per_sec",
    "workload.reads_per_sec",
    "workload.key_distribution",
    "workload.new_keys_fraction",
    "workload.clients",
    "workload.daily_profile",
    "backup.source",
    "backup.method",
    "backup.rdb_key_save_delay_us",
    "backup.compression",
    "backup.start",
    "backup.kind",
    "backup.per_day",
    "backup.retention_days",
    "simulation.before",
    "simulation.after",
    "cluster.shards",
    "cluster.skew",
    "typo.field",
    "workload.writes_per_second",
]
PLAN_FIELDS = [
    "node_types",
    "reserved_memory_percent",
    "sources",
    "windows",
    "window_length",
    "replicas",
    "retention_days",
    "objectives.no_oom",
    "objectives.max_swap",
    "objectives.max_latency_ms",
    "objectives.max_p99_latency_ms",
    "objectives.backup_within_window",
    "objectives.min_headroom",
    "uncertainty",
    "max_failure_probability",
    "typo",
]
BASE_SCENARIO = {
    "name": "fuzz",
    "node.type": "cache.r6g.large",
    "dataset.keys": "200k",
    "dataset.value_size": "1KB",
    "workload.writes_per_sec": "5k",
    "simulation.before": "1s",
    "simulation.after": "1s",
}
BASE_PLAN = {
    "node_types": "[cache.r6g.large]",
    "reserved_memory_percent": "[25]",
    "windows": "['02:00']",
    "replicas": "0",
    "objectives.no_oom": "true",
}
RECORD_FIELDS = [
    ("measured", "fork_usec"),
    ("measured", "outcome"),
    ("measured", "save_duration_s"),
    ("measured", "rdb_last_cow_size"),
    ("measured", "peak_container_bytes"),
    ("measured", "ping_max_ms"),
    ("fill", "used_memory_rss"),
    ("fill", "key_name_bytes_mean"),
    ("fill", "keys"),
    ("load", "served_writes_per_sec_before"),
    ("load", "target_writes_per_sec"),
    ("config", "limit_bytes"),
    ("", "scenario_yaml"),
    ("", "timeline"),
    ("", "pings"),
    ("", "id"),
    ("", "measured"),
    ("", "created"),
]
JSON_NASTY = [
    "fast",
    -1,
    1e308,
    float("nan"),
    float("inf"),
    None,
    [],
    {},
    True,
    10**30,
    "",
    [[1, 2, 3]],
    "name: x\nnode: {memory: 1e400GiB}\ndataset: {keys: 1, value_size: 1B}\n",
    "\udcff",
]


quantities = st.builds(
    lambda number, unit: f"{number}{unit}",
    st.one_of(
        st.integers(-10, 10**22),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from(["1e400", "1e-400", "2e19", "1.8e19"]),
    ),
    st.sampled_from(UNITS),
)
values = st.one_of(
    st.sampled_from(NASTY),
    quantities,
    st.text(max_size=30).map(lambda t: json.dumps(t)),
    st.lists(st.sampled_from(NASTY[:60]), max_size=30).map(lambda v: "[" + ", ".join(v) + "]"),
)


numbers = st.one_of(
    st.integers(0, 10**6),
    st.floats(0, 1e20, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 1e-9, 1e7, 1e8, 1e12, 2**53, 2**64, 3e19]),
)


def _with(units: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda n, u: f"{n}{u}", numbers, st.sampled_from(units))


SIZES = _with(["B", "KB", "KiB", "MiB", "GiB", "TiB"])
COUNTS = _with(["", "k", "M", "G"])
RATES = _with(["", "k", "M", "/s", "k/s", "M/min", "/h"])
DURATIONS = _with(["ms", "s", "min", "h"])
FRACTIONS = st.one_of(st.floats(0, 1).map(str), st.integers(0, 100).map(lambda p: f"{p}%"))
TIMES = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 25), st.integers(0, 61))
GOOD = {
    "node.memory": SIZES,
    "node.swap": SIZES,
    "node.reserved_memory": SIZES,
    "dataset.value_size": SIZES,
    "dataset.used_memory": SIZES,
    "dataset.key_size": SIZES,
    "dataset.keys": COUNTS,
    "workload.writes_per_sec": RATES,
    "workload.reads_per_sec": RATES,
    "workload.new_keys_fraction": FRACTIONS,
    "workload.clients": st.integers(1, 10**9).map(str),
    "backup.start": TIMES,
    "simulation.before": DURATIONS,
    "simulation.after": DURATIONS,
    "node.reserved_memory_percent": st.floats(0, 100).map(str),
    "workload.key_distribution": st.one_of(
        st.just("uniform"),
        st.floats(0.01, 5).map(lambda z: f"{{zipf: {z}}}"),
        st.tuples(FRACTIONS, FRACTIONS).map(lambda kw: f"{{hot_set: {{keys: {kw[0]}, writes: {kw[1]}}}}}"),
    ),
    "workload.daily_profile": st.lists(RATES, min_size=24, max_size=24).map(
        lambda r: "{writes_per_sec: [" + ", ".join(r) + "]}"
    ),
    "cluster.shards": st.integers(1, 500).map(str),
    "cluster.skew": st.one_of(st.just("uniform"), st.floats(0.01, 5).map(lambda z: f"{{zipf: {z}}}")),
    "backup.method": st.sampled_from(["auto", "fork", "forkless"]),
    "backup.source": st.sampled_from(["primary", "replica"]),
    "backup.rdb_key_save_delay_us": st.integers(-1_000_000, 1_000_000).map(str),
    "engine.version": st.sampled_from(["2.8.19", "2.8.22", "6.0.9", "7.0.15", "7.2"]),
    "node.type": st.sampled_from(["cache.t4g.micro", "cache.m2.4xlarge", "cache.r6g.16xlarge", "cache.t1.micro"]),
    "platform": st.sampled_from(["nitro", "xen-pv", "lab", "lab-uncalibrated"]),
    "name": st.text(max_size=300).map(json.dumps),
    "description": st.text(max_size=50).map(json.dumps),
    "dataset.value_pattern": st.sampled_from(["random", "repetitive"]),
    "backup.retention_days": st.integers(0, 35).map(str),
    "backup.per_day": st.integers(1, 1440).map(str),
    "backup.kind": st.sampled_from(["automatic", "manual", "final"]),
    "backup.compression": st.sampled_from(["true", "false"]),
    "engine.name": st.sampled_from(["redis", "valkey"]),
    "engine.allocator": st.sampled_from(["jemalloc", "libc"]),
    "node.transparent_huge_pages": st.sampled_from(["true", "false"]),
    "node.oom_score_adj": st.sampled_from(["true", "false"]),
}


def field_value(path: str) -> st.SearchStrategy[str]:
    """Mostly a well-formed but extreme value for the field, sometimes a malformed one."""
    good = GOOD.get(path)
    return values if good is None else st.one_of(good, good, good, good, good, values)


def render(fields: dict[str, str]) -> str:
    """YAML text of dotted fields whose values are raw YAML text (tags, aliases and all)."""
    groups: dict[str, dict[str, str]] = {}
    lines = []
    for path, raw in fields.items():
        head, _, rest = path.partition(".")
        if rest:
            groups.setdefault(head, {})[rest] = raw
        else:
            lines.append(f"{head}: {raw}")
    for head, inner in groups.items():
        lines.append(f"{head}:")
        lines += [f"  {key}: {raw}" for key, raw in inner.items()]
    return "\n".join(lines) + "\n"


def plan_text(fields: dict[str, str]) -> str:
    """A ``plan:`` block of dotted fields, indented under the scenario."""
    lines = ["plan:"]
    groups: dict[str, dict[str, str]] = {}
    for path, raw in fields.items():
        head, _, rest = path.partition(".")
        if rest:
            groups.setdefault(head, {})[rest] = raw
        else:
            lines.append(f"  {head}: {raw}")
    for head, inner in groups.items():
        lines.append(f"  {head}:")
        lines += [f"    {key}: {raw}" for key, raw in inner.items()]
    return "\n".join(lines) + "\n"


MUTATIONS = ("none",) * 12 + ("latin1", "truncate", "nul", "tab", "bom", "csv", "csv-bad")


@dataclass
class Case:
    """One run of the command line: argv, files to write first, and what names the input in an error."""

    kind: str
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    names: tuple[str, ...] = ()


def _mutate(text: str, mutation: str, data: st.DataObject) -> tuple[bytes, dict[str, bytes]]:
    raw = text.encode("utf-8", "surrogatepass")
    extra: dict[str, bytes] = {}
    if mutation == "latin1":
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\xe9\xff" + raw[at:]
    elif mutation == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif mutation == "nul":
        raw += b"description: a\x00b\n"
    elif mutation == "tab":
        raw = raw.replace(b"  ", b"\t", 1)
    elif mutation == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif mutation in ("csv", "csv-bad"):
        raw += b"workload:\n  daily_profile: {csv: day.csv}\n" if b"workload:" not in raw else b""
        rows = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["00:00", "12:00", "25:00", "x", "14:30", ""]),
                    st.sampled_from(["1k", ".nan", "1e400", "-1", "x" * 140_000, ""]),
                ),
                max_size=4,
            )
        )
        body = "time,writes_per_sec\n" + "".join(f"{t},{w}\n" for t, w in rows)
        extra["day.csv"] = body.encode() + (b"\xff\xfe\n" if mutation == "csv-bad" else b"")
    return raw, extra


@st.composite
def scenario_cases(draw, with_plan: bool = False, extreme_only: bool = False) -> Case:
    """A scenario file (optionally with a plan block) with a few fields set to malformed or extreme values.

    ``extreme_only``: well-formed values only (the physics at its extremes, not the parser).
    """
    data = draw(st.data())
    fields = dict(BASE_SCENARIO)
    paths = sorted(GOOD) if extreme_only else SCENARIO_FIELDS
    for path in draw(st.lists(st.sampled_from(paths), min_size=0 if with_plan else 1, max_size=5)):
        fields[path] = draw(GOOD[path] if extreme_only else field_value(path))
    if "cluster.skew" in fields and "cluster.shards" not in fields:
        fields["cluster.shards"] = draw(st.sampled_from(["500", "499", "1", "501", "3"]))
    text = render(fields)
    if with_plan:
        plan = dict(BASE_PLAN)
        for path in draw(st.lists(st.sampled_from(PLAN_FIELDS), min_size=1, max_size=3)):
            plan[path] = draw(
                st.one_of(values, st.sampled_from(_PLAN_VALUES), *[PLAN_GOOD[path]] * 3)
                if path in PLAN_GOOD
                else st.one_of(values, st.sampled_from(_PLAN_VALUES))
            )
        text += plan_text(plan)
    raw, extra = _mutate(text, "none" if extreme_only else draw(st.sampled_from(MUTATIONS)), data)
    files = {"s.yaml": raw, **extra}
    if with_plan:
        return Case("plan", ["plan", "{dir}/s.yaml", "--workers", "1", "--quiet"], files, ("s.yaml",))
    argv = ["run", "{dir}/s.yaml"] + draw(st.sampled_from([[], [], ["--json"], ["--out", "{dir}/out"]]))
    return Case("extreme" if extreme_only else "scenario", argv, files, ("s.yaml",))


PLAN_GOOD = {
    "node_types": st.lists(GOOD["node.type"], min_size=1, max_size=2).map(lambda v: "[" + ", ".join(v) + "]"),
    "windows": st.lists(TIMES, min_size=1, max_size=3).map(lambda v: "[" + ", ".join(v) + "]"),
    "reserved_memory_percent": st.lists(st.floats(0, 100), min_size=1, max_size=2).map(str),
    "objectives.max_swap": SIZES,
    "objectives.min_headroom": SIZES,
    "window_length": DURATIONS,
    "objectives.max_latency_ms": numbers.map(str),
    "objectives.max_p99_latency_ms": numbers.map(str),
    "max_failure_probability": FRACTIONS,
    "replicas": st.integers(0, 5).map(str),
    "retention_days": st.integers(1, 35).map(str),
}
_PLAN_VALUES = [
    "{runs: 3, seed: 1, inputs: {load_factor: {range: [0.5, 2]}}}",
    "{runs: 3, seed: -1, inputs: {load_factor: {range: [0.5, 2]}}}",
    "{runs: 3, inputs: {load_factor: {range: [.nan, 2]}}}",
    "{runs: 3, inputs: {load_factor: {choice: [1, .inf]}}}",
    "{runs: 3, inputs: {dataset.keys: {normal: {mean: 1e400, sd: 1}}}}",
    "{runs: 3, inputs: {dataset.keys: {lognormal: {mean: 1e-300, sd: 1e300}}}}",
    "{runs: 3, inputs: {workload.writes_per_sec: {range: [1k, 1e400]}}}",
    "{runs: 2, inputs: {backup.start: {choice: ['14:00', '25:00']}}}",
    "['02:00', '14:00', 25:00]",
    "[14:00, 02:00]",
    "[.nan]",
    "[cache.r6g.large, cache.nope]",
    "[primary, moon]",
]


@st.composite
def sweep_cases(draw) -> Case:
    """``rbsim sweep`` with malformed or extreme --grid/--sample/--runs/--seed/--out."""
    paths = SCENARIO_FIELDS + ["plan.replicas", "", ".", "dataset..keys", "x" * 300]
    argv = ["sweep", "{dir}/s.yaml", "--workers", "1", "--quiet"]
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 2))):
            path = draw(st.sampled_from(paths))
            vals = draw(st.lists(field_value(path), min_size=1, max_size=3))
            argv += ["--grid", f"{path}={','.join(vals)}"]
    else:
        path = draw(st.sampled_from(paths))
        a, b = draw(field_value(path)), draw(field_value(path))
        dist = draw(
            st.sampled_from(
                [
                    f"{{range: [{a}, {b}]}}",
                    f"{{normal: {{mean: {a}, sd: {b}}}}}",
                    f"{{lognormal: {{mean: {a}, sd: {b}}}}}",
                    f"{{choice: [{a}, {b}]}}",
                    a,
                ]
            )
        )
        argv += [
            "--sample",
            f"{path}={dist}",
            "--runs",
            draw(st.sampled_from(["1", "2", "3", "0", "-1", "abc", "1e400"])),
        ]
    argv += ["--seed", draw(st.sampled_from(["0", "7", "-1", "abc", "18446744073709551617"]))]
    argv += [
        "--out",
        draw(
            st.sampled_from(
                [
                    "{dir}/t.csv",
                    "{dir}/t.csv",
                    "{dir}/t.parquet",
                    "/proc/nope/x.csv",
                    "{dir}/t.txt",
                    "{dir}",
                    "{dir}/" + "x" * 300 + ".csv",
                ]
            )
        ),
    ]
    base = render(BASE_SCENARIO).encode()
    return Case("sweep", argv, {"s.yaml": base}, ("s.yaml", "--grid", "--sample", "--runs", "--seed", "--out"))


@st.composite
def record_cases(draw) -> Case:
    """``rbsim validate``/``calibrate`` on a real harness record with a field of the wrong type, or bad bytes."""
    calibrate = draw(st.booleans())
    pool = QUICK_RECORDS if calibrate else RECORDS
    source = pool[draw(st.integers(0, len(pool) - 1))]
    record = json.loads(source.read_text())
    for _ in range(draw(st.integers(1, 2))):
        block, name = draw(st.sampled_from(RECORD_FIELDS))
        holder = record if not block else record.get(block)
        if isinstance(holder, dict):
            holder[name] = draw(st.sampled_from(JSON_NASTY))
    raw = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["none", "none", "latin1", "truncate"]))
    if how == "latin1":
        raw = raw.replace(b'"id"', b'"\xff\xfeid"', 1)
    elif how == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    argv = (
        ["calibrate", "{dir}/r.json", "{dir}/r.json", "{dir}/r.json", "--out", "{dir}/p.yaml"]
        if calibrate
        else ["validate", "{dir}/r.json"]
    )
    return Case("record", argv, {"r.json": raw}, ("r.json",))


TYPES = ["string", "hash", "set", "zset", "list"]
TYPE_COMMANDS = {
    "string": ["SET", "INCR", "APPEND"],
    "hash": ["HSET", "HINCRBY"],
    "set": ["SADD", "SREM"],
    "zset": ["ZADD", "ZINCRBY"],
    "list": ["LPUSH", "RPUSH", "LPOP", "RPOP"],
}
ANY_COMMANDS = ["NEW", "DEL", "EXPIRE"]
POLICIES = ["noeviction", "allkeys-lru", "allkeys-random", "volatile-ttl", "volatile-lru"]


def _spread(plain: st.SearchStrategy[str], unit: str, sigma: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A size or count as a plain value, a lognormal or a histogram."""
    bins = st.lists(st.tuples(plain, st.integers(1, 9)), min_size=1, max_size=3).map(
        lambda rows: (
            "{histogram: ["
            + ", ".join(f"{{{unit}: {v}, share: {w / sum(x for _, x in rows):.6f}}}" for v, w in rows)
            + "]}"
        )
    )
    lognormal = st.builds(lambda m, sd: f"{{lognormal: {{median: {m}, sigma: {sd}}}}}", plain, sigma)
    return st.one_of(plain, plain, lognormal, bins)


@st.composite
def typed_cases(draw) -> Case:
    """A scenario of typed key groups, a write mix and engine parameters (issue 10): well formed at extreme
    sizes and rates half the time (the physics), else with one field malformed (the parser)."""
    good = draw(st.booleans())
    sigma = st.sampled_from(["0.5", "1.5", "3"]) if good else st.sampled_from(["0.5", "0", "9", ".nan"])
    counts = st.sampled_from(["1", "20", "600", "100k"]) if good else st.one_of(COUNTS, values)
    sizes = st.sampled_from(["1B", "8B", "64B", "65B", "1KB", "1MiB"]) if good else st.one_of(SIZES, values)
    names = draw(st.lists(st.sampled_from(["a", "b", "sessions"]), min_size=1, max_size=3, unique=True))
    kinds = {name: draw(st.sampled_from(TYPES)) for name in names}
    lines = ["name: typed", "node: {type: cache.r6g.large}", "simulation: {before: 1s, after: 1s}", "dataset:"]
    if draw(st.booleans()):
        lines.append(f"  fragmentation: {draw(st.sampled_from(['1.0', '1.5', '3']) if good else values)}")
    lines.append("  groups:")
    for name, kind in kinds.items():
        keys = draw(st.sampled_from(["1", "50k", "2M", "40M"]) if good else st.one_of(COUNTS, values))
        lines += [f"    - name: {name}", f"      type: {kind}", f"      keys: {keys}"]
        if kind != "string":
            lines.append(f"      elements: {draw(_spread(counts, 'count', sigma))}")
        lines.append(f"      element_size: {draw(_spread(sizes, 'size', sigma))}")
        optional = {
            "values": st.just("integers" if kind != "zset" else "bytes"),
            "ttl": st.builds(lambda f, m: f"{{share: {f}, mean: {m}}}", FRACTIONS, DURATIONS),
            "locality": st.sampled_from(["clustered", "scattered"]),
            "key_distribution": GOOD["workload.key_distribution"],
        }
        for key in draw(st.lists(st.sampled_from(sorted(optional)), max_size=3, unique=True)):
            lines.append(f"      {key}: {draw(optional[key] if good else st.one_of(optional[key], values))}")
    rate = draw(st.sampled_from(["10k", "0", "1M", "50/s"]) if good else st.one_of(RATES, values))
    lines.append(f"workload:\n  writes_per_sec: {rate}")
    if draw(st.booleans()):
        pairs = []
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=4)):
            pairs.append((name, draw(st.sampled_from(TYPE_COMMANDS[kinds[name]] + ANY_COMMANDS))))
        pairs = [(g, c) for g, c in pairs if c not in ("INCR", "HINCRBY")] or [(names[0], "NEW")]
        share = f"{100 / len(pairs):.6f}%" if good else draw(FRACTIONS)
        lines.append("  mix:")
        lines += [f"    - {{group: {g}, command: {c}, share: {share}}}" for g, c in pairs]
    if draw(st.booleans()):
        entries = draw(st.sampled_from(["0", "128", "100000"]) if good else st.one_of(values, st.just("-1")))
        lines.append(
            f"engine: {{parameters: {{maxmemory-policy: {draw(st.sampled_from(POLICIES))}, "
            f"hash-max-listpack-entries: {entries}}}}}"
        )
    mutation = "none" if good else draw(st.sampled_from(MUTATIONS))
    raw, extra = _mutate("\n".join(lines) + "\n", mutation, draw(st.data()))
    argv = ["run", "{dir}/s.yaml"] + draw(st.sampled_from([[], ["--json"], ["--out", "{dir}/out"]]))
    return Case("typed", argv, {"s.yaml": raw, **extra}, ("s.yaml",))


def any_case() -> st.SearchStrategy[Case]:
    """Every kind, weighted towards scenario files (most of the input surface)."""
    return st.one_of(
        scenario_cases(),
        scenario_cases(),
        scenario_cases(extreme_only=True),
        scenario_cases(extreme_only=True),
        scenario_cases(with_plan=True),
        typed_cases(),
        sweep_cases(),
        record_cases(),
    )


class _Timeout(BaseException):
    """Raised by the alarm: a case ran past its time (a BaseException so ``except Exception`` cannot hide it)."""


def _alarm(signum, frame):
    raise _Timeout


def judge(case: Case, folder: Path, seconds: float = 20.0) -> tuple[str, str]:
    """Run ``case`` through :func:`sim.cli.main` in this process; (class, detail)."""
    from sim.cli import main

    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in case.files.items():
        (folder / name).write_bytes(raw)
    argv = [a.replace("{dir}", str(folder)) for a in case.argv]
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    except _Timeout:
        return "hang", f"{argv[:2]} ran past {seconds:.0f} s"
    except Exception:  # noqa: BLE001 - that is what we are looking for
        return "traceback", traceback.format_exc(limit=-3)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    stdout, stderr = out.getvalue(), err.getvalue()
    if "Traceback" in stderr:
        return "traceback", stderr[-2000:]
    if code == 2:
        named = [n for n in case.names if n in stderr] or ([] if "error:" not in stderr else ["argparse"])
        return ("error", stderr.splitlines()[-1][:300] if stderr else "") if named else ("vague", stderr[:300])
    if code not in (0, 1 if case.kind == "plan" else 0):
        return "traceback", f"exit {code}: {stderr[-500:]}"
    if case.kind == "sweep":
        return _judge_table(argv)
    if case.kind in ("scenario", "extreme", "plan") and NON_FINITE.search(stdout):
        line = next(x for x in stdout.splitlines() if NON_FINITE.search(x))
        return "nonfinite", line.strip()[:200]
    return "ok", ""


def _judge_table(argv: list[str]) -> tuple[str, str]:
    import math

    import pandas as pd

    out = Path(argv[argv.index("--out") + 1])
    table = pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)
    for error in table.get("error", pd.Series(dtype=object)).dropna():
        if not str(error).startswith(INPUT_ERRORS):
            return "traceback", f"sweep row: {str(error)[:300]}"
    for column in ("max_latency_ms", "p99_latency_ms", "p999_latency_ms", "peak_memory_bytes", "cow_peak_bytes"):
        if column in table and table["error"].isna().any():
            values = table.loc[table["error"].isna(), column]
            if any(isinstance(v, float) and math.isinf(v) for v in values):  # empty (NaN): no requests, missing
                return "nonfinite", f"sweep column {column}"
    return "ok", ""
