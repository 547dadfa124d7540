"""How long the fork child takes to write the RDB file, and how big the file is."""

from __future__ import annotations

RDB_FIXED_BYTES = 200
"""RDB header, aux fields (redis-ver, ctime, used-mem, ...) and the 8-byte checksum trailer."""
LZF_MIN_LENGTH = 20
"""Redis only tries LZF on strings longer than 20 bytes (rdb.c, rdbSaveRawString)."""
REPETITIVE_COMPRESSION = 0.02
"""Stored/raw size of highly repetitive values (DEBUG POPULATE pads with zero bytes); LZF encodes
long runs as 3-byte back-references of up to 264 bytes, ~1-2 %. Checked by the harness RDB sizes."""


def length_encoding_bytes(n: int) -> int:
    """Bytes of an RDB length prefix (6-bit, 14-bit, 32-bit or 64-bit form)."""
    if n < 1 << 6:
        return 1
    if n < 1 << 14:
        return 2
    if n < 1 << 32:
        return 5
    return 9


def stored_value_bytes(value_size: int, pattern: str, compression: bool) -> float:
    """Bytes one string value takes in the RDB file, length prefix included."""
    if compression and pattern == "repetitive" and value_size > LZF_MIN_LENGTH:
        packed = max(8.0, value_size * REPETITIVE_COMPRESSION)
        return 1 + length_encoding_bytes(int(packed)) + length_encoding_bytes(value_size) + packed
    return length_encoding_bytes(value_size) + value_size


def rdb_bytes(keys: int, key_size: int, value_size: int, pattern: str = "random", compression: bool = True) -> int:
    """Size of the RDB file for ``keys`` string keys (type byte, key, value per key)."""
    per_key = 1 + length_encoding_bytes(key_size) + key_size + stored_value_bytes(value_size, pattern, compression)
    return int(RDB_FIXED_BYTES + keys * per_key)


def effective_key_delay_us(delay_us: int, overhead_us: float) -> float:
    """Mean time ``rdb-key-save-delay`` adds per key, as Redis applies it (debug.c ``debugDelay``).

    Positive: ``usleep(delay)`` per key, which overshoots by ``overhead_us`` (timer slack and the
    system call). Negative ``-N``: sleep 1 us with probability 1/N, "fractional microseconds".
    """
    if delay_us > 0:
        return delay_us + overhead_us
    if delay_us < 0:
        return (1.0 + overhead_us) / -delay_us
    return 0.0


def save_seconds(
    keys: int,
    stored_bytes: float,
    lzf_bytes: float,
    us_per_key: float,
    write_bytes_per_sec: float,
    lzf_bytes_per_sec: float,
    key_delay_us: float = 0.0,
) -> float:
    """Single-core seconds to save ``keys`` keys: per key, per byte written, per byte LZF scans."""
    lzf = lzf_bytes / lzf_bytes_per_sec if lzf_bytes_per_sec > 0 else 0.0
    return keys * (us_per_key + key_delay_us) / 1e6 + stored_bytes / write_bytes_per_sec + lzf


def lzf_scanned_bytes(keys: int, value_size: int, compression: bool) -> int:
    """Bytes LZF reads: every value longer than 20 bytes when rdbcompression is on."""
    return keys * value_size if compression and value_size > LZF_MIN_LENGTH else 0
