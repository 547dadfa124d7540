"""Copy-on-write growth of a forked save: expected bytes the child holds privately.

After ``fork()`` parent and child share every page. A SET on an existing key rewrites a
few allocations (see :mod:`.layout`); the first write to a shared page makes the kernel
give the parent a copy, and the old page stays with the child. So the child's private
memory is the number of distinct pages that held at least one rewritten allocation.

For an allocation class with slot size ``s`` on pages of ``P`` bytes, one slot overlaps
``span`` pages and a page overlaps ``m`` slots, ``span x P / s`` on average (:func:`page_spans`). Keys sit on
pages independently of their popularity, so a page overlapping ``m`` slots is still clean with
probability ``(1 - q)^m`` where ``q`` is the fraction of distinct keys written
(:meth:`Popularity.distinct_fraction`). Pages of one class overlap different whole numbers of
slots (5 KiB slots: a fifth of the pages overlap one, the rest two); since ``(1 - q)^m`` is convex
in ``m``, the mean ``m`` would overstate the copies (by 3.5 % for 5 KiB values half written), so
each class is split into page groups by their exact overlap count (:func:`page_overlaps`). For
uniform writes and one key per page this is the classic ``pages x (1 - exp(-n/pages))``.

Typed key groups (:func:`cow_model_of`): each rewritten kind of allocation of each group is a
:class:`Target` with its own popularity and its own share of the write commands, so each page class
has its own written fraction; hot keys ``clustered`` in memory put adjacent popularity ranks on one page.

Redis 7.0+ with jemalloc releases (``madvise(MADV_DONTNEED)``) whole pages inside values
of at least one page once the child has saved them (``dismissObject``); those pages stop
counting, so with save progress ``x`` their share of the copies falls by ``x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .keyspace import Popularity
from .layout import KeyLayout


@dataclass(frozen=True)
class Target:
    """One kind of allocation the writes rewrite, in one group of keys (a group's layout).

    A write command rewrites ``per_write`` allocations of this kind (its mix share times the
    command's allocation count, summed over the commands that rewrite it); each picks a key by
    ``popularity`` (the group's key popularity, per write to the group) and one of the key's
    ``per_key`` allocations of this kind uniformly. ``key_share`` is the share of the popularity's
    keys that hold it (a size mix puts some keys in one encoding, some in another; which keys does
    not depend on popularity). ``clustered``: the keys sit in memory in popularity order.
    """

    name: str
    size: int  # allocator slot size (bytes)
    popularity: Popularity
    per_key: float = 1.0
    per_write: float = 1.0
    key_share: float = 1.0
    clustered: bool = False
    dismissable: bool = True  # the child may release its pages once saved (Redis 7.0+, a page or more)

    @property
    def units(self) -> float:
        """Allocations of this kind in memory."""
        return self.popularity.keys * self.key_share * self.per_key


@dataclass(frozen=True)
class PageClass:
    """Pages holding one kind of rewritten allocation, all overlapping the same number of slots."""

    name: str
    pages: float  # pages this class occupies
    slots_per_page: float  # allocations overlapping one page
    dismissed_share: float  # share of these pages the child releases after saving them
    row: int = 0  # the hit row (:class:`HitRow`) whose written fraction decides these pages
    clustered: bool = False  # a page is dirty with its row's hit fraction itself, not 1 - (1 - q)^m


@dataclass(frozen=True)
class HitRow:
    """Units in popularity classes: ``shares[j]`` of them each hit with chance ``probs[j]`` per write command."""

    shares: np.ndarray
    probs: np.ndarray


@dataclass(frozen=True)
class CowModel:
    """Expected copy-on-write bytes as a function of write commands since fork and save progress.

    ``popularity`` is over all keys, per write command (what the forkless save reads); ``rows`` are the
    hit rows of the page classes (default: one row, ``popularity`` itself).
    """

    page_size: int
    classes: tuple[PageClass, ...]
    popularity: Popularity
    base_bytes: int = 0
    rows: tuple[HitRow, ...] = ()

    _pages: np.ndarray = field(init=False, repr=False, compare=False)
    _exponents: np.ndarray = field(init=False, repr=False, compare=False)
    _dismissed: np.ndarray = field(init=False, repr=False, compare=False)
    _rows: np.ndarray = field(init=False, repr=False, compare=False)
    _probs: np.ndarray = field(init=False, repr=False, compare=False)
    _shares: np.ndarray = field(init=False, repr=False, compare=False)
    _flat_probs: np.ndarray = field(init=False, repr=False, compare=False)
    _flat_shares: np.ndarray = field(init=False, repr=False, compare=False)
    _starts: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the page classes and hit rows as arrays, so one evaluation covers every class at once
        rows = self.rows or (HitRow(self.popularity.counts / self.popularity.keys, self.popularity.probs),)
        width = max(len(r.probs) for r in rows)
        probs, shares = np.zeros((len(rows), width)), np.zeros((len(rows), width))
        for k, r in enumerate(rows):
            probs[k, : len(r.probs)], shares[k, : len(r.shares)] = r.probs, r.shares
        setattr_ = object.__setattr__
        setattr_(self, "rows", rows)
        setattr_(self, "_probs", probs)
        setattr_(self, "_shares", shares)
        # the rows back to back (no padding: a uniform row is one class beside a Zipf row's 1,500)
        setattr_(self, "_flat_probs", np.concatenate([r.probs for r in rows]))
        setattr_(self, "_flat_shares", np.concatenate([r.shares for r in rows]))
        setattr_(self, "_starts", np.cumsum([0] + [len(r.probs) for r in rows[:-1]]))
        setattr_(self, "_pages", np.array([c.pages for c in self.classes], float))
        setattr_(self, "_exponents", np.array([1.0 if c.clustered else c.slots_per_page for c in self.classes]))
        setattr_(self, "_dismissed", np.array([c.dismissed_share for c in self.classes], float))
        setattr_(self, "_rows", np.array([c.row for c in self.classes], int))

    @property
    def max_pages(self) -> float:
        return float(sum(c.pages for c in self.classes))

    @property
    def row_probs(self) -> np.ndarray:
        """(rows, classes) hit chance per write command of one unit, zero-padded."""
        return self._probs

    @property
    def row_shares(self) -> np.ndarray:
        """(rows, classes) share of each row's units in each popularity class, zero-padded."""
        return self._shares

    @property
    def class_rows(self) -> np.ndarray:
        return self._rows

    @property
    def flat_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The hit rows back to back: probabilities, shares, and each entry's row."""
        sizes = np.diff(np.append(self._starts, len(self._flat_probs)))
        return self._flat_probs, self._flat_shares, np.repeat(np.arange(len(sizes)), sizes)

    @property
    def exponents(self) -> np.ndarray:
        """Per page class: ``m`` (scattered: clean with ``(1 - q)^m``) or 1 (clustered: ``q`` is per page)."""
        return self._exponents

    def hit_fractions(self, writes: float | np.ndarray) -> np.ndarray:
        """Per hit row, the expected share of its units written at least once after ``writes`` commands."""
        n = np.asarray(writes, dtype=float)
        if len(self.rows) == 1:
            hit = -np.expm1(-np.multiply.outer(n, self._probs))
            return np.minimum((hit * self._shares).sum(-1), 1.0)  # a plain sum (no BLAS threads) may pass 1 by an ulp
        hit = -np.expm1(-np.multiply.outer(n, self._flat_probs))
        return np.minimum(np.add.reduceat(hit * self._flat_shares, self._starts, axis=-1), 1.0)

    def _dirty(self, q: np.ndarray, x: np.ndarray) -> np.ndarray:
        clean = (1.0 - q[..., self._rows]) ** self._exponents
        return ((1.0 - clean) * (1.0 - self._dismissed * x[..., None]) * self._pages).sum(-1)

    def dirty_pages(self, writes: float | np.ndarray, progress: float | np.ndarray = 0.0) -> np.ndarray | float:
        """Expected private pages of the child after ``writes`` write commands at save ``progress``."""
        q = self.hit_fractions(writes)
        x = np.broadcast_to(np.asarray(progress, dtype=float), np.broadcast_shapes(q.shape[:-1], np.shape(progress)))
        q = np.broadcast_to(q, x.shape + q.shape[-1:])
        total = self._dirty(q, x)
        return float(total) if total.ndim == 0 else total

    def released_bytes(self, progress: float) -> float:
        """Bytes the child has released (``dismissObject``) by save ``progress``: they leave its RSS."""
        return self.page_size * progress * sum(c.pages * c.dismissed_share for c in self.classes)

    def dirty_pages_and_slope(self, writes: float, progress: float) -> tuple[float, float]:
        """Dirty pages after ``writes`` write commands, and the pages one more command copies.

        The slope is the forward difference over ``max(1, 1 %)`` of the writes; both points come
        from one evaluation of the hit fractions.
        """
        step = max(1.0, 0.01 * writes)
        q = self.hit_fractions(np.array([writes, writes + step]))
        now, later = self._dirty(q, np.array([progress, progress]))
        return float(now), float(later - now) / step

    def cow_bytes(self, writes: float | np.ndarray, progress: float | np.ndarray = 0.0) -> np.ndarray | float:
        """Expected copy-on-write bytes (key pages plus the fixed base)."""
        return self.base_bytes + self.page_size * np.asarray(self.dirty_pages(writes, progress))


def cow_model(
    layout: KeyLayout,
    keys: int,
    popularity: Popularity,
    page_size: int = 4096,
    dismiss_large_values: bool = False,
    base_bytes: int = 0,
) -> CowModel:
    """Build the page classes of ``keys`` string keys with ``layout``, every write an overwrite."""
    targets = [Target(a.name, a.size, popularity, key_share=keys / popularity.keys) for a in layout.rewritten]
    return cow_model_of(targets, popularity, page_size, dismiss_large_values, base_bytes)


def cow_model_of(
    targets: list[Target] | tuple[Target, ...],
    popularity: Popularity,
    page_size: int = 4096,
    dismiss_large_values: bool = False,
    base_bytes: int = 0,
) -> CowModel:
    """The page classes and hit rows of ``targets``; ``popularity`` is over all keys, per write command.

    A unit of a target is hit per write command with chance ``p x per_write / per_key`` (``p`` its
    key's popularity). Scattered: the ``m`` slots a page overlaps belong to keys placed regardless
    of popularity, so the page is clean with ``(1 - q)^m``, ``q`` the mean hit fraction of the units.
    Clustered: the slots of a page hold ``m`` units of adjacent popularity ranks (the page's ranks
    fall in one popularity class but for a few pages at class edges), and one draw picks one unit,
    so the page is hit per draw with chance ``m x p``: the pages themselves form a popularity with
    probabilities ``m p`` and the page is dirty with ``1 - exp(-m p n)``. Targets sharing a popularity
    and a per-unit rate share one hit row, so a one-group model costs one evaluation as before.
    """
    classes: list[PageClass] = []
    rows: list[HitRow] = []
    row_of: dict[tuple[int, float], int] = {}
    for t in targets:
        if t.units <= 0 or t.per_write <= 0:
            continue
        span, inner = page_spans(t.size, page_size)
        pages = t.units * t.size / page_size
        dismissed = inner / span if dismiss_large_values and t.dismissable and t.size >= page_size else 0.0
        scale = t.per_write / t.per_key
        for slots, share in page_overlaps(t.size, page_size):
            key = (id(t.popularity), scale * (slots if t.clustered else 1.0))
            if key not in row_of:
                row_of[key] = len(rows)
                pop = t.popularity
                rows.append(HitRow(pop.counts / pop.keys, pop.probs * key[1]))
            classes.append(PageClass(t.name, pages * share, slots, dismissed, row_of[key], t.clustered))
    return CowModel(page_size, tuple(classes), popularity, base_bytes, tuple(rows))


@lru_cache(maxsize=256)
def page_overlaps(size: int, page_size: int) -> tuple[tuple[int, float], ...]:
    """(slots a page overlaps, share of the pages) for slots of ``size`` bytes laid back to back.

    A page overlaps one slot more than the slot boundaries strictly inside it, and a window of
    ``page_size - 1`` bytes holds ``b`` or ``b + 1`` boundaries. Over the layout's period
    (``lcm(size, page_size)`` bytes) the pages hold ``lcm/size - 1`` inner boundaries in all, so the
    mean per page is ``(page_size - gcd) / size`` exactly: its fraction is the share with ``b + 1``.
    Closed form, so a 1 TB value costs no more than a 1 KB one.
    """
    mean = Fraction(page_size - math.gcd(size, page_size), size)
    low = math.floor(mean)
    more = float(mean - low)
    return ((low + 1, 1.0 - more),) + (((low + 2, more),) if more else ())


@lru_cache(maxsize=256)
def page_spans(size: int, page_size: int) -> tuple[float, float]:
    """Mean pages one allocation overlaps, and mean pages wholly inside it.

    Allocators lay out same-size slots back to back from a page-aligned start (jemalloc slabs;
    large extents are page-aligned), so slot offsets within a page are multiples of
    ``gcd(size, page_size)``; averaging over those offsets gives exact means.
    """
    step = math.gcd(size, page_size)
    offsets = range(0, page_size, step)
    span = sum((o + size - 1) // page_size + 1 for o in offsets) / len(offsets)
    inner = sum(max(0, (o + size) // page_size - (-(-o // page_size))) for o in offsets) / len(offsets)
    return span, inner
