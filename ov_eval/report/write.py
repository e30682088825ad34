"""``ov-eval report``'s outputs: report.md, report.html, report.csv, report.json and the PNGs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from ov_eval import fidelity
from ov_eval.report import plots
from ov_eval.report.build import Report
from ov_eval.report.compare import paper_row
from ov_eval.report.render_html import render_html
from ov_eval.report.render_md import render_markdown
from ov_eval.report.sections import sections

CSV_FIELDS = ["checkpoint", "table", "benchmark", "split", "unit", "modality", "task", "metric_key",
              "paper", "run", "gap", "tolerance", "status", "comparable", "notes",
              "se", "ci_low", "ci_high", "z", "se_source"]  # fmt: skip


def _cell_records(report: Report) -> list[dict]:
    from ov_eval.report.metric_map import MEASURES

    return [
        {
            "checkpoint": c.checkpoint,
            "table": c.table,
            "benchmark": c.column,
            "split": c.split,
            "unit": c.unit,
            "modality": c.modality,
            "task": MEASURES[c.measure].task,
            "metric_key": MEASURES[c.measure].key,
            "paper": c.paper,
            "run": c.run,
            "gap": c.gap,
            "tolerance": c.tolerance,
            "status": c.status,
            "comparable": c.comparable,  # the paper's notes and the run's deviations, from reports/fidelity.yaml
            "notes": " | ".join(fidelity.cell_notes(c.measure, paper_row(c.checkpoint))),
            "se": c.se,
            "ci_low": None if c.interval is None else c.interval[0],
            "ci_high": None if c.interval is None else c.interval[1],
            "z": c.z if c.z is None or math.isfinite(c.z) else None,  # se 0 and a gap: JSON has no inf
            "se_source": c.se_method,
        }
        for c in report.cells
    ]


def csv_safe(record: dict) -> dict:
    """Text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first)
    get a leading apostrophe; numbers stay numbers."""
    return {
        k: "'" + v if isinstance(v, str) and v.startswith(("=", "+", "-", "@", "\t", "\r")) else v
        for k, v in record.items()
    }


def write_report(
    report: Report, out: Path, title: str = "LLaVA-OneVision evaluation report", banner: str = ""
) -> dict[str, Path]:
    """Write every output into ``out``; returns name → path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    use_paper = report.paper_only
    images = {
        "si_vs_ov.png": plots.si_vs_ov_bars(report.deltas, out / "si_vs_ov.png", use_paper),
        "ov_minus_si.png": plots.delta_chart(report.deltas, out / "ov_minus_si.png", use_paper),
    }
    if not report.paper_only:
        images["gap_vs_paper.png"] = plots.gap_chart(report.cells, out / "gap_vs_paper.png")
    blocks = sections(report, images)
    text = render_markdown(title, blocks)
    paths = dict(images)
    paths["report.md"] = out / "report.md"
    paths["report.md"].write_text((f"> {banner}\n\n" if banner else "") + text)
    paths["report.html"] = out / "report.html"
    paths["report.html"].write_text(render_html(title, blocks, images, banner))
    records = _cell_records(report)
    paths["report.csv"] = out / "report.csv"
    with paths["report.csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(map(csv_safe, records))
    paths["report.json"] = out / "report.json"
    payload = {
        "paper_only": report.paper_only,
        "tolerance_pct": report.tolerance_pct,
        "files": [str(p) for p in report.run_files],
        "cells": records,
        "si_vs_ov": [
            {
                **{
                    k: getattr(d, k)
                    for k in (
                        "size",
                        "table",
                        "column",
                        "split",
                        "unit",
                        "modality",
                        "measure",
                        "si",
                        "ov",
                        "paper_si",
                        "paper_ov",
                    )
                },
                "delta": d.delta,
                "paper_delta": d.paper_delta,
                "se": d.se,
                "significant": d.significant,
                "se_source": d.se_method,
            }
            for d in report.deltas
        ],  # fmt: skip
        "alpha": report.alpha,
        "bootstrap_iters": report.iters,
        "by_modality": [{**vars(m), "significant": m.significant} for m in report.modalities],
        "sources": [
            {
                "checkpoint": u.checkpoint,
                "task": u.task,
                "file": str(u.path),
                "date": u.date,
                "superseded": [str(p) for p in u.superseded],
                "n_samples": u.n_samples,
                "errors": u.errors,
                "judge": u.judge,
            }
            for u in report.uses
        ],  # fmt: skip
    }
    paths["report.json"].write_text(json.dumps(payload, indent=1))
    return paths
