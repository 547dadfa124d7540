"""Which encoding Redis gives a value of a type, from its element count and sizes and the server's thresholds.

Pure functions of numbers. The rules are read from the Redis source of each version (URLs and lines below);
Valkey is treated as Redis 7.2 (it forked from 7.2.4; its later in-object keys are not modelled).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.physics.listpack import listpack_entry_bytes

TYPES = ("string", "hash", "set", "zset", "list")

EMBSTR_LIMIT = 44
"""Strings up to 44 bytes share one allocation with their robj: OBJ_ENCODING_EMBSTR_SIZE_LIMIT,
https://github.com/redis/redis/blob/7.0.15/src/object.c#L119"""
INT_STRING_DIGITS = 20
"""Strings of up to 20 characters that parse as a long are stored as integers (tryObjectEncoding,
https://github.com/redis/redis/blob/7.0.15/src/object.c#L614-L620)."""


@dataclass(frozen=True)
class EncodingParams:
    """Encoding thresholds of a server (the config.c defaults of Redis 7.x unless overridden).

    Compiled-in defaults, https://github.com/redis/redis/blob/7.0.15/src/config.c#L3065-L3128:
    list-max-listpack-size -2, hash-max-listpack-entries 512, hash-max-listpack-value 64,
    set-max-intset-entries 512, zset-max-listpack-entries 128, zset-max-listpack-value 64; 7.2 adds
    set-max-listpack-entries 128 / set-max-listpack-value 64 (https://github.com/redis/redis/blob/7.2.0/src/config.c#L3217-L3218).
    The shipped redis.conf of 6.2, 7.0 and 7.2 repeats the same figures (e.g. redis.conf#L1913-L1958 of 7.0.15).
    """

    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    set_max_intset_entries: int = 512
    set_max_listpack_entries: int = 128
    set_max_listpack_value: int = 64
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    list_max_listpack_size: int = -2

    @classmethod
    def from_mapping(cls, values: Mapping[str, object] | None) -> EncodingParams:
        """Thresholds from Redis config names (``hash-max-ziplist-entries`` accepted as an alias)."""
        fields: dict[str, int] = {}
        for name, value in (values or {}).items():
            attr = name.replace("ziplist", "listpack").replace("-", "_")
            if attr in cls.__dataclass_fields__:
                fields[attr] = int(value)  # type: ignore[call-overload]
        return cls(**fields)


def version_tuple(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as ``7.0.15``."""
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def uses_listpack(engine: str, version: str) -> bool:
    """Redis 7.0 replaced ziplist with listpack for hashes, zsets and list nodes (Valkey: always)."""
    return engine == "valkey" or version_tuple(version) >= (7, 0)


def sets_use_listpack(engine: str, version: str) -> bool:
    """Small non-integer sets became listpacks in Redis 7.2 (setTypeCreate,
    https://github.com/redis/redis/blob/7.2.0/src/t_set.c#L46-L57); Valkey forked from 7.2."""
    return engine == "valkey" or version_tuple(version) >= (7, 2)


def lists_use_listpack(engine: str, version: str) -> bool:
    """Redis 7.2 keeps a list that fits one node as a bare listpack (OBJ_ENCODING_LISTPACK for lists)."""
    return engine == "valkey" or version_tuple(version) >= (7, 2)


def is_integer_string(text_size: int, integers: bool) -> bool:
    """Whether a string value is stored int-encoded: it parses as a long (``integers``) and fits 20 chars."""
    return integers and text_size <= INT_STRING_DIGITS


def encoding_of(
    type_: str,
    elements: int,
    max_element_size: int,
    integers: bool,
    params: EncodingParams,
    engine_version: str,
    engine: str = "redis",
    max_field_size: int = 0,
) -> str:
    """Encoding of one key: 'raw' | 'embstr' | 'int' | 'listpack' | 'ziplist' | 'hashtable' | 'intset' |
    'skiplist' | 'quicklist'. ``max_element_size`` is the largest element (hash: the larger of field and value;
    ``max_field_size`` lets a caller pass the field name size separately)."""
    small = "listpack" if uses_listpack(engine, engine_version) else "ziplist"
    largest = max(max_element_size, max_field_size)
    if type_ == "string":
        if is_integer_string(max_element_size, integers):
            return "int"
        return "embstr" if max_element_size <= EMBSTR_LIMIT else "raw"
    if type_ == "hash":
        # hashTypeSet converts once the length exceeds the entries limit; hashTypeTryConversion once an
        # argument exceeds the value limit: https://github.com/redis/redis/blob/7.0.15/src/t_hash.c#L40-L58
        fits = elements <= params.hash_max_listpack_entries and largest <= params.hash_max_listpack_value
        return small if fits else "hashtable"
    if type_ == "set":
        # setTypeAdd: an intset while every member is an integer and the length <= set-max-intset-entries,
        # https://github.com/redis/redis/blob/7.0.15/src/t_set.c#L42-L80
        if integers and max_element_size <= INT_STRING_DIGITS and elements <= params.set_max_intset_entries:
            return "intset"
        if sets_use_listpack(engine, engine_version):
            fits = elements <= params.set_max_listpack_entries and largest <= params.set_max_listpack_value
            if fits:
                return "listpack"
        return "hashtable"
    if type_ == "zset":
        # zsetAdd converts before inserting the (entries+1)-th member or a member longer than the value limit,
        # https://github.com/redis/redis/blob/7.0.15/src/t_zset.c#L1745-L1753 and zsetAdd.
        fits = elements <= params.zset_max_listpack_entries and largest <= params.zset_max_listpack_value
        return small if fits else "skiplist"
    if type_ == "list":
        if lists_use_listpack(engine, engine_version):
            number = 10 ** (max_element_size - 1) if is_integer_string(max_element_size, integers) else None
            entry = listpack_entry_bytes(max_element_size, number)
            if elements <= list_node_capacity(max_element_size, params, entry):
                return "listpack"
        return "quicklist"
    raise ValueError(f"unknown type {type_!r}; allowed: {', '.join(TYPES)}")


LIST_NODE_BYTES = (4096, 8192, 16384, 32768, 65536)
"""Listpack bytes per quicklist node for list-max-listpack-size -1..-5 (optimization_level,
https://github.com/redis/redis/blob/7.0.15/src/quicklist.c#L48)."""


def list_node_capacity(item_size: int, params: EncodingParams, entry: int | None = None) -> int:
    """Items of ``item_size`` bytes one quicklist node holds (a listpack node of at most the size limit).

    _quicklistNodeAllowInsert admits an item while node bytes + item size + 8 stays within the limit
    (SIZE_ESTIMATE_OVERHEAD 8, https://github.com/redis/redis/blob/7.0.15/src/quicklist.c#L470-L494);
    a positive list-max-listpack-size is a count, still capped at 8 KB (SIZE_SAFETY_LIMIT). ``entry``: the
    item's encoded bytes when not a plain string (an integer item packs smaller than its text).
    """
    entry = entry or listpack_entry_bytes(item_size)
    fill = params.list_max_listpack_size
    limit = LIST_NODE_BYTES[min(-fill, len(LIST_NODE_BYTES)) - 1] if fill < 0 else 8192
    # node->sz + item + 8 <= limit, with node->sz = 7 + n*entry before the (n+1)-th insert
    count = max(1, (limit - 8 - item_size - 7) // entry + 1)
    if fill > 0:
        count = min(count, fill)
    return min(count, 65535)
