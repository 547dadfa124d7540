"""The fork stall: the main thread is frozen while the kernel copies the page tables."""

from __future__ import annotations

from ..units import GIB

PAGE_TABLE_BYTES_PER_PAGE = 8
"""x86-64 and arm64 page-table entries are 8 bytes; a fork copies one per resident 4 KiB page."""


def fork_stall_seconds(rss_bytes: float, base_ms: float, ms_per_gib: float, huge_pages: bool = False) -> float:
    """Seconds the parent spends inside ``fork()``: ``base + per-GiB cost x RSS``.

    With transparent huge pages one entry maps 2 MiB instead of 4 KiB, so the per-GiB part
    shrinks 512-fold (antirez, redis#2844: "fork times with huge pages are really very small").
    """
    per_gib = ms_per_gib / 512 if huge_pages else ms_per_gib
    return (base_ms + per_gib * rss_bytes / GIB) / 1000.0


def page_table_bytes(rss_bytes: float, page_size: int = 4096) -> float:
    """Page-table memory the child gets at fork (charged to the container as kernel memory)."""
    return rss_bytes / page_size * PAGE_TABLE_BYTES_PER_PAGE
