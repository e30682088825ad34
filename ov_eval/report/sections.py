"""The report's content as titled tables: one list shared by the Markdown and HTML renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ov_eval import fidelity
from ov_eval.provenance import summary as provenance_summary
from ov_eval.report import stats
from ov_eval.report.build import TABLE_TITLES, Report, fmt, fmt_pm, fmt_signed, paper_layout
from ov_eval.report.compare import (
    ABOVE,
    BELOW,
    CONSISTENT,
    MEANING,
    NO_INTERVAL,
    NOT_COMPARABLE,
    NOT_RUN,
    Cell,
    paper_row,
)

JUDGE_FIELDS = ("calls", "cache_hits", "failures", "prompt_tokens", "completion_tokens")


@dataclass
class Section:
    title: str
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # file names inside the report directory


def sections(report: Report, images: dict[str, Path]) -> list[Section]:
    notes = fidelity.Footnotes()  # one numbering for every table of the report
    out = [_sources(report)]
    if not report.paper_only:
        out.append(_reproduction(report, notes))
    for table in (3, 4, 5, 2):
        header, rows = paper_layout(report, table, notes)
        out.append(Section(TABLE_TITLES[table], header=header, rows=rows))
    if notes.numbers:
        out.append(_notes(notes))
    out.extend(_si_vs_ov(report, images))
    if report.uses:
        out.append(_accounting(report))
    return out


def _sources(report: Report) -> Section:
    if report.paper_only:
        return Section(
            "Sources",
            "Paper-only report: the LLaVA-OneVision paper's Tables 2-5 (reports/paper_tables.csv) "
            "and the paper's own SI→OV changes. Pass lmms-eval result files to compare a run.",
        )
    return Section(
        "Sources",
        f"Result files used ({len(report.run_files)}); for duplicate (checkpoint, task) pairs the "
        f"newest file wins (see 'Files and accounting'). Tolerance: {report.tolerance_pct:g} % of each "
        "unit's range (1 accuracy point, 0.05 on 0-5 GPT scores, 8/20 MME cognition/perception points).",
        header=["file", "produced by"],
        rows=[[str(p), provenance_summary(report.provenance.get(p))] for p in report.run_files],
    )


def _notes(notes: fidelity.Footnotes) -> Section:
    return Section(
        "Notes: comparability and protocol deviations",
        "The [n] marks above point here. From the tasks' fidelity cards (reports/fidelity.yaml, "
        "`ov-eval tasks --fidelity`): a 'not comparable' cell is never compared with the paper; a "
        "deviation is a setting that still differs from lmms-eval at the LLaVA-OneVision release.",
        ["mark", "note"],
        notes.rows(),
    )


def status_text(cell: Cell) -> str:
    """The status column: flagged cells carry a warning sign and their z-score when they have one."""
    text = ("⚠ " if cell.flagged else "") + cell.status
    return f"{text} (z = {cell.z:+.1f})" if cell.flagged and cell.z is not None else text


def _reproduction(report: Report, notes: fidelity.Footnotes) -> Section:
    rows, summary = [], {}
    # Table 2 repeats Tables 3-5 (sometimes with slightly different numbers): count each
    # benchmark once, from its detailed table, plus Table 2's own rows (Interleave overall).
    detailed = {c.measure for c in report.reference if c.table != 2}
    buckets = (CONSISTENT, ABOVE, BELOW, "no interval", NOT_COMPARABLE, NOT_RUN)
    for cell in report.cells:
        if cell.paper is None and cell.run is None:
            continue
        counts = summary.setdefault(cell.checkpoint, dict.fromkeys(buckets, 0))
        key = "no interval" if cell.status in NO_INTERVAL else cell.status if cell.status in counts else None
        if key and (cell.table != 2 or cell.measure not in detailed):
            counts[key] += 1
        row = paper_row(cell.checkpoint)
        rows.append(
            [
                cell.checkpoint,
                str(cell.table),
                cell.column,
                cell.split,
                cell.unit,
                fmt(cell.paper, cell.unit) + notes.mark(fidelity.paper_notes(cell.measure, row)),
                cell.status
                if cell.run is None
                else fmt_pm(cell.run, cell.half_width, cell.unit)
                + notes.mark(fidelity.run_notes(cell.measure, row)),
                fmt_signed(cell.gap, cell.unit),
                "-" if cell.z is None else f"{cell.z:+.1f}",
                status_text(cell),
            ]
        )
    text = "; ".join(
        f"{ckpt}: " + ", ".join(f"{c[b]} {b}" for b in buckets)
        if paper_row(ckpt)
        else f"{ckpt}: not a paper checkpoint (0.5b/7b/72b si/ov), nothing to compare"
        for ckpt, c in summary.items()
    )
    return Section(
        "Did my run reproduce the paper?",
        f"{text}. {MEANING} Run values show ± the half-width of their "
        f"{100 * (1 - report.alpha):g} % interval; z = gap / standard error.",
        ["checkpoint", "table", "benchmark", "split", "unit", "paper", "run", "gap", "z", "status"],
        rows,
        ["gap_vs_paper.png"],
    )


def _si_vs_ov(report: Report, images: dict[str, Path]) -> list[Section]:
    who = "paper" if report.paper_only else "runs"
    summary = Section(
        f"What did OneVision training change? (OV − SI, {who})",
        "Mean OV−SI per modality over percent-scored benchmarks (MME and 0-5 scores appear per "
        "benchmark below). The paper reports OV gaining most on multi-image/multi-view and video "
        "while roughly holding single-image. ± is the half-width of the 95 % interval of a change: "
        "paired over the docs both runs answered when both logged samples, else from the two "
        "stderrs; a change whose interval contains 0 is 'not significant' (indistinguishable from noise).",
        [
            "size",
            "modality",
            "mean OV−SI (run)",
            "significant",
            "benchmarks (run)",
            "mean OV−SI (paper)",
            "benchmarks (paper)",
        ],
        [
            [
                m.size,
                m.modality,
                fmt_pm(m.mean_delta, m.half_width, signed=True),
                _significance(m.significant) if m.mean_delta is not None else "-",
                str(m.benchmarks),
                fmt_signed(m.paper_mean_delta),
                str(m.paper_benchmarks),
            ]
            for m in report.modalities
        ],
        [name for name in ("si_vs_ov.png", "ov_minus_si.png") if name in images],
    )
    detail = Section(
        "OV − SI per benchmark",
        header=[
            "size",
            "table",
            "benchmark",
            "split",
            "unit",
            "SI",
            "OV",
            "OV−SI",
            "significant",
            "paper SI",
            "paper OV",
            "paper OV−SI",
        ],
        rows=[
            [
                d.size,
                str(d.table),
                d.column,
                d.split,
                d.unit,
                NOT_RUN
                if d.si is None and not report.paper_only
                else fmt_pm(d.si, _half(report, d.si_se), d.unit),
                NOT_RUN
                if d.ov is None and not report.paper_only
                else fmt_pm(d.ov, _half(report, d.ov_se), d.unit),
                fmt_pm(d.delta, d.half_width, d.unit, signed=True),
                _significance(d.significant) if d.delta is not None else "-",
                fmt(d.paper_si, d.unit),
                fmt(d.paper_ov, d.unit),
                fmt_signed(d.paper_delta, d.unit),
            ]
            for d in report.deltas
            if report.paper_only or d.si is not None or d.ov is not None
        ],
    )
    if not report.deltas:
        detail.text = "No size has both an SI and an OV checkpoint among the runs."
    return [summary, detail]


def _half(report: Report, se: float | None) -> float | None:
    return None if se is None else stats.z_value(report.alpha) * se


def _significance(significant: bool | None) -> str:
    return "no interval" if significant is None else "yes" if significant else "not significant"


def _accounting(report: Report) -> Section:
    rows = []
    for use in report.uses:
        judge = use.judge or {}
        rows.append(
            [
                use.checkpoint,
                use.task,
                use.path.name,
                use.date,
                "-" if use.n_samples is None else str(use.n_samples),
                "-" if use.errors is None else str(use.errors),
                ", ".join(f"{k}={judge[k]}" for k in JUDGE_FIELDS if k in judge) or "-",
                ", ".join(p.name for p in use.superseded) or "-",
            ]
        )
    return Section(
        "Files and accounting",
        "Per (checkpoint, task): the file whose value is shown, its sample count, per-task error "
        "count and judge accounting when the run recorded them, and older files it superseded.",
        ["checkpoint", "task", "file", "date", "n", "errors", "judge", "superseded"],
        rows,
    )
