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
class PageClass:
    """Pages holding one kind of rewritten allocation."""

    name: str
    pages: float  # pages this class occupies
    slots_per_page: float  # allocations overlapping one page
    dismissed_share: float  # share of these pages the child releases after saving them


@dataclass(frozen=True)
class CowModel:
    """Expected copy-on-write bytes as a function of writes since fork and save progress."""

    page_size: int
    classes: tuple[PageClass, ...]
    popularity: Popularity
    base_bytes: int = 0

    _pages: np.ndarray = field(init=False, repr=False, compare=False)
    _slots: np.ndarray = field(init=False, repr=False, compare=False)
    _dismissed: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the page classes as arrays, so one evaluation covers every class at once
        object.__setattr__(self, "_pages", np.array([c.pages for c in self.classes], float))
        object.__setattr__(self, "_slots", np.array([c.slots_per_page for c in self.classes], float))
        object.__setattr__(self, "_dismissed", np.array([c.dismissed_share for c in self.classes], float))

    @property
    def max_pages(self) -> float:
        return float(sum(c.pages for c in self.classes))

    def _dirty(self, q: np.ndarray, x: np.ndarray) -> np.ndarray:
        clean = (1.0 - q[..., None]) ** self._slots
        return ((1.0 - clean) * (1.0 - self._dismissed * x[..., None]) * self._pages).sum(-1)

    def dirty_pages(self, writes: float | np.ndarray, progress: float | np.ndarray = 0.0) -> np.ndarray | float:
        """Expected private pages of the child after ``writes`` overwrites at save ``progress``."""
        q = np.asarray(self.popularity.distinct_fraction(writes))
        q, x = np.broadcast_arrays(q, np.asarray(progress, dtype=float))
        total = self._dirty(q, x)
        return float(total) if total.ndim == 0 else total

    def released_bytes(self, progress: float) -> float:
        """Bytes the child has released (``dismissObject``) by save ``progress``: they leave its RSS."""
        return self.page_size * progress * sum(c.pages * c.dismissed_share for c in self.classes)

    def dirty_pages_and_slope(self, writes: float, progress: float) -> tuple[float, float]:
        """Dirty pages after ``writes`` overwrites, and the pages one more overwrite copies.

        The slope is the forward difference over ``max(1, 1 %)`` of the writes; both points come
        from one evaluation of the distinct-key fraction.
        """
        step = max(1.0, 0.01 * writes)
        q = np.asarray(self.popularity.distinct_fraction(np.array([writes, writes + step])))
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
    """Build the page classes of ``keys`` keys with ``layout`` for pages of ``page_size`` bytes."""
    classes = []
    for alloc in layout.rewritten:
        span, inner = page_spans(alloc.size, page_size)
        pages = keys * alloc.size / page_size
        dismissed = inner / span if dismiss_large_values and alloc.size >= page_size else 0.0
        for slots, share in page_overlaps(alloc.size, page_size):
            classes.append(PageClass(alloc.name, pages * share, slots, dismissed))
    return CowModel(page_size, tuple(classes), popularity, base_bytes)


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
