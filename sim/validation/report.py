"""The validation report: Markdown with predicted-vs-measured scatter plots and COW curves per run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..figure import pyplot
from .errors import METRICS, confusion, paging_table, per_kind_table, summary_table
from .predict import Comparison

MIB = 1024**2


def write_report(groups: dict[str, list[Comparison]], errors: dict[str, pd.DataFrame], out: Path, title: str) -> Path:
    """Write ``out/README.md`` and its plots; ``groups`` maps a set name (held-out, training) to its runs."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", ""]
    for name, comparisons in groups.items():
        err = errors[name]
        lines += [f"## {name} records ({len(comparisons)})", "", _markdown(summary_table(err)), ""]
        kinds = per_kind_table(err)
        if len(kinds):
            lines += [
                "Per data type (the type taking most writes; peaks within 2 % of the container limit apart):",
                "",
                _markdown(kinds),
                "",
            ]
        lines += [
            "Outcome confusion (rows measured, columns predicted):",
            "",
            _markdown(confusion(comparisons).reset_index()),
            "",
        ]
        paging = paging_table(err)
        if len(paging):
            lines += ["Paging runs (target: within 30 %):", "", _markdown(paging), ""]
        scatter = out / f"scatter-{_slug(name)}.png"
        plot_scatter(err, scatter)
        curves = out / f"cow-curves-{_slug(name)}.png"
        plot_cow_curves(comparisons, curves)
        lines += [f"![predicted vs measured]({scatter.name})", "", f"![copy-on-write over time]({curves.name})", ""]
        lines += ["Per run:", "", _markdown(_per_run(comparisons)), ""]
    path = out / "README.md"
    path.write_text("\n".join(lines))
    return path


def plot_scatter(errors: pd.DataFrame, path: Path) -> None:
    """Predicted against measured, one panel per metric, with the y = x line."""
    metrics = [m for m in METRICS if (errors["metric"] == m).any()]
    if not metrics:
        return
    cols = 3
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = pyplot().subplots(rows, cols, figsize=(4 * cols, 3.6 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        sub = errors[errors["metric"] == metric]
        ax.scatter(sub["measured"], sub["predicted"], s=18, c=np.where(sub["paging"], "crimson", "#4c72b0"))
        lo = min(sub["measured"].min(), sub["predicted"].min()) * 0.8
        hi = max(sub["measured"].max(), sub["predicted"].max()) * 1.25
        ax.plot([lo, hi], [lo, hi], color="gray", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{metric}\nmedian |err| {sub['error_pct'].abs().median():.1f} %", fontsize=9)
        ax.set_xlabel("measured")
        ax.set_ylabel("predicted")
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def plot_cow_curves(comparisons: list[Comparison], path: Path) -> None:
    """Measured ``current_cow_size`` (dots) and predicted COW (line) over each run's save."""
    runs = [c for c in comparisons if c.record.get("timeline")]
    if not runs:
        return
    cols = 4
    rows = (len(runs) + cols - 1) // cols
    fig, axes = pyplot().subplots(rows, cols, figsize=(3.4 * cols, 2.4 * rows), squeeze=False)
    for ax, c in zip(axes.flat, runs, strict=False):
        tl = pd.DataFrame(c.record["timeline"])
        if "current_cow_size" in tl:
            ax.plot(tl["t"], tl["current_cow_size"] / MIB, ".", ms=3, color="#dd8452", label="measured")
        pred = c.result.timeline
        fork_at = pred.loc[pred["phase"].isin(["fork", "save"]), "time_s"]
        if len(fork_at):
            t0 = fork_at.iloc[0]
            ax.plot(pred["time_s"] - t0, pred["cow_bytes"] / MIB, color="#4c72b0", lw=1.2, label="predicted")
        end = c.record["measured"].get("rdb_last_cow_size")
        if end:
            ax.axhline(end / MIB, color="#dd8452", lw=0.6, ls="--")
        ax.set_xlim(left=-0.5)
        ax.set_title(c.id[:40], fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("seconds since BGSAVE")
    fig.supylabel("COW MiB")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot().close(fig)


def _per_run(comparisons: list[Comparison]) -> pd.DataFrame:
    rows = []
    for c in comparisons:
        row = {"id": c.id, "outcome (measured / predicted)": f"{c.measured['outcome']} / {c.predicted['outcome']}"}
        for metric in ("cow_bytes", "save_duration_s", "fork_s", "peak_container_bytes"):
            m, p = c.measured.get(metric), c.predicted.get(metric)
            row[metric] = f"{_fmt(m, metric)} / {_fmt(p, metric)}"
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value, metric: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if metric.endswith("bytes"):
        return f"{value / MIB:.0f} MiB"
    return f"{value:.3g}"


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table without extra dependencies."""
    if table.empty:
        return "(none)"
    cols = [str(c) for c in table.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        out.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(out)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if np.isfinite(value) else "-"
    return str(value)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower())
