"""What the harness writes for typed key groups: plain, picklable specs and the RESP of every command.

A :class:`GroupSpec` is one key group (its type, keys, per-key element counts and element sizes already
drawn into tables by a seeded rng), a :class:`MixSpec` one share of the write load. Fill and write load
build their commands here from the same tables, so a write hits a field, member or value the fill made:
key ``i`` of group ``g`` is ``g:<i>`` (the shorthand's one group: ``key:<i>``) and holds
``counts[i % keys]`` elements; element ``j`` of key ``i`` is ``sizes[(i * 40503 + j) % len(sizes)]`` bytes
(a string's value: ``sizes[i % len(sizes)]``). Hash fields are ``f<j>`` zero-padded to ``field_size``; set
and sorted-set members start with ``<j>:`` and are padded to their size with bytes that depend only on
(i, j) (integer members are ``1000000 + j``). :func:`typed_dataset` reads all of it from a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.physics.datatypes import ANY_TYPE_COMMANDS, COMMANDS

if TYPE_CHECKING:
    from sim.scenario import Scenario

CREATE = {"string": "SET", "hash": "HSET", "set": "SADD", "zset": "ZADD", "list": "RPUSH"}
"""The command that creates a key of each type (a NEW write, and the fill)."""
SIZE_TABLE = 65_536
"""Element sizes drawn per group (a fixed table indexed by key and element: the right marginal, reproducible)."""
INT_MEMBER_BASE = 1_000_000
"""Integer set/zset members are ``1000000 + j``: 32-bit intset entries, like real ids, not shared small ints."""
DEFAULT_EXPIRE_S = 3600.0
"""TTL an EXPIRE write gives a key of a group without a TTL mean (1 h)."""
BUFFER_SEED = 20_261_201
_MEMBER_STRIDE = 40_503
_FILL_HASH = 2_654_435_761


@dataclass(frozen=True)
class GroupSpec:
    """One key group as the harness writes it (counts and sizes sampled; see :func:`group_spec`)."""

    name: str
    type: str
    keys: int
    counts: np.ndarray  # elements per key, len == keys (1 for strings)
    sizes: np.ndarray  # element (string: value) sizes in bytes, len SIZE_TABLE
    field_size: int = 10
    integers: bool = False
    pattern: str = "random"
    ttl_share: float = 0.0
    ttl_mean_s: float = 0.0
    distribution: Any = None  # a sim.keydist key distribution (None: uniform)
    clustered: bool = False
    prefix: str = ""  # key names' prefix: the group's name unless set (the shorthand's group: "key")

    def key(self, i: int) -> bytes:
        """The name of key ``i``: ``<group>:<i>``."""
        return b"%s:%d" % ((self.prefix or self.name).encode(), i)

    def count(self, i: int) -> int:
        """Elements key ``i`` was created with (new keys beyond ``keys`` reuse the table)."""
        return int(self.counts[i % self.keys])

    def size(self, i: int, j: int = 0) -> int:
        """Bytes of element ``j`` of key ``i`` (a string's value for j = 0)."""
        if self.type == "string":
            return int(self.sizes[i % len(self.sizes)])
        return int(self.sizes[(i * _MEMBER_STRIDE + j) % len(self.sizes)])


@dataclass(frozen=True)
class MixSpec:
    """One entry of the write mix: ``share`` of the writes send ``command`` to keys of ``group``."""

    group: str
    command: str
    share: float
    bytes: int = 16  # APPEND's length


@dataclass(frozen=True)
class EngineConfig:
    """Server settings a scenario asks for: CONFIG SET before the fill (Redis names) and the eviction policy."""

    settings: tuple[tuple[str, str], ...] = ()
    maxmemory_policy: str = "noeviction"


def group_spec(
    name: str,
    type_: str,
    keys: int,
    elements: Any = 1,
    element_size: Any = 64,
    *,
    seed: int = 1,
    **options: Any,
) -> GroupSpec:
    """A :class:`GroupSpec` with its tables drawn: ``elements``/``element_size`` are numbers or distributions with
    ``.sample(n, rng)`` (the scenario's lognormal / histogram models)."""
    if type_ not in COMMANDS:
        raise ValueError(f"group {name}: type {type_!r} is not one of {', '.join(COMMANDS)}")
    rng = np.random.default_rng([seed, *name.encode()])
    counts = _draw(elements, keys, rng, minimum=1).astype(np.int32)
    if type_ == "string":
        counts[:] = 1
    sizes = _draw(element_size, SIZE_TABLE, rng, minimum=1).astype(np.int32)
    return GroupSpec(name, type_, int(keys), counts, sizes, **options)


def _draw(value: Any, n: int, rng: np.random.Generator, minimum: int) -> np.ndarray:
    if hasattr(value, "sample"):
        drawn = np.asarray(value.sample(n, rng), dtype=float)
    else:
        drawn = np.full(n, float(value))
    return np.maximum(np.rint(drawn), minimum).astype(np.int64)


def check_mix(groups: tuple[GroupSpec, ...], mix: tuple[MixSpec, ...]) -> None:
    """Raise ValueError naming the entry when a mix entry names no group or a command its type has not."""
    by_name = {g.name: g for g in groups}
    for m in mix:
        g = by_name.get(m.group)
        if g is None:
            raise ValueError(f"mix entry {m.group} {m.command}: no such group (groups: {', '.join(by_name)})")
        allowed = COMMANDS[g.type] + ANY_TYPE_COMMANDS
        if m.command not in allowed:
            raise ValueError(f"group {g.name} ({g.type}): command {m.command} is not one of {', '.join(allowed)}")


# -- RESP ----------------------------------------------------------------------------------------------


def resp(*args: bytes | memoryview) -> bytes:
    """One command in RESP: ``*n`` then each argument as a bulk string."""
    parts: list[bytes | memoryview] = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n" % len(a))
        parts.append(a)
        parts.append(b"\r\n")
    return b"".join(parts)


class Payloads:
    """Bytes for values, fields and members: random (slices of one seeded buffer), repetitive or integers.

    The buffer comes from :data:`BUFFER_SEED` alone, so every process builds the fill's members; ``seed``
    drives the random value offsets and integers.
    """

    def __init__(self, seed: int = 1, buffer_bytes: int = 32 << 20) -> None:
        self._buf = memoryview(np.random.default_rng(BUFFER_SEED).bytes(buffer_bytes))
        self._span = buffer_bytes
        self._rng = np.random.default_rng(seed)
        self._offsets = np.empty(0, np.int64)
        self._next = 0
        self._ints = np.empty(0, np.int64)
        self._next_int = 0
        self._zeros = b"\0" * 4096

    def _offset(self) -> int:
        if self._next >= len(self._offsets):
            self._offsets = self._rng.integers(0, self._span // 2, 65536)
            self._next = 0
        self._next += 1
        return int(self._offsets[self._next - 1])

    def integer(self) -> bytes:
        """A random integer value (decimal, fits Redis's int encoding and INCR/HINCRBY)."""
        if self._next_int >= len(self._ints):
            self._ints = self._rng.integers(0, 2**31, 65536)
            self._next_int = 0
        self._next_int += 1
        return b"%d" % self._ints[self._next_int - 1]

    def value(self, group: GroupSpec, size: int, tag: int) -> bytes | memoryview:
        """A value of ``size`` bytes in the group's pattern (``tag`` names repetitive values, as DEBUG POPULATE)."""
        if group.integers:
            return self.integer()
        if group.pattern == "repetitive":
            head = b"value:%d" % tag
            return head[:size] if len(head) >= size else head + self._pad(size - len(head))
        off = self._offset()
        return self._buf[off : off + size]

    def _pad(self, n: int) -> bytes:
        return self._zeros[:n] if n <= len(self._zeros) else b"\0" * n

    def member(self, group: GroupSpec, i: int, j: int) -> bytes:
        """Member ``j`` of set/zset key ``i``: the same bytes whoever builds them."""
        if group.integers:
            return b"%d" % (INT_MEMBER_BASE + j)
        head = b"%d:" % j
        n = group.size(i, j) - len(head)
        if n <= 0:
            return head
        if group.pattern == "repetitive":
            return head + self._pad(n)
        off = (i * _FILL_HASH + j * _MEMBER_STRIDE) % (self._span - n)
        return head + bytes(self._buf[off : off + n])

    @staticmethod
    def field(group: GroupSpec, j: int) -> bytes:
        """Hash field ``j``: ``f<j>`` zero-padded to ``field_size``."""
        return b"f%0*d" % (max(1, group.field_size - 1), j)


def create_command(group: GroupSpec, i: int, pay: Payloads) -> bytes:
    """RESP that creates key ``i`` with its elements (the fill, and a NEW write)."""
    key = group.key(i)
    n = group.count(i)
    t = group.type
    if t == "string":
        return resp(b"SET", key, pay.value(group, group.size(i), i))
    args: list[bytes | memoryview] = [CREATE[t].encode(), key]
    if t == "hash":
        for j in range(n):
            args += [pay.field(group, j), pay.value(group, group.size(i, j), i)]
    elif t == "set":
        args += [pay.member(group, i, j) for j in range(n)]
    elif t == "zset":
        for j in range(n):
            args += [b"%d" % j, pay.member(group, i, j)]
    else:
        args += [pay.value(group, group.size(i, j), i) for j in range(n)]
    return resp(*args)


@dataclass
class WriteBuilder:
    """RESP of one mix write to a key (``element``: a uniform index below the key's count; ``fresh``: new
    members/keys this process adds, numbered so that two processes never collide)."""

    pay: Payloads
    rng: np.random.Generator
    index: int = 0
    procs: int = 1
    _fresh: dict[str, int] = field(default_factory=dict)

    def fresh(self, group: GroupSpec, base: int) -> int:
        """The next id this process may add above ``base`` (interleaved between processes)."""
        n = self._fresh.get(group.name, 0)
        self._fresh[group.name] = n + 1
        return base + n * self.procs + self.index

    def ttl(self, group: GroupSpec) -> int:
        """A TTL in seconds: exponential with the group's mean (at least 1 s)."""
        mean = group.ttl_mean_s or DEFAULT_EXPIRE_S
        return max(1, int(round(self.rng.exponential(mean))))

    def command(self, group: GroupSpec, entry: MixSpec, i: int) -> bytes:
        """RESP for ``entry.command`` on key ``i`` of ``group``."""
        c, key, pay = entry.command, group.key(i), self.pay
        if c == "NEW":
            return create_command(group, self.fresh(group, group.keys), pay)
        if c == "DEL":
            return resp(b"DEL", key)
        if c == "EXPIRE":
            return resp(b"EXPIRE", key, b"%d" % self.ttl(group))
        if c in ("LPOP", "RPOP", "INCR"):
            return resp(c.encode(), key)
        if c in ("LPUSH", "RPUSH"):
            return resp(c.encode(), key, pay.value(group, group.size(i, int(self.rng.integers(1 << 30))), i))
        if c == "SET":
            return resp(b"SET", key, pay.value(group, group.size(i), i))
        if c == "APPEND":
            return resp(b"APPEND", key, pay.value(group, entry.bytes, i) if not group.integers else b"1" * entry.bytes)
        if c == "SADD":
            j = self.fresh(group, group.count(i) + INT_MEMBER_BASE)
            return resp(b"SADD", key, pay.member(group, i, j))
        j = int(self.rng.integers(0, group.count(i)))
        if c == "HSET":
            return resp(b"HSET", key, pay.field(group, j), pay.value(group, group.size(i, j), i))
        if c == "HINCRBY":
            return resp(b"HINCRBY", key, pay.field(group, j), b"1")
        if c == "SREM":
            return resp(b"SREM", key, pay.member(group, i, j))
        if c == "ZADD":
            return resp(b"ZADD", key, b"%d" % int(self.rng.integers(1 << 30)), pay.member(group, i, j))
        if c == "ZINCRBY":
            return resp(b"ZINCRBY", key, b"1", pay.member(group, i, j))
        raise ValueError(f"group {group.name} ({group.type}): unknown command {c}")


@dataclass(frozen=True)
class TypedDataset:
    """A scenario's typed groups, write mix and engine settings, as one harness run writes them."""

    groups: tuple[GroupSpec, ...]
    mix: tuple[MixSpec, ...]
    engine: EngineConfig = EngineConfig()

    def __post_init__(self) -> None:
        check_mix(self.groups, self.mix)

    @property
    def keys(self) -> int:
        """Keys over all groups."""
        return sum(g.keys for g in self.groups)

    def write_commands(self) -> tuple[str, ...]:
        """INFO commandstats names of the commands the mix sends (NEW: the type's create command)."""
        types = {g.name: g.type for g in self.groups}
        names = {(CREATE[types[m.group]] if m.command == "NEW" else m.command).lower() for m in self.mix}
        return tuple(sorted(names))

    def key_name_bytes_mean(self) -> float:
        """Mean length of the key names ``<group>:<i>`` over every key."""
        from sim.harness.resp import mean_key_name_bytes

        total = sum(g.keys * (mean_key_name_bytes(g.keys) - 4 + len(g.key(0)) - 1) for g in self.groups)
        return total / max(1, self.keys)


def typed_dataset(scenario: Scenario) -> TypedDataset | None:
    """What a scenario's typed groups, write mix and engine parameters make the harness write; None for the
    plain shorthand (string keys, no mix, no parameters), which keeps DEBUG POPULATE / pipelined SETs."""
    shorthand = scenario.dataset.groups is None
    if shorthand and scenario.workload.mix is None and scenario.engine.parameters is None:
        return None
    groups = tuple(
        group_spec(
            g.name,
            g.type,
            g.keys,
            g.elements.values[0] if g.elements.is_fixed else g.elements,
            g.element_size.values[0] if g.element_size.is_fixed else g.element_size,
            field_size=g.field_size or 10,
            integers=g.values == "integers",
            pattern=g.value_pattern,
            ttl_share=g.ttl_share,
            ttl_mean_s=g.ttl_mean_s or 0.0,
            distribution=g.key_distribution,
            clustered=g.locality == "clustered",
            prefix="key" if shorthand else "",
        )
        for g in scenario.key_groups()
    )
    mix = tuple(MixSpec(m.group, m.command, m.share, m.bytes) for m in scenario.write_mix())
    config = scenario.engine_parameters().as_config()
    policy = config.pop("maxmemory-policy")
    return TypedDataset(groups, mix, EngineConfig(tuple(config.items()), policy))
