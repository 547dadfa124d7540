"""Candidate configurations and backup windows, turned into scenario mappings to simulate.

ElastiCache *begins* an automatic backup somewhere in its window (AWS, Scheduling automatic backups),
so a window is judged by the highest write and read rates from its opening until the latest moment a
backup begun inside it could still run: window length plus the backup's duration. The variant runs
at those rates held constant, the worst case if more load never helps a backup.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..batch.fieldpaths import with_value
from ..dayload import DAY, DayLoad


@dataclass(frozen=True)
class Config:
    """What the planner chooses besides the window."""

    node_type: str
    reserved_percent: float
    source: str


@dataclass(frozen=True)
class Window:
    """A backup window opening at ``start_s`` and the worst rates a backup begun in it meets."""

    start_s: float
    writes: float
    reads: float

    @property
    def label(self) -> str:
        minutes = int(round(self.start_s / 60)) % (24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"


def peak_rates(load: DayLoad, start_s: float, span_s: float) -> tuple[float, float]:
    """Highest (writes/s, reads/s) of ``load`` between ``start_s`` and ``start_s + span_s`` (wrapping midnight)."""
    points = [start_s]
    for day in (0.0, DAY):
        points += [s + day for s in load.starts if start_s < s + day < start_s + span_s]
    rates = [load.at(p) for p in points]
    return max(w for w, _ in rates), max(r for _, r in rates)


def windows(load: DayLoad, starts: list[float], span_s: float, factor: float = 1.0) -> list[Window]:
    """The candidate windows with their worst rates, scaled by ``factor``."""
    out = []
    for start in starts:
        writes, reads = peak_rates(load, start, span_s)
        out.append(Window(start, writes * factor, reads * factor))
    return out


def quietest(candidates: list[Window]) -> Window:
    """The window with the fewest writes (then reads); the first listed on ties."""
    return min(candidates, key=lambda w: (w.writes, w.reads))


def variant(base: dict, config: Config, window: Window) -> dict:
    """``base`` with the configuration applied and the window's rates as a constant load."""
    data = {k: v for k, v in base.items() if k != "plan"}
    node = {k: v for k, v in (data.get("node") or {}).items() if k not in ("memory", "reserved_memory")}
    data["node"] = {**node, "type": config.node_type, "reserved_memory_percent": config.reserved_percent}
    workload = {k: v for k, v in (data.get("workload") or {}).items() if k != "daily_profile"}
    data["workload"] = {**workload, "writes_per_sec": window.writes, "reads_per_sec": window.reads}
    data = with_value(data, ("backup", "source"), config.source)
    if data.get("restore"):  # the backup is restored onto the candidate itself (a node lost and rebuilt)
        restore = {k: v for k, v in data["restore"].items() if k not in ("node_type", "memory")}
        data["restore"] = {**restore, "node_type": config.node_type, "reserved_memory_percent": config.reserved_percent}
    return with_value(data, ("backup", "start"), window.start_s)
