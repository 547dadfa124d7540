"""Plots of a run: memory over the backup against the node's limits, and request latency."""

from __future__ import annotations

from pathlib import Path

from .figure import pyplot
from .result import Result
from .units import GIB


def plot_memory(result: Result, path: str | Path | None = None):
    """Two panels: stacked memory demand with limit lines, and latency; saved when ``path`` is given."""
    tl = result.timeline
    t = tl["time_s"]
    fig, (mem, lat) = pyplot().subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(3, 1))
    mem.stackplot(
        t,
        tl["parent_rss_bytes"] / GIB,
        tl["cow_bytes"] / GIB,
        tl["child_kernel_bytes"] / GIB,
        tl["page_cache_bytes"] / GIB,
        labels=("parent RSS", "copy-on-write (child)", "child page tables", "page cache (RDB file)"),
        colors=("#4c72b0", "#dd8452", "#937860", "#cccccc"),
        alpha=0.85,
    )
    s = result.summary
    mem.axhline(s.memory_limit_bytes / GIB, color="crimson", lw=1.5, label="node memory")
    mem.axhline(s.maxmemory_bytes / GIB, color="gray", lw=1, ls="--", label="maxmemory (data limit)")
    if s.swap_limit_bytes:
        mem.axhline(
            (s.memory_limit_bytes + s.swap_limit_bytes) / GIB,
            color="black",
            lw=1,
            ls=":",
            label="memory + swap",
        )
    for event in result.events:
        mem.axvline(event.time_s, color="black", lw=0.6, alpha=0.4)
        mem.annotate(event.what, (event.time_s, mem.get_ylim()[1]), rotation=90, va="top", ha="right", fontsize=7)
    if s.oom_victim:  # the run ends in a kill: mark it where demand met memory + swap
        x = next(e.time_s for e in result.events if e.what.startswith("OOM kills"))
        y = float(tl.loc[tl["time_s"] <= x + 1e-9, "demand_bytes"].max()) / GIB
        mem.plot([x], [y], marker="X", ms=11, color="crimson", mec="black", label=f"OOM kill ({s.oom_victim})")
    mem.set_ylabel("GiB")
    mem.set_title(f"{s.scenario}: {s.outcome} ({s.method} backup from {s.backup_source})")
    mem.legend(loc="lower right", fontsize=7)
    lat.plot(t, tl["latency_ms"], color="#55a868")
    lat.set_ylabel("wait (ms)")
    lat.set_xlabel("time (s)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        pyplot().close(fig)
    return fig
