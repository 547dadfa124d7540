"""A report as a list of blocks, rendered to self-contained HTML (images inline) and to Markdown."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1180px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.callout { background: #eef6ee; border-left: 6px solid #59a14f; padding: 0.8em 1.2em; font-size: 1.15em; }
.callout.none { background: #fbecec; border-left-color: #e15759; }
table { border-collapse: collapse; font-size: 0.86em; width: 100%; }
th, td { border: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } .muted { color: #666; font-size: 0.9em; }
"""


@dataclass(frozen=True)
class Block:
    """One piece of the report: kind is h1, h2, p, muted, callout, callout-none, ul, table or figure."""

    kind: str
    text: str = ""
    items: tuple = ()
    rows: tuple = ()


def to_html(blocks: list[Block], images: dict[str, bytes], title: str) -> str:
    """One HTML file with the PNGs embedded as base64: no external assets."""
    e = html.escape
    out = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>',
        f"<style>{STYLE}</style></head><body>",
    ]
    for b in blocks:
        if b.kind in ("h1", "h2", "p"):
            out.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "muted":
            out.append(f'<p class="muted">{e(b.text)}</p>')
        elif b.kind.startswith("callout"):
            extra = " none" if b.kind == "callout-none" else ""
            out.append(f'<div class="callout{extra}">{e(b.text)}</div>')
        elif b.kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b.items)
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "figure":
            data = base64.b64encode(images[b.items[0]]).decode("ascii")
            out.append(
                f'<figure><img alt="{e(b.text)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(b.text)}</figcaption></figure>"
            )
    out.append("</body></html>\n")
    return "\n".join(out)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    """Markdown with the figures as PNG files beside it."""
    out = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {b.text}")
        elif b.kind == "h2":
            out.append(f"## {b.text}")
        elif b.kind in ("p", "muted"):
            out.append(b.text if b.kind == "p" else f"*{b.text}*")
        elif b.kind.startswith("callout"):
            out.append(f"> **{b.text}**")
        elif b.kind == "ul":
            out.append("\n".join(f"- {i}" for i in b.items))
        elif b.kind == "table":
            out.append("| " + " | ".join(map(_cell, b.items)) + " |")
            out.append("|" + "---|" * len(b.items))
            out += ["| " + " | ".join(map(_cell, row)) + " |" for row in b.rows]
        elif b.kind == "figure":
            out.append(f"![{b.text}]({b.items[0]})\n\n*{b.text}*")
        out.append("")
    return "\n".join(out)
