"""Sizing report of a plan: self-contained HTML (plots inline) and Markdown with PNG files beside it.

``write_report(result, out_dir)`` simulates what the plots need (the recommendation's timeline, the
busiest window, the other backup source, a node type × write rate grid), then writes ``report.html``,
``report.md``, the PNGs and ``plan.json``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..batch.runner import Job, simulate_job
from ..elasticache.catalog import get_node_type
from ..humanize import nice_round
from ..planner import PlanResult
from ..planner.objectives import describe, violations
from ..planner.search import Candidate
from ..planner.variants import Config, Window, variant
from ..result import Result
from ..summary import to_json
from ..units import format_bytes
from . import figures
from .document import Block, to_html, to_markdown

HEAT_MAP_RATES = 7


@dataclass
class Analysis:
    """Simulations behind the figures."""

    subject: Candidate | None  # the recommendation, or the closest try when there is none
    chosen: Result | None
    busiest: Result | None
    other_source: Result | None
    heat_types: list[str]
    heat_rates: list[float]
    heat_codes: np.ndarray


def write_report(result: PlanResult, out_dir: str | Path) -> list[Path]:
    """Write the report files to ``out_dir``; returns the HTML and Markdown paths.

    Its simulations run on the plan's runner (so it must still be open) and reuse the plan's cache.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse(result)
    images = {name: _png(fig) for name, fig in _figures(result, analysis).items()}
    blocks = _blocks(result, analysis, set(images))
    for name, data in images.items():
        (out / name).write_bytes(data)
    title = f"Sizing report: {result.scenario.name}"
    (out / "report.html").write_text(to_html(blocks, images, title))
    (out / "report.md").write_text(to_markdown(blocks))
    (out / "plan.json").write_text(to_json(result.to_dict()) + "\n")
    return [out / "report.html", out / "report.md"]


def analyse(result: PlanResult) -> Analysis:
    """Run the simulations the figures need."""
    p = result.planner
    ranked = result.ranked()
    subject = result.recommendation or (ranked[0] if ranked else None)
    chosen = busiest = other = None
    if subject is not None:
        c = subject.config
        chosen = _timeline(p, variant(p.base, c, subject.window))
        worst = max(p.windows, key=lambda w: (w.writes, w.reads))
        busiest = _timeline(p, variant(p.base, c, worst))
        alternative = [s for s in result.spec.source_choices if s != c.source]
        if alternative:
            other = _timeline(
                p, variant(p.base, Config(c.node_type, c.reserved_percent, alternative[0]), subject.window)
            )
    types, rates, codes = _heat_map(result, subject)
    return Analysis(subject, chosen, busiest, other, types, rates, codes)


def _timeline(planner, data: dict) -> Result | None:
    try:
        return simulate_job(Job(data, source=planner.source, source_dir=planner.source_dir))
    except Exception:  # noqa: BLE001 - a plot is left out rather than failing the report
        return None


def _heat_map(result: PlanResult, subject: Candidate | None) -> tuple[list[str], list[float], np.ndarray]:
    """Outcome codes (see figures.VERDICTS) for the usable node types × write rates around the day's range."""
    p, spec = result.planner, result.spec
    engine = result.scenario.engine.name
    usable = [get_node_type(t) for t in spec.node_types]
    usable = [
        n
        for n in usable
        if n.price_usd_per_hour is not None and n.backup_supported and not (n.valkey_only and engine != "valkey")
    ]
    types = [n.node_type for n in sorted(usable, key=lambda n: (n.maxmemory_bytes, n.price_usd_per_hour))]
    low = max(1000.0, min(w.writes for w in p.windows))
    high = max(low * 4, 1.5 * max(w.writes for w in p.windows))
    rates = sorted({nice_round(r) for r in np.geomspace(low, high, HEAT_MAP_RATES)})  # readable ticks
    busiest = max(p.windows, key=lambda w: (w.writes, w.reads))
    read_share = busiest.reads / busiest.writes if busiest.writes else 0.0
    source = subject.config.source if subject else spec.source_choices[0]
    start = subject.window.start_s if subject else p.quiet.start_s
    codes = np.full((len(types), len(rates)), 4)
    cells, datas = [], []
    for i, name in enumerate(types):
        node = get_node_type(name)
        fitting = [
            r for r in spec.reserved_memory_percent if p.used_memory / p.shards <= node.maxmemory_bytes * (1 - r / 100)
        ]
        if not fitting:
            continue
        reserved = (
            subject.config.reserved_percent if subject and subject.config.reserved_percent in fitting else min(fitting)
        )
        for j, rate in enumerate(rates):
            cells.append((i, j))
            datas.append(variant(p.base, Config(name, reserved, source), Window(start, rate, rate * read_share)))
    for (i, j), summary in zip(cells, p.evaluate(datas), strict=True):
        codes[i, j] = _code(summary, violations(spec.objectives, summary, spec.window_length))
    return types, rates, codes


def _code(summary: dict, missed) -> int:
    if "error" in summary:
        return 5
    if any(v.objective == "data_fits" for v in missed):
        return 4
    if summary["outcome"] == "oom":
        return 3
    if summary["outcome"] == "paging":
        return 2
    return 1 if missed else 0


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _figures(result: PlanResult, a: Analysis) -> dict:
    figs = {}
    if a.chosen is not None and a.subject is not None:  # a timeline is simulated only for a subject
        c = a.subject.config
        figs["memory.png"] = figures.memory(a.chosen, c.reserved_percent)
        runs = [(f"chosen window {a.subject.window.label}", a.chosen)]
        busiest = max(result.planner.windows, key=lambda w: (w.writes, w.reads))
        if a.busiest is not None and busiest.label != a.subject.window.label:
            runs.append((f"busiest window {busiest.label}", a.busiest))
        figs["cow.png"] = figures.cow_growth(runs, a.chosen.summary.reserved_memory_bytes)
        figs["latency.png"] = figures.latency([r for r in (a.chosen, a.other_source) if r is not None])
    if a.heat_types:
        chosen = (a.subject.config.node_type, a.subject.window.writes) if a.subject else None
        figs["heatmap.png"] = figures.heat_map(a.heat_types, a.heat_rates, a.heat_codes, chosen)
    risks = result.found.windows
    if risks:
        figs["windows.png"] = figures.window_risk(
            [r.window.label for r in risks],
            [r.window.writes for r in risks],
            [
                r.summary.get("peak_memory_bytes", np.nan) / r.summary.get("memory_limit_bytes", np.nan)
                if "error" not in r.summary
                else np.nan
                for r in risks
            ],
            [figures.risk_class(r.summary, bool(r.violations)) for r in risks],
            a.subject.window.label if a.subject else "",
        )
    return figs


def recommendation_text(result: PlanResult) -> str:
    """The one-sentence recommendation (also the report's headline)."""
    best = result.recommendation
    if best is None:
        return "No configuration meets the objectives: see the closest tries below."
    c = best.config
    return (
        f"Recommendation: {c.node_type} with reserved-memory-percent {c.reserved_percent:g}, automatic backups "
        f"from the {c.source} in the window opening {best.window.label} "
        f"({result.spec.window_length / 60:g} min), at ${best.cost.total_usd:,.2f} per month."
    )


def _blocks(result: PlanResult, a: Analysis, images: set[str]) -> list[Block]:
    s = a.chosen.summary if a.chosen is not None else None
    calibrated = (
        "calibrated on harness runs"
        if s is not None and s.platform_calibrated
        else "published figures, not yet checked by harness runs"
    )
    blocks = [
        Block("h1", f"Sizing report: {result.scenario.name}"),
        Block(
            "muted",
            f"rbsim plan {result.source}. Simulated, not measured: the {s.platform if s else result.scenario.platform} "
            f"platform profile rests on {calibrated}.",
        ),
        Block("callout" if result.recommendation else "callout-none", recommendation_text(result)),
    ]
    if result.recommendation:
        blocks += [
            Block("h2", "Why this choice"),
            Block("ul", items=tuple(result.reasons)),
            Block("h2", "Headroom"),
            Block("ul", items=tuple(h.sentence for h in result.headroom)),
        ]
    restore = result.to_dict()["restore"]
    if restore is not None:
        from ..planner.render import restore_sentence

        sentence = restore_sentence(restore)
        blocks += [Block("h2", "Restore"), Block("p", sentence[0].upper() + sentence[1:] + ".")]
    notes = [f"unvalidated: {u}" for u in s.unvalidated] + [f"warning: {w}" for w in s.warnings] if s else []
    if notes:
        blocks += [Block("h2", "Warnings and unvalidated figures"), Block("ul", items=tuple(notes))]
    blocks += [Block("h2", "Objectives and assumptions"), Block("ul", items=tuple(_assumptions(result)))]
    blocks += [
        Block("h2", "Alternatives"),
        Block(
            "table",
            items=(
                "#",
                "node type",
                "reserved",
                "source",
                "window",
                "USD/month",
                "peak memory / node",
                "swap",
                "p99 ms",
                "P(fail)",
                "verdict",
            ),
            rows=tuple(_row(result, rank, c) for rank, c in enumerate(result.ranked(), start=1)),
        ),
    ]
    if result.found.skipped:
        blocks += [
            Block("p", "Left out before simulation:"),
            Block("ul", items=tuple(f"{x.subject}: {x.reason}" for x in result.found.skipped)),
        ]
    captions = {
        "memory.png": (
            "Memory over the backup",
            "Memory of the recommended configuration over its backup: Redis, the "
            "copy-on-write copies and the child's page tables against node memory; the grey band is the "
            "reserved memory between maxmemory and the node's limit.",
        ),
        "cow.png": ("Copy-on-write growth", "Copy-on-write growth in the chosen window and in the busiest one."),
        "latency.png": (
            "Latency",
            "What the primary's clients wait: a backup from the primary makes them wait out the "
            "fork stall; from a replica they keep their baseline and only replication falls behind.",
        ),
        "heatmap.png": (
            "Outcome by node type and write rate",
            "Outcome of a backup by node type and write rate (same "
            "reserved memory, source and read share as the recommendation).",
        ),
        "windows.png": (
            "Risk over the day's backup windows",
            "The recommended configuration backed up in each window: "
            "peak memory as a share of node memory, and the worst write rate a backup begun there meets.",
        ),
    }
    for name, (heading, caption) in captions.items():
        if name in images:
            blocks += [Block("h2", heading), Block("figure", caption, items=(name,))]
    return blocks


def _assumptions(result: PlanResult) -> list[str]:
    p, spec = result.planner, result.spec
    out = ["objectives: " + "; ".join(describe(spec.objectives))]
    out.append(
        f"cost: {p.nodes} node(s) ({p.shards} shard(s) × (1 primary + {spec.replicas} replica(s))) at the catalog's "
        "on-demand price × 730 h/month (prices are secondary figures; region not stated), plus backup storage: "
        f"{p.retention_days} daily backup(s) of {format_bytes(p.rdb_bytes)} kept, the first free, "
        "$0.085 per GB-month beyond (AWS, ElastiCache backup costs)"
    )
    out.append(
        f"windows: ElastiCache begins the backup anywhere in its {spec.window_length / 60:g}-minute window, so each "
        "window is judged at the highest rates from its opening to the latest possible end of the backup"
    )
    if spec.uncertainty is not None:
        u = spec.uncertainty
        inputs = "; ".join(f"{k}: {json.dumps(v)}" for k, v in u.inputs.items())
        out.append(
            f"uncertainty: {u.runs} Monte-Carlo runs (seed {u.seed}) over {inputs}; a candidate may miss an "
            f"objective in at most {100 * spec.max_failure_probability:g} % of them"
        )
    return out


def _row(result: PlanResult, rank: int, c: Candidate) -> tuple:
    s = c.summary
    mark = "★ " if c is result.recommendation else ""
    p99 = s.get("p99_latency_ms", s.get("max_latency_ms"))
    return (
        f"{mark}{rank}",
        c.config.node_type,
        f"{c.config.reserved_percent:g} %",
        c.config.source,
        c.window.label,
        f"{c.cost.total_usd:,.2f}",
        f"{format_bytes(s['peak_memory_bytes'])} / {format_bytes(s['memory_limit_bytes'])}"
        if "peak_memory_bytes" in s
        else "-",
        format_bytes(s.get("swap_peak_bytes", 0)),
        "-" if p99 is None else f"{p99:.3g}",
        f"{100 * c.mc.probability:.1f} %" if c.mc else "-",
        result.verdict(c),
    )
