"""Assemble everything a report shows into one plain object that the renderers share.

The HTML, Markdown, CSV and JSON outputs all come from :class:`Report`, so they cannot
disagree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from ov_eval import fidelity
from ov_eval.report import stats
from ov_eval.report.compare import (
    NOT_RUN,
    Cell,
    Delta,
    ModalitySummary,
    by_modality,
    compare,
    paper_row,
    si_vs_ov,
)
from ov_eval.report.reference import PAPER_CHECKPOINTS, PaperColumn, load_reference
from ov_eval.report.runs import Resolved, Run, resolve

PAPER_NAMES = {
    "0.5b-si": "LLaVA-OV-0.5B (SI)",
    "0.5b-ov": "LLaVA-OV-0.5B",
    "7b-si": "LLaVA-OV-7B (SI)",
    "7b-ov": "LLaVA-OV-7B",
    "72b-si": "LLaVA-OV-72B (SI)",
    "72b-ov": "LLaVA-OV-72B",
    "gpt-4v": "GPT-4V",
    "gpt-4o": "GPT-4o",
}
TABLE_TITLES = {
    2: "Table 2: overview (OV checkpoints vs GPT-4V/4o)",
    3: "Table 3: single-image benchmarks",
    4: "Table 4: multi-image benchmarks",
    5: "Table 5: video benchmarks",
}


@dataclass(frozen=True)
class TaskUse:
    """Which file a (checkpoint, task) value came from, and its accounting."""

    checkpoint: str
    task: str
    path: Path
    date: str
    superseded: tuple[Path, ...]
    n_samples: int | None
    errors: int | None
    judge: dict | None


@dataclass
class Report:
    reference: list[PaperColumn]
    cells: list[Cell]
    deltas: list[Delta]
    modalities: list[ModalitySummary]
    uses: list[TaskUse]
    tolerance_pct: float
    paper_only: bool
    run_files: list[Path] = field(default_factory=list)
    provenance: dict[Path, dict | None] = field(default_factory=dict)  # per run file
    alpha: float = stats.DEFAULT_ALPHA
    iters: int = stats.DEFAULT_ITERS

    @property
    def checkpoints(self) -> list[str]:
        return list(dict.fromkeys(c.checkpoint for c in self.cells))


def build_report(
    runs: list[Run],
    tolerance_pct: float = 1.0,
    reference_path: Path | None = None,
    iters: int = stats.DEFAULT_ITERS,
    alpha: float = stats.DEFAULT_ALPHA,
) -> Report:
    """``iters``: resamples per standard error computed from samples; ``alpha``: significance level."""
    reference = load_reference(reference_path)
    resolved: dict[tuple[str, str], Resolved] = resolve(runs)
    paper_only = not runs
    deltas = si_vs_ov(reference, resolved, paper_only=paper_only, iters=iters, alpha=alpha)
    uses = [
        TaskUse(
            checkpoint=checkpoint,
            task=task,
            path=hit.run.path,
            date=hit.run.date,
            superseded=hit.superseded,
            n_samples=hit.result.n_samples,
            errors=hit.result.errors,
            judge=hit.result.judge,
        )
        for (checkpoint, task), hit in sorted(resolved.items())
    ]
    return Report(
        reference=reference,
        cells=compare(reference, resolved, tolerance_pct, iters=iters, alpha=alpha),
        deltas=deltas,
        modalities=by_modality(deltas),
        uses=uses,
        tolerance_pct=tolerance_pct,
        paper_only=paper_only,
        run_files=sorted({run.path for run in runs}),
        provenance={run.path: run.provenance for run in runs},
        alpha=alpha,
        iters=iters,
    )


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if "0-5" in unit:
        return f"{value:.2f}"
    if unit == "MME score":
        return f"{value:.0f}"
    return f"{value:.1f}"


def fmt_signed(value: float | None, unit: str = "") -> str:
    return "-" if value is None else ("+" if value >= 0 else "") + fmt(value, unit)


def fmt_pm(value: float | None, half: float | None, unit: str = "", signed: bool = False) -> str:
    """``82.0 ± 1.2`` (the interval's half-width), or the bare number when there is no interval."""
    text = fmt_signed(value, unit) if signed else fmt(value, unit)
    return text if value is None or half is None else f"{text} ± {fmt(half, unit)}"


def paper_layout(
    report: Report, table: int, notes: fidelity.Footnotes | None = None
) -> tuple[list[str], list[list[str]]]:
    """The paper's table ``table``: same column order, merged cells ("418/1580", "58.2/61.5"),
    paper rows first, then one row per run checkpoint ("not run" where a task is missing).
    With ``notes``, values carry footnote marks from the tasks' fidelity cards."""
    notes = notes or fidelity.Footnotes()
    columns = [c for c in report.reference if c.table == table]
    groups = [list(g) for _, g in groupby(columns, key=lambda c: c.column)]
    header = ["Model"] + [f"{g[0].column} ({'/'.join(c.split for c in g)})" for g in groups]
    rows = []
    for checkpoint in PAPER_CHECKPOINTS:
        if any(checkpoint in c.values for c in columns):
            rows.append(
                [f"{PAPER_NAMES[checkpoint]} (paper)"]
                + [
                    "/".join(
                        fmt(c.values.get(checkpoint), c.unit)
                        + notes.mark(
                            fidelity.paper_notes(c.measure, checkpoint) if checkpoint in c.values else []
                        )
                        for c in g
                    )
                    for g in groups
                ]
            )
    cells = {(c.checkpoint, c.measure): c for c in report.cells if c.table == table}
    for checkpoint in report.checkpoints:
        if not any((checkpoint, c.measure) in cells for c in columns):
            continue
        row = [f"{checkpoint} (run)"]
        for g in groups:
            parts = [cells[(checkpoint, c.measure)] for c in g]
            row.append(
                NOT_RUN if not any(p.ran for p in parts) else "/".join(_run_text(p, notes) for p in parts)
            )
        rows.append(row)
    return header, rows


def _run_text(cell: Cell, notes: fidelity.Footnotes) -> str:
    if cell.run is None:
        return cell.status
    marks = notes.mark(fidelity.run_notes(cell.measure, paper_row(cell.checkpoint)))
    return fmt_pm(cell.run, cell.half_width, cell.unit) + marks
