"""Turn a key sample into typed key groups (by type and encoding, and by key-name prefix where prefixes split
a cell cleanly) and INFO commandstats into a per-group write mix, as issue 10's scenario schema describes."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from .keysample import KeyRecord

FAMILIES = {"embstr": "bytes", "raw": "bytes", "ziplist": "listpack"}
"""Encodings that behave alike in one group: embstr/raw are one size distribution cut at 44 bytes, ziplist is
listpack's name before Redis 7.0. Lists are one group whatever their node encoding (listpack is a small quicklist)."""
MODELLED_TYPES = ("string", "hash", "set", "zset", "list")
MIN_CELL_SHARE = 0.005
MIN_CELL_SAMPLES = 5
"""A (type, encoding) cell smaller than this (e.g. a few numeric values int-encoded among cached strings) joins
the largest cell of its type."""
MIN_PREFIX_SAMPLES = 30
MIN_PREFIX_SHARE = 0.05
PREFIX_COVER = 0.9
"""A cell splits by key-name prefix when at least two prefixes each hold >= 30 samples and >= 5 % of it and
together >= 90 % of it (the rest join the largest); a prefix is the key name before its first ``:``."""
MAX_CV_FIXED = 0.2
HISTOGRAM_BINS = 4
"""Counts and sizes whose coefficient of variation is at most 0.2 are written as their mean, wider ones as a
histogram of equal-count bins at the bins' means (so the overall mean is kept)."""

Spread = float | tuple[tuple[float, float], ...]
"""A mean, or a histogram of (value, share)."""


def spread(values: list[float]) -> Spread:
    """The mean of ``values`` when they are tight, else equal-count bins at their means (value, share)."""
    mean = statistics.fmean(values)
    if len(values) < 2 or mean <= 0 or statistics.pstdev(values) / mean <= MAX_CV_FIXED:
        return mean
    ordered = sorted(values)
    bins: dict[int, list[float]] = {}
    for index, value in enumerate(ordered):
        bins.setdefault(index * HISTOGRAM_BINS // len(ordered), []).append(value)
    merged: Counter = Counter()
    for members in bins.values():
        merged[round(statistics.fmean(members))] += len(members)
    if len(merged) == 1:
        return mean
    return tuple((float(value), count / len(ordered)) for value, count in sorted(merged.items()))


def spread_mean(value: Spread) -> float:
    return value if isinstance(value, float) else sum(v * s for v, s in value)


@dataclass
class ProfiledGroup:
    """One key group found in the sample, with its figures scaled to the whole keyspace."""

    name: str
    type: str
    records: list[KeyRecord]
    share: float = 0.0
    keys: int = 0
    prefix: str = ""

    @property
    def samples(self) -> int:
        return len(self.records)

    @property
    def encodings(self) -> Counter:
        return Counter(r.encoding for r in self.records if r.encoding)

    @property
    def integers(self) -> bool:
        """Most sampled keys hold only integers (int-encoded strings, intsets, counter hashes); never a zset,
        whose members are strings to Redis whatever they spell (the schema has no integer zsets)."""
        return self.type != "zset" and sum(r.integers for r in self.records) * 2 > len(self.records)

    def elements(self) -> Spread | None:
        counts = [float(r.elements) for r in self.records if r.elements is not None]
        return spread(counts) if counts and self.type != "string" else None

    def element_size(self) -> Spread | None:
        sizes = [float(s) for r in self.records for s in r.element_sizes]
        return spread(sizes) if sizes else None

    def field_size(self) -> float | None:
        sizes = [s for r in self.records for s in r.field_sizes]
        return statistics.fmean(sizes) if sizes else None

    def key_size(self) -> float:
        return statistics.fmean(r.key_size for r in self.records)

    def ttl_share(self) -> float:
        return sum(r.ttl_ms is not None for r in self.records) / len(self.records)

    def ttl_seconds(self) -> float | None:
        """The TTL keys are given: twice the mean remaining TTL (keys set at a steady rate with one TTL have
        remaining TTLs uniform on [0, TTL]), at most the longest remaining one (keys all set at once)."""
        remaining = [r.ttl_ms / 1000 for r in self.records if r.ttl_ms is not None]
        return min(2 * statistics.fmean(remaining), max(remaining)) if remaining else None

    def idle_times(self) -> list[int]:
        """OBJECT IDLETIME of the sampled keys (seconds since their last access)."""
        return [r.idle_s for r in self.records if r.idle_s is not None]

    def memory_per_key(self) -> float | None:
        usage = [r.memory for r in self.records if r.memory is not None]
        return statistics.fmean(usage) if usage else None


def find_groups(records: list[KeyRecord], total_keys: int) -> tuple[list[ProfiledGroup], list[str]]:
    """Key groups of the sampled ``records`` scaled to ``total_keys``, largest first, and notes on what was folded."""
    notes: list[str] = []
    modelled = [r for r in records if r.type in MODELLED_TYPES]
    others = Counter(r.type for r in records if r.type not in MODELLED_TYPES)
    if others:
        notes.append(
            "key types rbsim does not model, left out of the groups (their keys are spread over the others): "
            + ", ".join(f"{t} {100 * c / len(records):.3g}%" for t, c in others.most_common())
        )
    if not modelled:
        return [], notes
    cells: dict[tuple[str, str], list[KeyRecord]] = {}
    for record in modelled:
        cells.setdefault((record.type, _family(record)), []).append(record)
    cells = _fold_small_cells(cells, len(modelled))
    groups: list[ProfiledGroup] = []
    for (kind, family), members in cells.items():
        for prefix, part in _by_prefix(members):
            groups.append(ProfiledGroup(_base_name(kind, family, prefix, cells), kind, part, prefix=prefix))
    groups.sort(key=lambda g: -g.samples)
    _unique_names(groups)
    for group in groups:
        group.share = group.samples / len(modelled)
    for group, keys in zip(groups, _apportion([g.share for g in groups], total_keys), strict=True):
        group.keys = keys
    return groups, notes


def _family(record: KeyRecord) -> str:
    if record.type == "list":
        return "list"
    return FAMILIES.get(record.encoding, record.encoding)


def _fold_small_cells(cells: dict, total: int) -> dict:
    """Cells too small to describe on their own moved into the largest cell of their type (if another exists)."""
    out = dict(cells)
    for (kind, family), members in sorted(cells.items(), key=lambda c: len(c[1])):
        if len(members) >= max(MIN_CELL_SAMPLES, MIN_CELL_SHARE * total):
            continue
        bigger = [c for c in out if c[0] == kind and c != (kind, family) and len(out[c]) > len(members)]
        if bigger:
            target = max(bigger, key=lambda c: len(out[c]))
            out[target] = out[target] + out.pop((kind, family))
    return out


def _by_prefix(members: list[KeyRecord]) -> list[tuple[str, list[KeyRecord]]]:
    """``members`` split by key-name prefix when prefixes separate them well, else whole (with its main prefix)."""
    counts = Counter(r.prefix for r in members)
    enough = max(MIN_PREFIX_SAMPLES, MIN_PREFIX_SHARE * len(members))
    kept = [p for p, c in counts.most_common() if c >= enough and p]
    if len(kept) >= 2 and sum(counts[p] for p in kept) >= PREFIX_COVER * len(members):
        parts = {p: [r for r in members if r.prefix == p] for p in kept}
        parts[kept[0]] += [r for r in members if r.prefix not in parts]
        return list(parts.items())
    main, count = counts.most_common(1)[0]
    return [(main if count >= PREFIX_COVER * len(members) else "", members)]


def _base_name(kind: str, family: str, prefix: str, cells: dict) -> str:
    if prefix:
        return _clean(prefix) or kind
    alone = sum(1 for c in cells if c[0] == kind) == 1
    if kind == "string":
        return "counters" if family == "int" else "strings"
    return kind if alone else f"{kind}-{family}"


def _clean(text: str) -> str:
    """A group name from a key prefix: letters, digits, ``_``, ``-`` and ``.``, others as ``-``."""
    return "".join(c if c.isalnum() or c in "_-." else "-" for c in text).strip("-")[:40]


def _unique_names(groups: list[ProfiledGroup]) -> None:
    """Suffix repeated names with the type, then a number (the largest group keeps the bare name)."""
    seen: set[str] = set()
    for group in groups:
        name = group.name
        if name in seen:
            name = f"{group.name}-{group.type}"
        number = 2
        while name in seen:
            name, number = f"{group.name}-{group.type}-{number}", number + 1
        group.name = name
        seen.add(name)


def _apportion(shares: list[float], total: int) -> list[int]:
    """Whole numbers summing to ``total`` in proportion to ``shares`` (largest remainder), each at least 1."""
    raw = [s * total for s in shares]
    out = [max(1, int(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in order[: max(0, total - sum(out))]:
        out[i] += 1
    return out


# --- commandstats -> workload.mix -----------------------------------------------------------------------------

TYPED_COMMANDS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        "set setex psetex setnx getset mset msetnx setrange setbit bitfield pfadd".split(), ("string", "SET")
    ),
    **dict.fromkeys("incr incrby decr decrby incrbyfloat".split(), ("string", "INCR")),
    "append": ("string", "APPEND"),
    **dict.fromkeys("hset hsetnx hmset hdel".split(), ("hash", "HSET")),
    **dict.fromkeys("hincrby hincrbyfloat".split(), ("hash", "HINCRBY")),
    **dict.fromkeys("sadd smove".split(), ("set", "SADD")),
    **dict.fromkeys("srem spop".split(), ("set", "SREM")),
    **dict.fromkeys("zadd zrem zpopmin zpopmax bzpopmin bzpopmax zmpop bzmpop".split(), ("zset", "ZADD")),
    "zincrby": ("zset", "ZINCRBY"),
    **dict.fromkeys("lpush lpushx".split(), ("list", "LPUSH")),
    **dict.fromkeys("rpush rpushx".split(), ("list", "RPUSH")),
    **dict.fromkeys("lpop blpop lmpop blmpop".split(), ("list", "LPOP")),
    **dict.fromkeys("rpop brpop rpoplpush brpoplpush lmove blmove".split(), ("list", "RPOP")),
}
"""Write commands (lower case, as INFO commandstats names them) -> (type, the SPEC10 mix command standing for
them). HDEL, ZREM/ZPOP* and the moves rewrite the same allocations as the command they stand for; HINCRBY on
hashes whose values are not integers counts as HSET (one field's value rewritten)."""
ANY_TYPE_COMMANDS = {
    **dict.fromkeys("del unlink getdel".split(), "DEL"),
    **dict.fromkeys("expire pexpire expireat pexpireat persist getex".split(), "EXPIRE"),
}
"""Commands on keys of any type, split over every group by key share."""


@dataclass(frozen=True)
class MixRate:
    """One mix entry with its rate (writes/s) and the commands it was read from."""

    group: str
    command: str
    rate: float
    sources: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Turnover:
    """Keys per second over the window: net growth (INFO keyspace) and removals (INFO stats expired/evicted)."""

    growth: float = 0.0
    expired: float = 0.0
    evicted: float = 0.0


def write_mix(
    groups: list[ProfiledGroup], per_command: dict[str, float], turnover: Turnover = Turnover()
) -> tuple[list[MixRate], list[str]]:
    """The write mix of ``groups`` from commandstats rates, with NEW for the keys created; notes on what was left out.

    Keys created = net growth + keys removed (DEL, expired, evicted): a cache whose keys expire and are set
    again holds steady, and its SETs of new keys are NEW. NEW is taken out of the group's other writes.
    """
    from .commands import classify

    rates: dict[tuple[str, str], float] = {}
    sources: dict[tuple[str, str], set[str]] = {}
    dropped: dict[str, float] = {}
    for name, rate in sorted(per_command.items()):
        if classify(name) != "write" or rate <= 0:
            continue
        targets = _targets(groups, name)
        if not targets:
            dropped[name] = rate
            continue
        total = sum(g.keys for g, _ in targets)
        for group, command in targets:
            rates[group.name, command] = rates.get((group.name, command), 0.0) + rate * group.keys / total
            sources.setdefault((group.name, command), set()).add(name.upper())
    notes = []
    if dropped:
        notes.append(
            "write commands left out of the mix (no sampled group of their type, or a command rbsim does not "
            "model): " + ", ".join(f"{n.upper()} {r:.3g}/s" for n, r in sorted(dropped.items(), key=lambda x: -x[1]))
        )
    _add_new_keys(groups, rates, sources, turnover, notes)
    mix = [MixRate(g, c, r, tuple(sorted(sources[g, c]))) for (g, c), r in rates.items() if r > 0]
    return sorted(mix, key=lambda m: -m.rate), notes


def _add_new_keys(groups, rates: dict, sources: dict, turnover: Turnover, notes: list[str]) -> None:
    """NEW per group (growth and evictions by key share, expiries by TTL keys / TTL, DELs where they hit),
    taken out of the group's writes other than DEL and EXPIRE."""
    total_keys = sum(g.keys for g in groups)
    expiring = {g.name: g.keys * g.ttl_share() / (g.ttl_seconds() or 1.0) for g in groups if g.ttl_share() > 0}
    weight = sum(expiring.values())
    for group in groups:
        share = group.keys / total_keys
        expired = turnover.expired * (expiring.get(group.name, 0.0) / weight if weight else share)
        new = turnover.growth * share + turnover.evicted * share + expired + rates.get((group.name, "DEL"), 0.0)
        writes = {k: v for k, v in rates.items() if k[0] == group.name and k[1] not in ("DEL", "EXPIRE")}
        room = sum(writes.values())
        if new <= 0 or room <= 0:
            continue
        if new > room:
            notes.append(
                f"group {group.name}: {new:.3g} keys/s created (growth + removals) but only {room:.3g} writes/s "
                "seen: NEW capped at the writes"
            )
            new = room
        for key, value in writes.items():
            rates[key] = value * (room - new) / room
        rates[group.name, "NEW"] = new
        sources[group.name, "NEW"] = {"keys created: net growth + DEL + expired + evicted"}


def _targets(groups: list[ProfiledGroup], name: str) -> list[tuple[ProfiledGroup, str]]:
    """(group, mix command) pairs a write command ``name`` is split over; empty when none fits."""
    if name in ANY_TYPE_COMMANDS:
        return [(g, ANY_TYPE_COMMANDS[name]) for g in groups]
    if name not in TYPED_COMMANDS:
        return []
    kind, command = TYPED_COMMANDS[name]
    of_type = [g for g in groups if g.type == kind]
    if command == "INCR":
        of_type = [g for g in of_type if g.integers]
    elif command == "APPEND":
        of_type = [g for g in of_type if not g.integers] or of_type
    elif command == "HINCRBY":  # the schema's HINCRBY needs values: integers; on other hashes it rewrites as HSET
        integers = [g for g in of_type if g.integers]
        return [(g, "HINCRBY") for g in integers] or [(g, "HSET") for g in of_type]
    return [(g, command) for g in of_type]
