"""Figures of a sizing report: memory over the backup, copy-on-write growth, latency, the outcome
heat map over node type × write rate, and the risk over the day's backup windows."""

from __future__ import annotations

import matplotlib.ticker
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from ..figure import pyplot
from ..humanize import per_second
from ..result import Result
from ..units import GIB

VERDICTS = (
    "meets objectives",
    "misses an objective",
    "pages (swap)",
    "OOM kill",
    "data does not fit",
    "simulator error",
)
VERDICT_COLORS = ("#59a14f", "#edc948", "#f28e2b", "#e15759", "#bab0ac", "#4e4e4e")
VERDICT_MARKS = ("ok", "miss", "swap", "OOM", "no fit", "err")
RISK_CLASSES = ("meets objectives", "misses an objective", "pages (swap)", "OOM kill")
RISK_COLORS = ("#59a14f", "#edc948", "#f28e2b", "#e15759")


def _since_backup(result: Result):
    tl = result.timeline
    started = next((e.time_s for e in result.events if e.what in ("fork", "forkless save")), 0.0)
    return tl["time_s"] - started, tl


def memory(result: Result, reserved_percent: float):
    """Stacked memory over the backup, with node memory, the data limit and the reserved band."""
    t, tl = _since_backup(result)
    s = result.summary
    fig, ax = pyplot().subplots(figsize=(9, 4.6))
    ax.stackplot(
        t,
        tl["parent_rss_bytes"] / GIB,
        tl["cow_bytes"] / GIB,
        tl["child_kernel_bytes"] / GIB,
        labels=("Redis (parent RSS)", "copy-on-write copies", "child page tables"),
        colors=("#4c72b0", "#dd8452", "#937860"),
        alpha=0.9,
    )
    limit, data_limit = s.memory_limit_bytes / GIB, s.maxmemory_bytes / GIB
    ax.axhspan(data_limit, limit, color="#8c8c8c", alpha=0.15, label=f"reserved memory ({reserved_percent:g} %)")
    ax.axhline(limit, color="crimson", lw=1.6, label="node memory (limit)")
    ax.axhline(data_limit, color="gray", lw=1, ls="--", label="maxmemory (data limit)")
    if s.swap_limit_bytes:
        ax.axhline(limit + s.swap_limit_bytes / GIB, color="black", lw=1, ls=":", label="memory + swap")
    ax.set_xlabel("seconds since the backup began")
    ax.set_ylabel("GiB")
    ax.set_ylim(0, max(limit, float(tl["demand_bytes"].max()) / GIB) * 1.08)
    ax.set_title(f"Memory during the backup: {s.outcome}, peak {s.peak_memory_bytes / GIB:.2f} of {limit:.2f} GiB")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def cow_growth(runs: list[tuple[str, Result]], reserved_bytes: float):
    """Copy-on-write bytes over the backup for several runs (e.g. the chosen and the busiest window)."""
    fig, ax = pyplot().subplots(figsize=(9, 3.8))
    for label, result in runs:
        t, tl = _since_backup(result)
        (line,) = ax.plot(t, tl["cow_bytes"] / GIB, lw=2, label=label)
        victim = result.summary.oom_victim
        if victim:  # the curve stops because the kernel killed a process: say so where it stops
            killed = next(e.time_s for e in result.events if e.what.startswith("OOM kills"))
            before = tl[tl["time_s"] <= killed + 1e-9]
            x, y = float(t[before.index[-1]]), float(before["cow_bytes"].max()) / GIB
            ax.plot([x], [y], marker="X", ms=11, color=line.get_color(), mec="black")
            ax.annotate(f"OOM kill ({victim})", (x, y), xytext=(6, 6), textcoords="offset points", fontsize=8)
    ax.axhline(reserved_bytes / GIB, color="gray", ls="--", lw=1, label="reserved memory")
    ax.set_xlabel("seconds since the backup began")
    ax.set_ylabel("GiB copied")
    ax.set_title("Copy-on-write growth: every page written during the save is copied once")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def latency(runs: list[Result]):
    """What the primary's clients wait for each backup source (log scale: the fork stall stands out).

    A backup from the primary freezes the clients' server for the fork stall; from a replica the
    clients keep their baseline and the stall delays only the replica (replication lag).
    """
    fig, ax = pyplot().subplots(figsize=(9, 3.4))
    for result in runs:
        t, tl = _since_backup(result)
        if result.summary.backup_source == "primary":
            ax.plot(t, tl["latency_ms"].clip(lower=1e-3), lw=1.8, label="clients, backup from the primary")
        else:
            base = max(result.summary.baseline_latency_ms, 1e-3)
            ax.plot(t, np.full(len(t), base), lw=1.8, label="clients, backup from the replica")
            ax.plot(t, tl["latency_ms"].clip(lower=1e-3), lw=1.2, ls="--", label="the replica itself (replication lag)")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the backup began")
    ax.set_ylabel("wait (ms)")
    ax.set_title("Latency: what a request waits while the backup runs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def heat_map(node_types: list[str], rates: list[float], codes: np.ndarray, chosen: tuple[str, float] | None):
    """Outcome code (index into VERDICTS) per node type (rows) and write rate (columns)."""
    fig, ax = pyplot().subplots(figsize=(9, 0.5 * len(node_types) + 2.2))
    ax.imshow(codes, cmap=ListedColormap(VERDICT_COLORS), vmin=-0.5, vmax=len(VERDICTS) - 0.5, aspect="auto")
    for i in range(len(node_types)):
        for j in range(len(rates)):
            ax.text(
                j,
                i,
                VERDICT_MARKS[codes[i, j]],
                ha="center",
                va="center",
                fontsize=8,
                color="white" if codes[i, j] in (3, 5) else "black",
            )
    ax.set_xticks(range(len(rates)), [per_second(r) for r in rates])
    ax.set_yticks(range(len(node_types)), node_types)
    if chosen is not None and chosen[0] in node_types:
        row = node_types.index(chosen[0])
        col = int(np.argmin([abs(np.log(r / chosen[1])) for r in rates])) if chosen[1] > 0 else 0
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, lw=2.5, ec="black"))
    ax.set_xlabel("writes per second during the backup")
    ax.set_title("Outcome by node type and write rate (black box: the recommendation)")
    ax.legend(
        handles=[Patch(color=c, label=v) for c, v in zip(VERDICT_COLORS, VERDICTS, strict=False)],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    return fig


def window_risk(labels: list[str], writes: list[float], peak_share: list[float], risk: list[int], chosen: str):
    """Peak memory (share of node memory) per backup window, coloured by what happens there
    (``risk`` indexes :data:`RISK_CLASSES`: meets, misses another objective, pages, OOM kill)."""
    fig, ax = pyplot().subplots(figsize=(9, 3.8))
    x = np.arange(len(labels))
    bars = ax.bar(x, [100 * p for p in peak_share], color=[RISK_COLORS[r] for r in risk])
    if chosen in labels:
        bars[labels.index(chosen)].set_edgecolor("black")
        bars[labels.index(chosen)].set_linewidth(2.5)
    ax.axhline(100, color="crimson", lw=1.2)
    ax.set_ylim(0, 100 * max(1.1, np.nanmax(peak_share) if len(peak_share) else 1.1) + 25)
    ax.set_ylabel("peak memory, % of node")
    ax.set_xticks(x, labels, rotation=90, fontsize=8)
    ax.set_xlabel("backup window opening (black edge: chosen)")
    rates = ax.twinx()
    rates.plot(x, np.asarray(writes), color="#4c72b0", marker=".", lw=1.2)
    rates.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: per_second(v)))
    rates.set_ylabel("worst writes in window", color="#4c72b0")
    ax.set_title("Risk over the day: the same configuration backed up in each window")
    shown = sorted(set(risk))
    ax.legend(handles=[Patch(color=RISK_COLORS[i], label=RISK_CLASSES[i]) for i in shown], loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def risk_class(summary: dict, missed: bool) -> int:
    """Index into :data:`RISK_CLASSES` of one window's run: an OOM kill and paging are told apart."""
    if summary.get("outcome") == "oom":
        return 3
    if summary.get("outcome") == "paging":
        return 2
    return 1 if missed or "error" in summary else 0
