"""Which process the kernel's OOM killer takes during a forked save, and what that loses.

The kernel kills the task with the highest badness, ``oom_badness()`` in mm/oom_kill.c: resident pages
+ swap entries + page-table pages, plus ``oom_score_adj x total pages / 1000``. Parent and child map the
same pages after ``fork()`` (a copy-on-write fault replaces a page, it does not add one), so their RSS
ties but for what only one side holds: the parent's new keys and buffers, and the pages the child has
released (Redis 7+ with jemalloc ``madvise``s saved large values away). On a near-tie the harness's lab
runs saw the parent die (reports/validation/records v29, v31), so a tie goes to the parent. Redis's
``oom-score-adj yes`` (default ``oom-score-adj-values 0 200 800``) adds 800 to the save child.
A container's limit (``node.memory``) is a memory-cgroup OOM: only its processes are candidates; a whole
node (``node.type``) is a system OOM, where the server is by far the largest process either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..units import GIB

CHILD_ADJ = 800
"""Redis's default oom-score-adj-values for a background child (redis.conf: ``oom-score-adj-values 0 200 800``)."""


@dataclass(frozen=True)
class Choice:
    """The victim and the figures the choice rests on (bytes)."""

    victim: str  # parent or child
    parent_points: float
    child_points: float


def badness(rss_bytes: float, swap_bytes: float, page_table_bytes: float, adj: int, total_bytes: float) -> float:
    """``oom_badness()`` in bytes: RSS + swap + page tables + adj/1000 of the memory the kernel counts."""
    return rss_bytes + swap_bytes + page_table_bytes + adj * total_bytes / 1000.0


def choose(
    parent_rss: float, child_rss: float, swap: float, page_tables: float, total: float, child_adjusted: bool
) -> Choice:
    """The process the OOM killer takes when a forked save runs (ties go to the parent)."""
    parent = badness(parent_rss, swap, page_tables, 0, total)
    child = badness(child_rss, swap, page_tables, CHILD_ADJ if child_adjusted else 0, total)
    return Choice("child" if child > parent else "parent", parent, child)


def consequence(victim: str, source: str, managed: bool) -> str:
    """What the kill costs, in words, for the process that forked (the primary or a replica)."""
    if victim == "child":
        return "the save child: this backup fails, the server and its data survive"
    if source == "replica":
        return "the replica's server: it restarts and resyncs from the primary; the primary keeps the data"
    if managed:
        return (
            "the primary's server: every key in its memory is lost; ElastiCache promotes a replica if the "
            "group has one, else the node restarts empty or from a backup"
        )
    return "the server: every key in memory is lost unless it restarts from an RDB/AOF file on disk"


def assumption(choice: Choice, adjusted: bool, container: bool) -> str:
    """The rule behind the victim, with the figures, for the output."""
    scope = "the container's memory cgroup (only its processes are candidates)" if container else "the whole node"
    adj = "oom-score-adj yes: +800 on the child" if adjusted else "oom-score-adj no"
    return (
        f"OOM in {scope}; the kernel kills the highest badness (RSS + swap + page tables, {adj}): "
        f"parent {choice.parent_points / GIB:.2f} GiB vs child {choice.child_points / GIB:.2f} GiB; "
        "a tie goes to the parent, as in the lab's OOM runs"
    )
