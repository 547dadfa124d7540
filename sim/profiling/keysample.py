"""A bounded SCAN sample of a live server: per sampled key its type, encoding, element count, a few element
sizes, key name size, TTL and MEMORY USAGE, read in two pipelined round trips per SCAN batch (read-only)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_SAMPLE_KEYS = 5000
"""Auto sample floor: a type holding 1 % of the keys is seen 50 times on average and at least 30 times with
99.8 % probability (binomial, 50 - 3 x sqrt(5000 x 0.01 x 0.99) = 29)."""
MAX_SAMPLE_KEYS = 30_000
"""Auto sample ceiling: 1 % of the keyspace up to this many keys (a 0.1 % group of 3M keys is seen ~30 times)."""
MIN_SAMPLE_S = 5.0
KEYS_PER_SECOND_BUDGET = 1000
"""Auto time budget per sampled key (a local server measures ~10k keys/s; a remote one pays two round trips
per SCAN batch of 100 keys), so the time cap rarely cuts an auto-sized sample short."""
MAX_SAMPLE_S = 30.0
SCAN_COUNT = 100
ELEMENTS_PER_KEY = 5
"""Elements read per sampled key (HRANDFIELD/SRANDMEMBER/ZRANDMEMBER count, LRANGE 0 4) for element sizes."""
LENGTH_COMMANDS = {"string": "STRLEN", "hash": "HLEN", "set": "SCARD", "zset": "ZCARD", "list": "LLEN"}
ELEMENT_COMMANDS = {
    "hash": ("HRANDFIELD", str(ELEMENTS_PER_KEY), "WITHVALUES"),
    "set": ("SRANDMEMBER", str(ELEMENTS_PER_KEY)),
    "zset": ("ZRANDMEMBER", str(ELEMENTS_PER_KEY)),
    "list": ("LRANGE", "0", str(ELEMENTS_PER_KEY - 1)),
}
"""Commands reading a few elements of a key; LRANGE's indexes follow the key, the others' count does."""
FALLBACKS = {
    "HRANDFIELD": ("HSCAN", "0", "COUNT", str(ELEMENTS_PER_KEY)),
    "ZRANDMEMBER": ("ZSCAN", "0", "COUNT", str(ELEMENTS_PER_KEY)),
}
"""Before Redis 6.2 (no HRANDFIELD/ZRANDMEMBER) the first page of HSCAN/ZSCAN gives the element sizes instead."""
INT64 = (-(2**63), 2**63 - 1)


def plan(total_keys: int, sample_keys: int | None, sample_seconds: float | None) -> tuple[int, float]:
    """(keys to sample, time cap in seconds): the given figures, or ones that grow with the keyspace."""
    keys = sample_keys if sample_keys is not None else max(MIN_SAMPLE_KEYS, min(MAX_SAMPLE_KEYS, total_keys // 100))
    keys = min(keys, total_keys)
    if sample_seconds is None:
        sample_seconds = min(MAX_SAMPLE_S, max(MIN_SAMPLE_S, keys / KEYS_PER_SECOND_BUDGET))
    return keys, sample_seconds


def is_integer(raw: Any) -> bool:
    """Whether a reply is an integer Redis stores as one (canonical decimal in 64 bits, like ``INCR`` needs)."""
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
    if not text or len(text) > 20 or text != text.strip():
        return False
    try:
        number = int(text)
    except ValueError:
        return False
    return str(number) == text and INT64[0] <= number <= INT64[1]


@dataclass
class KeyRecord:
    """What was read of one sampled key; ``elements`` is 1 for strings, sizes are byte lengths."""

    name: bytes
    type: str
    encoding: str = ""
    elements: int | None = None
    element_sizes: list[int] = field(default_factory=list)  # string: STRLEN; hash: field values; else members/items
    field_sizes: list[int] = field(default_factory=list)  # hash field names
    integers: bool = False  # every element read is an integer (a string's value: encoding int)
    ttl_ms: int | None = None  # PTTL; None when the key has none
    memory: int | None = None  # MEMORY USAGE
    idle_s: int | None = None  # OBJECT IDLETIME (read before anything that touches the key)

    @property
    def key_size(self) -> int:
        return len(self.name)

    @property
    def prefix(self) -> str:
        """The key name up to its first ``:`` (``""`` without one)."""
        head, sep, _ = self.name.partition(b":")
        return head.decode("utf-8", "replace") if sep else ""


@dataclass
class KeySample:
    """What a bounded SCAN sample saw, one record per sampled key."""

    records: list[KeyRecord] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = False
    own_calls: Counter = field(default_factory=Counter)
    stopped_by: str = ""
    planned: int = 0

    @property
    def keys(self) -> int:
        return len(self.records)

    @property
    def types(self) -> Counter:
        return Counter(r.type for r in self.records)

    @property
    def string_lengths(self) -> list[int]:
        return [r.element_sizes[0] for r in self.records if r.type == "string" and r.element_sizes]

    @property
    def memory_usage(self) -> list[int]:
        return [r.memory for r in self.records if r.memory is not None]

    @property
    def value_size(self) -> int | None:
        """Mean value length of the sampled string keys (STRLEN), or None without any."""
        lengths = self.string_lengths
        return round(statistics.fmean(lengths)) if lengths else None

    @property
    def key_size(self) -> int | None:
        return round(statistics.fmean(r.key_size for r in self.records)) if self.records else None

    def string_share(self) -> float:
        return self.types.get("string", 0) / self.keys if self.keys else 0.0

    def ttl_share(self) -> float:
        return sum(r.ttl_ms is not None for r in self.records) / self.keys if self.keys else 0.0


def sample(
    connect: Callable[[int], Any],
    db: int,
    keyspace: dict[int, int],
    limit: int,
    seconds: float,
    clock: Callable[[], float],
    notes: list[str],
) -> KeySample:
    """SCAN keys db by db (budget in proportion to each db's keys) until ``limit`` keys or ``seconds`` pass.

    ``connect(n)`` returns a client for db ``n``. Commands the server refuses (MEMORY, OBJECT, HRANDFIELD
    before 6.2, ...) are dropped after the first refusal, each with one note.
    """
    import redis

    result = KeySample(planned=limit)
    total = sum(keyspace.values())
    if total == 0 or limit <= 0:
        result.complete = total == 0
        return result
    start = clock()
    deadline = start + seconds
    order = sorted(keyspace, key=lambda n: (n != db, -keyspace[n]))
    refused: dict[str, str] = {}
    for number in order:
        budget = max(1, round(limit * keyspace[number] / total))
        client = connect(number)
        try:
            _scan_db(client, budget, deadline, clock, result, refused)
        except redis.ResponseError as exc:
            notes.append(
                f"SCAN is not available on this server ({_first_line(exc)}): value sizes come from used_memory"
            )
            break
        finally:
            client.close()
        if clock() >= deadline:
            result.stopped_by = f"the {seconds:g} s time limit"
            break
    notes += [
        f"{name} is not available on this server ({why}): {_LOST.get(name, 'element sizes not sampled')}"
        for name, why in refused.items()
    ]
    result.seconds = clock() - start
    result.complete = result.keys >= total
    if not result.stopped_by:
        result.stopped_by = "every key seen" if result.complete else f"the {limit} key limit"
    return result


_LOST = {
    "HRANDFIELD": "the first page of HSCAN gives element sizes instead",
    "ZRANDMEMBER": "the first page of ZSCAN gives element sizes instead",
    "MEMORY USAGE": "per-key memory not sampled",
    "OBJECT ENCODING": "encodings not sampled (grouped by type only)",
    "PTTL": "TTLs not sampled",
    "OBJECT IDLETIME": "idle times not sampled (an LFU policy keeps none): key_distribution stays a guess",
}


def _scan_db(client, budget: int, deadline: float, clock, result: KeySample, refused: dict[str, str]) -> None:
    taken, cursor = 0, 0
    while taken < budget and clock() < deadline:
        cursor, keys = client.scan(cursor=cursor, count=SCAN_COUNT)
        result.own_calls["scan"] += 1
        keys = keys[: budget - taken]
        if keys:
            result.records += _measure(client, keys, result.own_calls, refused)
            taken += len(keys)
        if cursor == 0:
            return


def _measure(client, keys: list, own: Counter, refused: dict[str, str]) -> list[KeyRecord]:
    """Records for ``keys``: TYPE, OBJECT ENCODING and IDLETIME, PTTL and MEMORY USAGE, then the length and a
    few elements."""
    # none of these touches the key's LRU clock (LOOKUP_NOTOUCH); the second round trip does
    general = [("TYPE",), ("OBJECT", "ENCODING"), ("OBJECT", "IDLETIME"), ("PTTL",), ("MEMORY", "USAGE")]
    asked = [(command, key) for key in keys for command in general if " ".join(command) not in refused]
    replies = _pipelined(client, asked, own, refused)
    records = []
    for key in keys:
        got = {" ".join(c): r for (c, k), r in zip(asked, replies, strict=True) if k == key}
        kind = _text(got.get("TYPE", b"none"))
        if kind == "none":  # expired or deleted between SCAN and now
            continue
        ttl = got.get("PTTL")
        memory = got.get("MEMORY USAGE")
        idle = got.get("OBJECT IDLETIME")
        records.append(
            KeyRecord(
                key,
                kind,
                _text(got.get("OBJECT ENCODING") or ""),
                ttl_ms=int(ttl) if isinstance(ttl, int) and ttl >= 0 else None,
                memory=int(memory) if isinstance(memory, int) else None,
                idle_s=int(idle) if isinstance(idle, int) else None,
            )
        )
    asked = []
    for record in records:
        if record.type in LENGTH_COMMANDS:
            asked.append(((LENGTH_COMMANDS[record.type],), record.name))
        command = _element_command(record.type, refused)
        if command is not None:
            asked.append((command, record.name))
    replies = _pipelined(client, asked, own, refused)
    by_key: dict[bytes, list[tuple[str, Any]]] = {}
    for (command, key), reply in zip(asked, replies, strict=True):
        by_key.setdefault(key, []).append((command[0], reply))
    for record in records:
        for name, reply in by_key.get(record.name, []):
            _fill(record, name, reply)
    return records


def _element_command(kind: str, refused: dict[str, str]) -> tuple[str, ...] | None:
    """The command reading a few elements of a ``kind`` key: the random one, else its SCAN fallback, else None."""
    command = ELEMENT_COMMANDS.get(kind)
    if command is not None and command[0] in refused:
        command = FALLBACKS.get(command[0])
    return None if command is None or command[0] in refused else command


def _pipelined(client, asked: list, own: Counter, refused: dict[str, str]) -> list:
    """Replies to ``asked`` ((command words, key) pairs; the key goes after the first word, or the first two for
    OBJECT/MEMORY); a refused command's replies become None and it is not asked again."""
    import redis

    if not asked:
        return []
    pipe = client.pipeline(transaction=False)
    for command, key in asked:
        split = 2 if command[0] in ("OBJECT", "MEMORY") else 1
        pipe.execute_command(*command[:split], key, *command[split:])
        own[command[0].lower()] += 1
    replies = pipe.execute(raise_on_error=False)
    out = []
    for (command, _key), reply in zip(asked, replies, strict=True):
        if isinstance(reply, redis.ResponseError):
            if "WRONGTYPE" not in str(reply):  # a key that changed type since TYPE is not a refusal
                refused.setdefault(
                    " ".join(command[:2] if command[0] in ("OBJECT", "MEMORY") else command[:1]), _first_line(reply)
                )
            reply = None
        out.append(reply)
    return out


def _fill(record: KeyRecord, command: str, reply: Any) -> None:
    """Put one reply of the second round trip into ``record``."""
    if reply is None:
        return
    if command in ("STRLEN", "HLEN", "SCARD", "ZCARD", "LLEN"):
        record.elements = 1 if record.type == "string" else int(reply)
        if record.type == "string":
            record.element_sizes = [int(reply)]
            record.integers = record.encoding == "int"
        return
    if command in ("HSCAN", "ZSCAN"):  # (cursor, elements): redis-py gives a field -> value dict or (member, score)
        elements = reply[1]
        reply = list(elements.items()) if isinstance(elements, dict) else [m for m, _ in elements]
        command = "HRANDFIELD" if command == "HSCAN" else command
    items = [part for item in reply for part in (item if isinstance(item, (list, tuple)) else (item,))]
    if command == "HRANDFIELD":  # field, value, ... (redis-py may pair them up)
        fields, values = items[0::2], items[1::2]
        record.field_sizes = [len(f) for f in fields]
        items = values
    record.element_sizes = [len(i) for i in items]
    record.integers = bool(items) and all(is_integer(i) for i in items)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
