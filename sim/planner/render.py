"""The plan as a readable table for the terminal."""

from __future__ import annotations

import math
import textwrap

from ..units import format_bytes
from .explain import window_ranges
from .objectives import describe

TABLE_ROWS = 15


def _ms(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.3g}"


def wrap(text: str, indent: str) -> str:
    """Fill ``text`` to 110 columns, continuation lines aligned under the first."""
    return textwrap.fill(text, 110, initial_indent=indent, subsequent_indent=" " * len(indent))


def restore_sentence(r: dict) -> str:
    """The smallest node type the backup restores onto, in words (for the table and the report)."""
    if r["smallest_node_type"] is None:
        return "the backup restores onto none of the candidate node types"
    sync = f", replicas in sync after {r['restore_ready_s']:.3g} s" if r["replica_sync_s"] is not None else ""
    note = "" if r["restore_costs_calibrated"] else " (restore costs not checked by harness runs on this platform)"
    return (
        f"the smallest candidate node type this backup restores onto is {r['smallest_node_type']} "
        f"(data {format_bytes(r['restore_used_memory_bytes'])} of maxmemory "
        f"{format_bytes(r['restore_maxmemory_bytes'])}); it loads in {r['restore_load_s']:.3g} s{sync}{note}"
    )


def render_plan(result) -> str:
    """Objectives, the recommendation with reasons and margins, the ranked alternatives, what was skipped."""
    p, spec, best = result.planner, result.spec, result.recommendation
    lines = [
        f"{result.scenario.name}  [{result.source}]",
        wrap("objectives: " + ", ".join(describe(spec.objectives)), "  "),
        f"  costed as {p.nodes} node(s) ({p.shards} shard(s) × 1 primary + {spec.replicas} replica(s)), "
        f"daily backups kept {p.retention_days} day(s); windows of {spec.window_length / 60:g} min",
    ]
    if best is None:
        lines.append("  NO CONFIGURATION meets the objectives; closest tries below")
    else:
        c = best.config
        lines += [
            "",
            f"  RECOMMENDED  {c.node_type}, reserved-memory-percent {c.reserved_percent:g}, "
            f"backup from the {c.source}, "
            f"window opening {best.window.label}",
            f"               ${best.cost.total_usd:,.2f}/month ({best.cost.nodes} nodes ${best.cost.node_usd:,.2f} + "
            f"backup storage ${best.cost.backup_storage_usd:,.2f})",
            "  why",
            *[wrap(r, "    - ") for r in result.reasons],
            "  headroom",
            *[wrap(h.sentence, "    - ") for h in result.headroom],
            f"  windows meeting the objectives: {window_ranges(result.found.windows)}",
            *[wrap(f"unvalidated: {u}", "  ") for u in best.summary.get("unvalidated", [])],
            *[wrap(f"warning: {w}", "  ") for w in best.summary.get("warnings", [])],
        ]
    lines += [
        "",
        f"  {'#':>2}  {'node type':<19} {'resv':>4} {'source':<7} {'window':<6} {'USD/month':>10} "
        f"{'peak memory':>21} {'swap':>10} {'p99 ms':>7} {'P(fail)':>7}  verdict",
    ]
    for rank, cand in enumerate(result.ranked()[:TABLE_ROWS], start=1):
        s, c = cand.summary, cand.config
        mem = (
            f"{format_bytes(s['peak_memory_bytes'])} / {format_bytes(s['memory_limit_bytes'])}"
            if "peak_memory_bytes" in s
            else "-"
        )
        pfail = f"{100 * cand.mc.probability:.1f}%" if cand.mc else "-"
        mark = "*" if cand is best else " "
        lines.append(
            f" {mark}{rank:>2}  {c.node_type:<19} {c.reserved_percent:>3g}% {c.source:<7} {cand.window.label:<6} "
            f"{cand.cost.total_usd:>10,.2f} {mem:>21} {format_bytes(s.get('swap_peak_bytes', 0)):>10} "
            f"{_ms(s.get('p99_latency_ms', s.get('max_latency_ms'))):>7} {pfail:>7}  {result.verdict(cand)}"
        )
    hidden = len(result.ranked()) - TABLE_ROWS
    if hidden > 0:
        lines.append(f"      ... {hidden} more (--json lists them all)")
    restore = result.to_dict()["restore"]
    if restore is not None:
        lines += ["", wrap(restore_sentence(restore), "  restore: ")]
    if result.found.skipped:
        lines += ["", "  skipped"] + [wrap(f"{s.subject}: {s.reason}", "    ") for s in result.found.skipped]
    return "\n".join(lines) + "\n"
