"""Memory churn around a backup: keys expiring, ``maxmemory-policy`` eviction and refused writes.

A fluid model, one step at a time (numpy arrays or floats, so the engine and the batch path share
it). Per step, write commands grow ``used_memory`` by ``grow`` bytes each (NEW, LPUSH, SADD, APPEND)
and free ``shrink`` bytes each (DEL, RPOP, SREM); keys with a TTL expire at the steady-state rate
``share x keys / mean TTL`` (:func:`expiry_per_sec`). Growth that would pass ``maxmemory``:

* ``noeviction`` refuses it: while over the limit Redis answers ``-OOM`` to every command that may
  allocate (``DENYOOM``: SET, HSET, LPUSH, INCR, ...; not DEL, SREM, the pops, EXPIRE), same-size
  overwrites included, so in a step only the share of them that the room (made by frees and expiry)
  takes runs: refused commands are counted and copy nothing;
* ``allkeys-*`` evicts keys of the mean key size to stay at ``maxmemory``;
* ``volatile-*`` evicts only keys with a TTL; once none is left it refuses like ``noeviction``.

Freed memory (deleted, expired, evicted keys) leaves ``used_memory`` but not the RSS: the allocator
keeps the slots and the next allocations reuse them before taking fresh pages. So new allocations
first fill the pool of freed bytes (no RSS growth) and only the rest is new RSS. While a fork child
lives, a reused slot sits on a page shared with the child: writing it copies the page
(:func:`reuse_pages`), unless the command that freed it had written it already (a list pop drains its node).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)
"""Redis's ``maxmemory-policy`` values (redis.conf, "MAXMEMORY POLICY")."""


def expiry_per_sec(keys: float, ttl_share: float, mean_ttl_s: float) -> float:
    """Keys expiring per second in steady state: each of ``share x keys`` keys lives ``mean_ttl_s`` on average."""
    return ttl_share * keys / mean_ttl_s if mean_ttl_s > 0 else 0.0


def evictable_keys(policy: str, ttl_keys: float) -> float:
    """Keys ``policy`` may evict: none (noeviction), the keys with a TTL (volatile-*), any key, new ones
    included, so never running out (allkeys-*)."""
    if policy == "noeviction":
        return 0.0
    if policy.startswith("volatile-"):
        return ttl_keys
    return math.inf


@dataclass(frozen=True)
class Churn:
    """Per-run constants of the churn (floats, or arrays with one value per run)."""

    grow: float | np.ndarray  # used_memory bytes one write command allocates (mix-weighted)
    shrink: float | np.ndarray  # used_memory bytes one write command frees (mix-weighted)
    expired_keys_per_s: float | np.ndarray
    expired_bytes_per_s: float | np.ndarray
    maxmemory: float | np.ndarray
    key_bytes: float | np.ndarray  # used_memory of the mean evicted key
    deny_share: float | np.ndarray = 1.0  # share of the write commands Redis refuses over maxmemory (DENYOOM)
    floor: float | np.ndarray = 0.0  # used_memory with no key left (frees and expiry stop there)
    shrink_copied: float | np.ndarray = 0.0  # of ``shrink``, bytes whose slots the freeing command had written

    @property
    def active(self) -> bool:
        """Whether memory moves at all (a pure-overwrite workload without TTLs leaves it alone)."""
        return bool(np.any(self.grow) or np.any(self.shrink) or np.any(self.expired_bytes_per_s))


@dataclass(frozen=True)
class ChurnStep:
    """What one step did (bytes and counts), and the state after it."""

    used: np.ndarray  # used_memory after the step
    pool: np.ndarray  # freed bytes the allocator holds for reuse
    evictable: np.ndarray  # keys eviction may still take
    fresh: np.ndarray  # allocated bytes that needed new RSS
    reused: np.ndarray  # allocated bytes that went into freed slots
    reused_uncopied: np.ndarray  # of those, bytes into slots no write had touched since they were freed
    evicted_keys: np.ndarray
    expired_keys: np.ndarray
    rejected_writes: np.ndarray
    released: np.ndarray  # bytes freed by commands, expiry and eviction
    executed: np.ndarray  # share of the step's write commands that ran (the rest were refused)


def churn_step(c: Churn, used, pool, evictable, writes, dt) -> ChurnStep:
    """Advance ``dt`` seconds with ``writes`` write commands served (see the module docstring)."""
    expired_keys = np.asarray(c.expired_keys_per_s * dt, float)
    expired = np.asarray(c.expired_bytes_per_s * dt, float)
    freed = np.asarray(writes * c.shrink, float)
    left = np.maximum(0.0, used - c.floor)  # frees and expiry cannot take more than the keys hold
    gone = expired + freed
    keep = np.divide(left, gone, out=np.ones_like(gone), where=gone > left)
    expired_keys, expired, freed = expired_keys * keep, expired * keep, freed * keep
    want = np.asarray(writes * c.grow, float)
    room = c.maxmemory - (used - expired - freed)
    over = np.clip(want - room, 0.0, want)
    key_bytes = np.asarray(c.key_bytes, float)
    evicted_bytes = np.minimum(over, evictable * key_bytes)
    evicted_keys = np.divide(evicted_bytes, key_bytes, out=np.zeros_like(evicted_bytes), where=key_bytes > 0)
    refused = over - evicted_bytes
    accepted = want - refused
    # the refusing share of the step: every DENYOOM command is refused as often as the growth is (data
    # that starts over maxmemory without growth is left to prepare's warning)
    refusing = np.divide(refused, want, out=np.zeros_like(refused), where=want > 0)
    denied = refusing * c.deny_share
    rejected = np.asarray(writes * denied, float)
    available = pool + expired + freed + evicted_bytes
    reused = np.minimum(accepted, available)
    # a pop drains its end node, writing (so copying) the pages it then frees: new allocations that land
    # there copy nothing more; the pool, expiry and eviction free slots no write touched
    copied = np.asarray(writes * c.shrink_copied, float) * keep
    copied_share = np.divide(copied, available, out=np.zeros_like(copied), where=available > 0)
    return ChurnStep(
        used=used - expired - freed - evicted_bytes + accepted,
        pool=available - reused,
        evictable=np.maximum(0.0, evictable - evicted_keys),
        fresh=accepted - reused,
        reused=reused,
        reused_uncopied=reused * (1.0 - np.minimum(copied_share, 1.0)),
        evicted_keys=evicted_keys,
        expired_keys=expired_keys,
        rejected_writes=rejected,
        released=expired + freed + evicted_bytes,
        executed=1.0 - denied,
    )


def reuse_pages(reused_bytes, slot_sizes, byte_shares, freed_share, page_size, pages):
    """Pages copied by writing ``reused_bytes`` into freed slots while a fork child lives, and the pages one
    more reused byte copies.

    Deleted, expired and evicted keys are picked regardless of where they sit, so a ``freed_share`` of
    the slots is free on every page of the data (``pages`` pages). jemalloc fills a size class from its
    oldest non-full slab first (``arena_bin_slabs_nonfull_tryget``: a heap ordered by serial number,
    https://github.com/jemalloc/jemalloc/blob/5.3.0/src/arena.c), so it fills every free slot of a page
    before the next: a copied page takes ``max(1, freed_share x page_size / size)`` reused slots of a class.
    ``slot_sizes`` (last axis) are the classes a key's allocations use, ``byte_shares`` their shares of
    the key's bytes. ``x`` such page fills copy ``pages x (1 - exp(-x / pages))`` distinct pages. Pages the
    writes copied anyway are netted out by :func:`union_pages`.
    """
    sizes, shares = np.asarray(slot_sizes, float), np.asarray(byte_shares, float)
    spread = np.asarray(np.multiply(freed_share, page_size), float)[..., None]  # free bytes per page
    fills = (shares / np.maximum(sizes, spread)).sum(-1)  # page fills per reused byte
    total = np.asarray(pages, float)
    per = np.divide(fills, total, out=np.zeros(np.broadcast(fills, total).shape), where=total > 0)
    clean = np.exp(-np.asarray(reused_bytes, float) * per)
    return total * (1.0 - clean), clean * fills


def union_pages(written, written_slope, reused, reused_slope, pages):
    """Distinct pages copied by overwrites (``written``) and by writes into freed slots (``reused``), and the
    pages one more write copies.

    The freed slots a new allocation fills sit anywhere in the data, independently of which keys the
    overwrites hit, so a reused page is already copied with probability ``written / pages``:
    ``u = w + r - w r / P``, and ``du = dw (1 - r / P) + dr (1 - w / P)``. Adding the two counted the pages
    both hit twice (typed runs t17 and t27, training: copy-on-write 29 % and 79 % high).
    """
    total = np.asarray(pages, float)
    share_w = np.divide(written, total, out=np.zeros(np.broadcast(written, total).shape), where=total > 0)
    share_r = np.divide(reused, total, out=np.zeros(np.broadcast(reused, total).shape), where=total > 0)
    union = written + reused * (1.0 - np.minimum(share_w, 1.0))
    slope = written_slope * (1.0 - np.minimum(share_r, 1.0)) + reused_slope * (1.0 - np.minimum(share_w, 1.0))
    return union, slope
