"""``report.md``: GitHub-flavoured Markdown with the PNGs linked next to it."""

from __future__ import annotations

from ov_eval.report.sections import Section

# Markdown syntax that a label, task name or judge error text (strings from outside) could inject:
# table breaks, links/images, emphasis, code, raw HTML.
_MARKDOWN_ESCAPES = {c: "\\" + c for c in "\\`*_[]|"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_LINE_STARTS = ("#", ">", "-", "+", "=")


def _escape(text: str, line_start: bool = False) -> str:
    """Text shown literally, on one line; at the start of a line, a block marker is escaped too."""
    escaped = "".join(_MARKDOWN_ESCAPES.get(c, c) for c in " ".join(str(text).splitlines()))
    return "\\" + escaped if line_start and escaped.startswith(_LINE_STARTS) else escaped


def render_markdown(title: str, blocks: list[Section]) -> str:
    lines = [f"# {_escape(title)}", ""]
    for block in blocks:
        lines += [f"## {_escape(block.title)}", ""]
        if block.text:
            lines += [_escape(block.text, line_start=True), ""]
        if block.header:
            lines.append("| " + " | ".join(map(_escape, block.header)) + " |")
            lines.append("|" + "---|" * len(block.header))
            lines += ["| " + " | ".join(map(_escape, row)) + " |" for row in block.rows]
            lines.append("")
        lines += [f"![{name}]({name})" for name in block.images]
        if block.images:
            lines.append("")
    return "\n".join(lines)
