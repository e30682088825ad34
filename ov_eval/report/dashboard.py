"""Regression dashboard over the SQLite history: a trend plot per benchmark and a table of
changes of one label against a baseline label; the same comparison drives ``ov-eval gate``.

A regression is a drop larger than ``max_drop`` AND significant at ``alpha``: a one-point drop
on 60 judged questions is noise, the same drop on 19,000 questions is not. ``alpha = 1`` turns
the significance test off (every drop beyond ``max_drop`` counts)."""

from __future__ import annotations

import html
import sqlite3
from pathlib import Path

from ov_eval.report import plots, stats
from ov_eval.report.history import Regression, compare_labels, labels, missing_in, points
from ov_eval.report.reference import measure_names
from ov_eval.report.render_html import CSS, data_uri


def verdict(
    change: Regression, max_drop: float, alpha: float = stats.DEFAULT_ALPHA, iters: int = stats.DEFAULT_ITERS
) -> tuple[bool, str]:
    """Whether ``change`` is a regression, and the test behind the answer (for the output line).

    Drops within ``max_drop`` never count. Beyond it, the drop counts when its p-value is below
    ``alpha`` -- or when there is no standard error to test with (a gate must not pass blind).
    """
    if change.change >= -max_drop:
        return False, "within max drop"
    if alpha >= 1:
        return True, "alpha 1: significance not tested"
    est = change.change_estimate(iters)
    if isinstance(est, str):
        return True, f"not testable: {est}"
    p = stats.p_value(est.z())
    half = est.half_width(alpha)
    text = f"± {half:.2f} at alpha {alpha:g}, p = {p:.3g}, {est.method}"
    return p < alpha, text


def regressions(
    changes: list[Regression],
    max_drop: float,
    alpha: float = stats.DEFAULT_ALPHA,
    iters: int = stats.DEFAULT_ITERS,
) -> list[tuple[Regression, str]]:
    """Measures that fell by more than ``max_drop`` (paper units) and significantly, with their test."""
    out = []
    for change in changes:
        bad, text = verdict(change, max_drop, alpha, iters)
        if bad:
            out.append((change, text))
    return out


def _pm(value: float, se: float | None, alpha: float) -> str:
    return f"{value:.2f}" if se is None else f"{value:.2f} ± {stats.z_value(alpha) * se:.2f}"


def write_dashboard(
    con: sqlite3.Connection,
    out: Path,
    baseline: str | None = None,
    candidate: str | None = None,
    max_drop: float = 1.0,
    alpha: float = stats.DEFAULT_ALPHA,
    iters: int = stats.DEFAULT_ITERS,
) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    known = labels(con)
    if not known:
        raise ValueError("the history is empty: track runs first (ov-eval track RUN --label L)")
    baseline = baseline or known[0]
    candidate = candidate or known[-1]
    changes = compare_labels(con, baseline, candidate)
    missing = missing_in(con, baseline, candidate)
    verdicts = {c.measure: verdict(c, max_drop, alpha, iters) for c in changes}
    bad = {m for m, (is_bad, _) in verdicts.items() if is_bad}
    names = measure_names()  # paper measures by their paper name; other metrics as "task:key"
    order = {label: i for i, label in enumerate(known)}
    by_measure: dict[str, dict[str, list[tuple[str, float, float | None]]]] = {}
    for p in sorted(points(con), key=lambda p: order[p.label]):
        by_measure.setdefault(p.measure, {}).setdefault(p.checkpoint, []).append((p.label, p.value, p.se))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>ov-eval regression dashboard</title>",
        f"<style>{CSS}.grid{{display:flex;flex-wrap:wrap;gap:8px}}</style></head><body>",
        "<h1>ov-eval regression dashboard</h1>",
        f"<p>{len(known)} tracked labels: {html.escape(', '.join(known))}. Baseline <b>{html.escape(baseline)}</b>, "
        f"candidate <b>{html.escape(candidate)}</b>, regression = drop of more than {max_drop:g} "
        f"(paper units: points for percentages) that is also significant at alpha {alpha:g} (paired over "
        "the docs both runs logged when both have samples, else from the two standard errors); ± is the "
        f"half-width of the {100 * (1 - alpha):g} % interval. A benchmark the candidate lost is a regression too.</p>",
        f"<h2>Changes against the baseline ({len(bad) + len(missing)} regressions)</h2>",
        "<table><tr><th>benchmark</th><th>baseline</th><th>candidate</th><th>change</th><th>test</th>"
        "<th>status</th></tr>",
    ]
    for c in changes:
        status = "⚠ regression" if c.measure in bad else "ok"
        base_se = c.base_point.se if c.base_point else None
        cand_se = c.cand_point.se if c.cand_point else None
        parts.append(
            f"<tr><td>{html.escape(names.get(c.measure, c.measure))}</td><td>{_pm(c.baseline, base_se, alpha)}</td>"
            f"<td>{_pm(c.candidate, cand_se, alpha)}</td><td>{c.change:+.2f}</td>"
            f"<td>{html.escape(verdicts[c.measure][1])}</td>"
            f"<td class={'flag' if c.measure in bad else 'ok'}>{status}</td></tr>"
        )
    for m in missing:
        parts.append(
            f"<tr><td>{html.escape(names.get(m, m))}</td><td>-</td><td>no score</td><td>-</td><td>-</td>"
            "<td class=flag>⚠ missing in candidate</td></tr>"
        )
    parts.append("</table><h2>Trends</h2><div class='grid'>")
    plot_dir = out / "trends"
    plot_dir.mkdir(exist_ok=True)
    for i, (measure, series) in enumerate(sorted(by_measure.items())):
        png = plots.trend_chart(names.get(measure, measure), series, plot_dir / f"trend_{i:03d}.png")
        parts.append(f"<img alt='{html.escape(names.get(measure, measure))}' src='{data_uri(png)}'>")
    parts.append("</div></body></html>")
    path = out / "dashboard.html"
    path.write_text("\n".join(parts))
    return path
