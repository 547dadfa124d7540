"""The typed parts of a profiled scenario: ``dataset.groups`` from the key sample, ``workload.mix`` from INFO
commandstats and ``engine.parameters`` from CONFIG GET, each figure commented with where it came from."""

from __future__ import annotations

from ..keygroups import PARAMETER_NAMES
from .groups import ProfiledGroup, Spread, Turnover, find_groups, spread_mean, write_mix
from .hotness import fit_zipf
from .yamltext import Item, format_count, format_rate, format_size

BASIS = 10_000
"""Shares are written in hundredths of a percent, apportioned so they sum to exactly 100 %."""
LOW_SAMPLES = 30


def groups_of(profile) -> tuple[list[ProfiledGroup], list[str]]:
    """The key groups of a live profile's sample, scaled to its key count."""
    return find_groups(profile.sample.records, profile.keys)


def needs_groups(groups: list[ProfiledGroup]) -> bool:
    """Whether the sample needs typed groups: anything but one group of plain strings without TTLs."""
    if not groups:
        return False
    return len(groups) > 1 or groups[0].type != "string" or groups[0].integers or groups[0].ttl_share() > 0


def parameters_item(config: dict[str, str], source: str = "CONFIG GET") -> Item | None:
    """``engine.parameters`` from server settings (listpack names, else their ziplist aliases); None without any."""
    children = []
    for name in PARAMETER_NAMES:
        alias = name.replace("listpack", "ziplist")
        name_read = name if name in config else alias if alias in config else None
        if name_read is None:
            continue
        value = config[name_read]
        number = value.lstrip("-").isdigit()
        children.append(Item(name, int(value) if number else value, f"{source} {name_read}"))
    return Item("parameters", children=children) if children else None


def _shares(weights: list[float]) -> list[str]:
    """``weights`` as percentages with two decimals that sum to exactly 100 %."""
    total = sum(weights)
    raw = [w / total * BASIS for w in weights]
    out = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[: BASIS - sum(out)]:
        out[i] += 1
    return [f"{b / 100:g}%" for b in out]


def _spread_value(value: Spread, unit: str) -> object:
    """A mean or a histogram as the schema writes it (``unit`` ``size``: bytes, ``count``: elements)."""
    fmt = (lambda v: format_size(max(1.0, v))) if unit == "size" else (lambda v: max(1, round(v)))  # the schema: >= 1
    if isinstance(value, float):
        return fmt(value)
    rows = [{unit: fmt(v), "share": share} for (v, _), share in zip(value, _shares([s for _, s in value]), strict=True)]
    return {"histogram": rows}


def _spread_note(value: Spread, what: str, n: int) -> str:
    if isinstance(value, float):
        return f"mean {what} of {n} sampled"
    return f"{what} of {n} sampled (mean {format_count(spread_mean(value))}): equal-count bins at their means"


def format_seconds(seconds: float) -> str:
    """A duration ``parse_duration`` reads: ``45s``, ``12.5min``, ``3h``."""
    for unit, factor in (("h", 3600), ("min", 60)):
        if seconds >= factor:
            return f"{format_count(seconds / factor)}{unit}"
    return f"{format_count(max(seconds, 0.001))}s"


def group_entry(group: ProfiledGroup, sampled: int, total_keys: int) -> list[Item]:
    """One ``dataset.groups`` entry, commented with the sample behind each figure."""
    encodings = ", ".join(f"{e} {c}" for e, c in group.encodings.most_common()) or "encoding not read"
    rough = f" (only {group.samples} samples: rough)" if group.samples < LOW_SAMPLES else ""
    where = f" with prefix '{group.prefix}:'" if group.prefix else ""
    items = [
        Item(
            "name", group.name, f"{group.samples} of {sampled} sampled keys{where}{rough}; OBJECT ENCODING {encodings}"
        ),
        Item("type", group.type, "TYPE"),
        Item("keys", group.keys, f"{100 * group.share:.3g}% of the sample x {total_keys:,} keys (INFO keyspace)"),
    ]
    elements = group.elements()
    if elements is not None:
        length = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD", "list": "LLEN"}[group.type]
        items.append(Item("elements", _spread_value(elements, "count"), _spread_note(elements, length, group.samples)))
    size = group.element_size()
    if group.integers:
        source = "OBJECT ENCODING int" if group.type == "string" else "every element read parses as an integer"
        items.append(Item("values", "integers", f"most sampled keys hold integers ({source})"))
    elif size is not None:
        what = {
            "string": "STRLEN",
            "hash": "HRANDFIELD field value length",
            "set": "SRANDMEMBER member length",
            "zset": "ZRANDMEMBER member length",
            "list": "LRANGE 0 4 item length",
        }[group.type]
        count = sum(len(r.element_sizes) for r in group.records)
        items.append(Item("element_size", _spread_value(size, "size"), _spread_note(size, what, count)))
    field_size = group.field_size()
    if field_size is not None:
        items.append(Item("field_size", format_size(max(1.0, field_size)), "mean HRANDFIELD field name length"))
    items.append(Item("key_size", format_size(group.key_size()), "mean key name length"))
    ttl_share = group.ttl_share()
    if ttl_share > 0:
        ttl = group.ttl_seconds() or 0.0
        items.append(
            Item(
                "ttl",
                {
                    "share": _shares([ttl_share, 1 - ttl_share])[0] if ttl_share < 1 else "100%",
                    "mean": format_seconds(ttl),
                },
                "PTTL: share of sampled keys with a TTL; mean = twice their mean remaining TTL (keys set at a "
                "steady rate), at most the longest remaining",
            )
        )
    return items


def dataset_items(profile, groups: list[ProfiledGroup]) -> list[Item]:
    """``dataset.groups`` (and nothing else: the schema makes groups exclusive with the shorthand)."""
    mix, _ = profiled_mix(profile, groups)
    writes = {g.name: sum(m.rate for m in mix if m.group == g.name) for g in groups}
    live = lru_live_seconds(profile.before)  # the sample is read at the start of the window
    entries = [group_entry(g, profile.sample.keys, profile.keys) + hot_keys(g, writes[g.name], live) for g in groups]
    return [Item("groups", entries=entries)]


def lru_live_seconds(info: dict) -> float:
    """Seconds the keys' LRU clock has run since the last save ended (0 while one runs): lookupKey does not
    update it while a child process lives."""
    if int(info.get("rdb_bgsave_in_progress", 0) or 0):
        return 0.0
    now = int(info.get("server_time_usec", 0) or 0) / 1e6
    last = int(info.get("rdb_last_save_time", 0) or 0)
    return max(0.0, now - last) if now and last else float("inf")


def hot_keys(group: ProfiledGroup, writes_per_sec: float, live_s: float) -> list[Item]:
    """The group's ``key_distribution`` fitted to its sampled idle times (nothing when they cannot tell)."""
    exponent, why = fit_zipf(group.idle_times(), group.keys, writes_per_sec, live_s)
    if exponent is None:
        return [Item("key_distribution", "uniform", f"guess ({why}); uniform copies the most pages")]
    value: object = "uniform" if exponent == 0 else {"zipf": exponent}
    return [Item("key_distribution", value, f"fitted: {why}")]


def memory_check(groups: list[ProfiledGroup]) -> str | None:
    """A comment: the sample's MEMORY USAGE per group scaled to its keys (to set beside INFO used_memory)."""
    per_key = [(g, g.memory_per_key()) for g in groups]
    if any(m is None for _, m in per_key):
        return None
    estimate = sum(g.keys * m for g, m in per_key if m is not None)
    return f"the sample's MEMORY USAGE per group x its keys gives {format_size(estimate)}"


def profiled_mix(profile, groups: list[ProfiledGroup]) -> tuple[list, list[str]]:
    """The write mix over ``groups`` from the window's commandstats, keys created and removed; notes."""
    r = profile.rates
    turnover = Turnover(
        growth=profile.key_growth / r.seconds,
        expired=_delta(profile, "expired_keys") / r.seconds,
        evicted=_delta(profile, "evicted_keys") / r.seconds,
    )
    return write_mix(groups, r.per_command, turnover)


def mix_items(profile, groups: list[ProfiledGroup], notes: list[str]) -> list[Item]:
    """``writes_per_sec`` (what the mix covers) and ``mix`` from commandstats, or just the total with no writes."""
    r = profile.rates
    mix, mix_notes = profiled_mix(profile, groups)
    notes += mix_notes
    total = sum(m.rate for m in mix)
    if total <= 0:
        return [Item("writes_per_sec", format_rate(r.writes_per_sec), f"INFO commandstats over {r.seconds:.1f} s")]
    shares = _shares([m.rate for m in mix])
    entries = [
        [
            Item("group", m.group, f"{format_rate(m.rate)}/s from {' + '.join(m.sources)}"),
            Item("command", m.command),
            Item("share", share),
        ]
        for m, share in zip(mix, shares, strict=True)
    ]
    left_out = r.writes_per_sec - total
    comment = f"INFO commandstats over {r.seconds:.1f} s, the writes the mix covers" + (
        f" ({format_rate(left_out)}/s of other writes left out, see the notes)"
        if left_out > 0.005 * r.writes_per_sec
        else ""
    )
    return [
        Item("writes_per_sec", format_rate(total), comment),
        Item(
            "mix",
            entries=entries,
            comment="commands split over the groups of their type by key share; NEW: keys created (net growth + "
            "DEL + expired + evicted keys over the window)",
        ),
    ]


def _delta(profile, key: str) -> float:
    """Growth of an INFO counter over the window (0 if it went down: a restart or CONFIG RESETSTAT)."""
    return max(0, int(profile.after.get(key, 0) or 0) - int(profile.before.get(key, 0) or 0))
