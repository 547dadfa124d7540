"""How a string key and its value sit in memory: allocations per key and their allocator sizes.

The copy-on-write model needs to know which allocations a SET on an existing key rewrites
and how large they are, because a page is copied when any allocation on it is rewritten.
Sizes follow Redis 7.0's string layout (``dictEntry`` + key ``sds`` + ``robj`` + value
``sds``, or one "embstr" allocation for values up to 44 bytes; see ``object.c``) and the
allocator's size classes (jemalloc 5: 16-byte quantum, four classes per doubling; glibc:
8-byte header rounded up to 16). The estimate is checked against ``used_memory`` of real
servers by the harness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EMBSTR_LIMIT = 44
"""Redis stores string values up to 44 bytes in the same allocation as their robj (object.c)."""
ROBJ_BYTES = 16
DICT_ENTRY_BYTES = 24
DICT_POINTER_BYTES = 8
EMPTY_SERVER_USED_MEMORY = 900_000
"""used_memory of an empty redis-server 7.0 (about 0.86 MiB, INFO memory of a fresh server)."""


def jemalloc_size_class(n: int) -> int:
    """Smallest jemalloc 5 size class holding ``n`` bytes (x86-64, 4 KiB pages)."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) // 16 * 16
    group = 1 << (math.ceil(math.log2(n)) - 1)  # classes in (group, 2*group] step group/4
    step = group // 4
    return (n + step - 1) // step * step


def libc_chunk_size(n: int) -> int:
    """glibc malloc chunk size for a request of ``n`` bytes (8-byte header, 16-byte alignment)."""
    return max(32, (n + 8 + 15) // 16 * 16)


def sds_header(length: int) -> int:
    """Header bytes of an sds string of ``length`` bytes (sdshdr5/8/16/32/64)."""
    if length < 32:
        return 1
    if length < 256:
        return 3
    if length < 65536:
        return 5
    if length < 2**32:
        return 9
    return 17


@dataclass(frozen=True)
class Allocation:
    """One allocation each key owns."""

    name: str
    size: int
    rewritten_by_overwrite: bool


@dataclass(frozen=True)
class KeyLayout:
    """All allocations of one string key, plus its share of the hash-table bucket array."""

    allocations: tuple[Allocation, ...]
    table_bytes_per_key: float

    @property
    def bytes_per_key(self) -> float:
        return sum(a.size for a in self.allocations) + self.table_bytes_per_key

    @property
    def rewritten(self) -> tuple[Allocation, ...]:
        return tuple(a for a in self.allocations if a.rewritten_by_overwrite)


def key_layout(key_size: int, value_size: int, keys: int, allocator: str = "jemalloc") -> KeyLayout:
    """Layout of a string key of ``key_size`` bytes holding ``value_size`` bytes, in a db of ``keys``."""
    chunk = jemalloc_size_class if allocator == "jemalloc" else libc_chunk_size
    allocations = [
        Allocation("dict entry", chunk(DICT_ENTRY_BYTES), True),
        Allocation("key", chunk(sds_header(key_size) + key_size + 1), False),
    ]
    if value_size <= EMBSTR_LIMIT:
        allocations.append(Allocation("value (embstr)", chunk(ROBJ_BYTES + 3 + value_size + 1), True))
    else:
        allocations.append(Allocation("value object", chunk(ROBJ_BYTES), True))
        allocations.append(Allocation("value bytes", chunk(sds_header(value_size) + value_size + 1), True))
    buckets = 1 << max(2, math.ceil(math.log2(max(keys, 1))))
    return KeyLayout(tuple(allocations), DICT_POINTER_BYTES * buckets / max(keys, 1))


def used_memory(keys: int, key_size: int, value_size: int, allocator: str = "jemalloc") -> int:
    """Estimated ``used_memory`` of a server holding ``keys`` string keys."""
    layout = key_layout(key_size, value_size, keys, allocator)
    return int(EMPTY_SERVER_USED_MEMORY + keys * layout.bytes_per_key)


def keys_for_used_memory(used: int, key_size: int, value_size: int, allocator: str = "jemalloc") -> int:
    """Number of keys of the given sizes that fills ``used`` bytes of ``used_memory``."""
    per_key = key_layout(key_size, value_size, max(1, used // 64), allocator).bytes_per_key
    return max(1, int((used - EMPTY_SERVER_USED_MEMORY) / per_key))


def value_size_for_used_memory(used: int, keys: int, key_size: int, allocator: str = "jemalloc") -> int:
    """Value size that makes ``keys`` string keys fill ``used`` bytes (inverse of :func:`used_memory`)."""
    target = (used - EMPTY_SERVER_USED_MEMORY) / keys
    low, high = 1, max(2, int(target) + 1)
    while low < high:
        mid = (low + high) // 2
        if key_layout(key_size, mid, keys, allocator).bytes_per_key < target:
            low = mid + 1
        else:
            high = mid
    return low
