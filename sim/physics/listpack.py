"""Bytes of listpack (Redis >= 7.0) and ziplist (before 7.0) encodings: header, per-entry header and backlen.

A listpack is one allocation reallocated to its exact length on every insert, so its allocator slot is the
size class of these bytes.
"""

from __future__ import annotations

LISTPACK_OVERHEAD = 7
"""6-byte header (total bytes, element count) + the 0xFF end byte: LP_HDR_SIZE,
https://github.com/redis/redis/blob/7.0.15/src/listpack.c#L48 and lpNew (#L242-L249)."""
ZIPLIST_OVERHEAD = 11
"""10-byte header (zlbytes, zltail, zllen) + end byte: ZIPLIST_HEADER_SIZE,
https://github.com/redis/redis/blob/6.2.0/src/ziplist.c#L244"""


def listpack_int_bytes(value: int) -> int:
    """Encoded bytes of an integer element (lpEncodeIntegerGetType,
    https://github.com/redis/redis/blob/7.0.15/src/listpack.c#L267-L310)."""
    if 0 <= value <= 127:
        return 1
    for low, high, size in (
        (-4096, 4095, 2),
        (-(2**15), 2**15 - 1, 3),
        (-(2**23), 2**23 - 1, 4),
        (-(2**31), 2**31 - 1, 5),
    ):
        if low <= value <= high:
            return size
    return 9


def listpack_backlen(encoded: int) -> int:
    """Bytes of the backward length after an entry of ``encoded`` bytes (lpEncodeBacklen, listpack.c#L347-L380)."""
    for limit, size in ((127, 1), (16382, 2), (2097150, 3), (268435454, 4)):
        if encoded <= limit:
            return size
    return 5


def listpack_entry_bytes(size: int, integer: int | None = None) -> int:
    """Bytes of one listpack entry: a string of ``size`` bytes, or ``integer`` when the string parses as one
    (lpEncodeGetType stores such strings as integers, listpack.c#L329-L340)."""
    if integer is not None:
        encoded = listpack_int_bytes(integer)
    else:
        encoded = size + (1 if size < 64 else 2 if size < 4096 else 5)
    return encoded + listpack_backlen(encoded)


def ziplist_entry_bytes(size: int, integer: int | None = None, previous: int = 0) -> int:
    """Bytes of one ziplist entry: prevlen (1 or 5), encoding and data (zipStoreEntryEncoding, zipTryEncoding:
    strings of up to 31 bytes that parse as integers are stored as integers,
    https://github.com/redis/redis/blob/6.2.0/src/ziplist.c#L330-L460)."""
    prevlen = 1 if previous < 254 else 5
    if integer is not None and -(2**63) <= integer < 2**63:
        if 0 <= integer <= 12:
            data = 0
        elif -128 <= integer <= 127:
            data = 1
        elif -(2**15) <= integer < 2**15:
            data = 2
        elif -(2**23) <= integer < 2**23:
            data = 3
        elif -(2**31) <= integer < 2**31:
            data = 4
        else:
            data = 8
        return prevlen + 1 + data
    header = 1 if size <= 63 else 2 if size <= 16383 else 5
    return prevlen + header + size


def entry_bytes(size: int, integer: int | None, ziplist: bool) -> int:
    """One entry of either encoding (a ziplist's prevlen taken for a previous entry of the same size)."""
    if ziplist:
        return ziplist_entry_bytes(size, integer, previous=ziplist_entry_bytes(size, integer))
    return listpack_entry_bytes(size, integer)


def packed_bytes(entries: float, ziplist: bool) -> float:
    """Total bytes of a listpack/ziplist holding ``entries`` bytes of entries."""
    return (ZIPLIST_OVERHEAD if ziplist else LISTPACK_OVERHEAD) + entries
