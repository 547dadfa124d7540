"""Words for the plan: each candidate's verdict and the reasons behind the recommendation."""

from __future__ import annotations

from ..elasticache.catalog import get_node_type
from ..units import format_bytes
from .headroom import count
from .search import Candidate, SearchResult, WindowRisk


def verdict(candidate: Candidate, uncertain: bool, max_probability: float) -> str:
    """One line: meets the objectives, misses them in a share of runs, or what it misses."""
    if not candidate.meets_nominal:
        return "; ".join(v.message for v in candidate.violations)
    mc = candidate.mc
    if mc is None:
        return (
            "meets the objectives at nominal inputs (failure probability not estimated)"
            if uncertain
            else "meets all objectives"
        )
    if mc.stopped_early or mc.probability > max_probability:
        worst = ", ".join(name for name, _ in mc.reasons.most_common(2))
        return f"misses an objective in {mc.text()}, above the {100 * max_probability:g} % allowed ({worst})"
    return f"meets all objectives; Monte-Carlo: misses one in {mc.text()}"


def window_ranges(risks: list[WindowRisk]) -> str:
    """Passing windows as ranges of consecutive openings: ``01:00-05:00, 22:00``."""
    passing = [r.window for r in risks if not r.violations]
    if not passing:
        return "none"
    groups, current = [], [passing[0]]
    for w in passing[1:]:
        if abs(w.start_s - current[-1].start_s - 3600) < 1:
            current.append(w)
        else:
            groups.append(current)
            current = [w]
    groups.append(current)
    return ", ".join(g[0].label if len(g) == 1 else f"{g[0].label}-{g[-1].label}" for g in groups)


def reasons(found: SearchResult, planner) -> list[str]:
    """Why the recommendation: cost, the cheaper types' failures, source, window, reservation, risk."""
    best = found.accepted[0]
    spec, c, s = planner.spec, best.config, best.summary
    cost = best.cost
    out = [
        f"cheapest configuration that meets every objective: ${cost.total_usd:,.2f}/month "
        f"({cost.nodes} × {c.node_type} ${cost.node_usd:,.2f} + backup storage ${cost.backup_storage_usd:,.2f})"
    ]
    price = get_node_type(c.node_type).price
    for name in spec.node_types:
        node = get_node_type(name)
        if node.price_usd_per_hour is None or node.price_usd_per_hour >= price or name == c.node_type:
            continue
        out.append(f"{name} is cheaper but {_why_not(name, found, spec)}")
    if c.source == "replica":
        out.append(
            "backing up from the replica keeps the fork stall and copy-on-write off the primary, "
            "whose clients keep baseline latency"
        )
    else:
        out.append(
            "backing up from the primary"
            + (" (there is no replica)" if not spec.replicas else " meets the objectives at no extra cost")
        )
    busiest = max(planner.windows, key=lambda w: (w.writes, w.reads))
    out.append(
        f"window {best.window.label}: the quietest, at most {count(best.window.writes)} writes/s during a backup "
        f"begun in it (the busiest window sees {count(busiest.writes)}/s); windows that meet the objectives: "
        f"{window_ranges(found.windows)}"
    )
    extra = s.get("peak_memory_bytes", 0) - s.get("rss_bytes", 0)
    reserved = s.get("reserved_memory_bytes", 0)
    if best.reserve_covers_backup:
        out.append(
            f"reserved-memory-percent {c.reserved_percent:g}: its {format_bytes(reserved)} covers the backup's "
            f"extra memory ({format_bytes(extra)}), so the data may grow to maxmemory without paging in a backup"
        )
    else:
        out.append(
            f"reserved-memory-percent {c.reserved_percent:g}: {format_bytes(reserved)} does not cover the backup's "
            f"extra memory ({format_bytes(extra)}); free memory does today, but data growth toward maxmemory eats it"
        )
    if best.mc is not None:
        names = ", ".join(spec.uncertainty.inputs)
        out.append(
            f"with {names} uncertain, it misses an objective in {best.mc.text()} "
            f"(allowed: {100 * spec.max_failure_probability:g} %)"
        )
    return out


def _why_not(name: str, found: SearchResult, spec) -> str:
    for skip in found.skipped:
        if skip.subject == name:
            return skip.reason
    own = [c for c in found.candidates if c.config.node_type == name]
    if not own:
        return "was not evaluated"
    closest = min(own, key=lambda c: (len(c.violations), c.mc.probability if c.mc else 0.0))
    return (
        verdict(closest, spec.uncertainty is not None, spec.max_failure_probability)
        + f" (best try: {closest.config.reserved_percent:g} % reserved, from the {closest.config.source}, "
        f"window {closest.window.label})"
    )
