"""Restoring an RDB: load time, memory while and after loading, and each replica's full sync.

Pure functions of numbers. Loading is single-threaded in the server's main thread (rdbLoad): per key it
parses the type and the key, allocates the objects and inserts them into the dict (pre-sized by the RDB's
RESIZEDB opcode, so no rehash); per value byte it reads, checksums and copies it into new memory; per
byte of an LZF-compressed value it also decompresses. Until it is done the server answers ``-LOADING``
(``loading:1`` in INFO), so the load time is
time the new node does not serve. A replica then needs a full sync: its new primary forks and streams an
RDB (copy-on-write grows under the writes that come back), the replica stores and loads it.
"""

from __future__ import annotations

SLOTS = 16384
"""Redis Cluster hash slots (cluster spec: CRC16(key) mod 16384)."""


def load_seconds(
    keys: int,
    value_bytes: float,
    lzf_raw_bytes: float,
    us_per_key: float,
    value_bytes_per_sec: float,
    lzf_bytes_per_sec: float,
    pages: float = 0.0,
    first_touch_us_per_page: float = 0.0,
) -> float:
    """CPU seconds to load an RDB: ``keys x us_per_key + value_bytes / value rate + lzf_raw_bytes / LZF rate``.

    ``value_bytes`` are the bytes of all values as they land in memory (read from the file, checksummed,
    copied into fresh allocations whose pages the kernel faults in); ``lzf_raw_bytes`` the share of them
    stored LZF-compressed, which costs the decompression on top (0 with ``rdbcompression no`` or when LZF
    could not shrink them, e.g. random values). On a VM that hands freed pages to its host, each of the
    dataset's ``pages`` also costs ``first_touch_us_per_page`` (a host fault).
    """
    lzf = lzf_raw_bytes / lzf_bytes_per_sec if lzf_bytes_per_sec > 0 and lzf_raw_bytes else 0.0
    return keys * us_per_key / 1e6 + value_bytes / value_bytes_per_sec + lzf + pages * first_touch_us_per_page / 1e6


def peak_load_memory(rss_after: float, extra_bytes: float) -> float:
    """Peak resident memory while loading: the loaded dataset's RSS plus the loader's own buffers."""
    return rss_after + extra_bytes


def fits(used_memory: float, maxmemory: float) -> bool:
    """ElastiCache restores only onto a node whose data limit (maxmemory minus reserved) holds the data."""
    return used_memory <= maxmemory


def slots_per_shard(shards: int) -> list[int]:
    """Hash slots each of ``shards`` shards owns when the 16384 slots are spread evenly (first ones get the
    remainder)."""
    if not 1 <= shards <= SLOTS:
        raise ValueError(f"shards must be between 1 and {SLOTS}")
    base, extra = divmod(SLOTS, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def transfer_seconds(rdb_bytes: float, replicas: int, network_bytes_per_sec: float) -> float:
    """Seconds to send one RDB to ``replicas`` replicas sharing the primary's network bandwidth."""
    if replicas <= 0:
        return 0.0
    return replicas * rdb_bytes / network_bytes_per_sec


def full_sync_seconds(fork_s: float, save_s: float, transfer_s: float, replica_load_s: float) -> float:
    """Time from a replica's SYNC until it serves: fork, then the streamed save and the network transfer
    overlap (the slower one paces a diskless sync), then the replica loads what it received."""
    return fork_s + max(save_s, transfer_s) + replica_load_s


def sync_cow_writes(writes_per_sec: float, fork_s: float, save_s: float, transfer_s: float) -> float:
    """Writes the new primary takes while its sync child lives (they copy pages on write)."""
    return writes_per_sec * (fork_s + max(save_s, transfer_s))
