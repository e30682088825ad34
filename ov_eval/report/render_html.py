"""Self-contained HTML (inline CSS, PNGs embedded as data URIs): opens offline, mails as one file."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ov_eval.report.sections import Section

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f0f0f0} td:first-child,th:first-child{text-align:left}
td.flag{background:#fde0e0} td.notrun{color:#999;font-style:italic} td.ok{background:#e5f5e0}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.6em;margin:1em 0}
"""


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


_OK = ("ok", "consistent")  # green: within tolerance or inside the run's interval


def _cell(text: str) -> str:
    cls = "flag" if text.startswith("⚠") else "notrun" if text == "not run" else "ok" if text in _OK else ""
    return f"<td{f' class={cls}' if cls else ''}>{html.escape(text)}</td>"


def render_html(title: str, blocks: list[Section], images: dict[str, Path], banner: str = "") -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if banner:
        parts.append(f"<div class='banner'>{html.escape(banner)}</div>")
    for block in blocks:
        parts.append(f"<h2>{html.escape(block.title)}</h2>")
        if block.text:
            parts.append(f"<p>{html.escape(block.text)}</p>")
        if block.header:
            parts.append(
                "<div style='overflow-x:auto'><table><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
                + "</tr>"
            )
            parts += ["<tr>" + "".join(map(_cell, row)) + "</tr>" for row in block.rows]
            parts.append("</table></div>")
        for name in block.images:
            parts.append(f"<img alt='{html.escape(name)}' src='{data_uri(images[name])}'>")
    parts.append("</body></html>")
    return "\n".join(parts)
