"""The report's numbers: run vs paper per cell, and OV minus SI per benchmark and modality.

Pure functions over :mod:`reference` and :mod:`runs` data, so the golden tests can check every
number against hand arithmetic without rendering anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import mean

from ov_eval import fidelity
from ov_eval.report.reference import MODALITIES, PAPER_CHECKPOINTS, PaperColumn
from ov_eval.report.runs import Resolved, split_checkpoint

NOT_RUN = "not run"
NO_SCORE = "no score"  # the task ran but its metric is absent or null (e.g. server-scored test splits)
NOT_COMPARABLE = "not comparable"  # the paper measured something else (fidelity card: subset, ...)


def paper_row(checkpoint: str) -> str | None:
    """The paper row a checkpoint label corresponds to (``7b-ov-step2000`` → ``7b-ov``), if any."""
    if checkpoint in PAPER_CHECKPOINTS:
        return checkpoint
    size, stage = split_checkpoint(checkpoint)
    key = f"{size}-{stage}"
    return key if stage and key in PAPER_CHECKPOINTS else None


def run_value(
    column: PaperColumn, checkpoint: str, resolved: dict[tuple[str, str], Resolved]
) -> float | None:
    """The run's value in the paper's unit, or None when the task (or its metric) is absent."""
    hit = resolved.get((checkpoint, column.metric.task))
    if hit is None:
        return None
    raw = hit.result.metrics.get(column.metric.key)
    return None if raw is None else raw * column.metric.scale


@dataclass(frozen=True)
class Cell:
    """One run number next to the paper's number for the same table cell."""

    table: int
    column: str
    split: str
    unit: str
    modality: str
    measure: str
    checkpoint: str
    paper: float | None
    run: float | None
    tolerance: float
    ran: bool = True  # the task is in the results (its value may still be missing: NO_SCORE)

    @property
    def comparable(self) -> bool:
        """False when the task's fidelity card says this paper cell measured something else."""
        return fidelity.not_comparable(self.measure, paper_row(self.checkpoint)) is None

    @property
    def gap(self) -> float | None:
        if self.run is None or self.paper is None or not self.comparable:
            return None
        return self.run - self.paper

    @property
    def status(self) -> str:
        if self.run is None:
            return NO_SCORE if self.ran else NOT_RUN
        if not self.comparable:
            return NOT_COMPARABLE
        if self.gap is None:
            return "no paper value"
        if abs(self.gap) <= self.tolerance:
            return "ok"
        return "below paper" if self.gap < 0 else "above paper"

    @property
    def flagged(self) -> bool:
        return self.status in ("below paper", "above paper")


def compare(
    reference: list[PaperColumn],
    resolved: dict[tuple[str, str], Resolved],
    tolerance_pct: float = 1.0,
) -> list[Cell]:
    """Every paper cell for every checkpoint that has results, in table order.

    The tolerance is ``tolerance_pct`` % of the unit's full range (1 → 1 accuracy point,
    0.05 on a 0-5 GPT score, 8 MME-cognition points).
    """
    checkpoints = sorted({checkpoint for checkpoint, _ in resolved}, key=_checkpoint_order)
    cells = []
    for checkpoint in checkpoints:
        row = paper_row(checkpoint)
        for column in reference:
            if column.table == 2 and (row is None or row.endswith("-si")):
                continue  # Table 2 has no SI rows; Tables 3-5 already hold every benchmark
            cells.append(
                Cell(
                    table=column.table,
                    column=column.column,
                    split=column.split,
                    unit=column.unit,
                    modality=column.modality,
                    measure=column.measure,
                    checkpoint=checkpoint,
                    paper=column.values.get(row) if row else None,
                    run=run_value(column, checkpoint, resolved),
                    ran=(checkpoint, column.metric.task) in resolved,
                    tolerance=tolerance_pct / 100 * column.range,
                )
            )
    return cells


def _checkpoint_order(checkpoint: str) -> tuple[int, str, str, str]:
    """Paper rows in the paper's order, then other checkpoints by size with SI before OV."""
    row = paper_row(checkpoint)
    if row:
        return (PAPER_CHECKPOINTS.index(row), "", "", checkpoint)
    size, stage = split_checkpoint(checkpoint)
    return (len(PAPER_CHECKPOINTS), size, {"si": "0", "ov": "1"}.get(stage or "", "2"), checkpoint)


@dataclass(frozen=True)
class Delta:
    """OV minus SI for one benchmark and model size, from the runs and from the paper."""

    size: str
    table: int
    column: str
    split: str
    unit: str
    modality: str
    measure: str
    si: float | None
    ov: float | None
    paper_si: float | None
    paper_ov: float | None

    @property
    def delta(self) -> float | None:
        return None if self.si is None or self.ov is None else self.ov - self.si

    @property
    def paper_delta(self) -> float | None:
        return None if self.paper_si is None or self.paper_ov is None else self.paper_ov - self.paper_si


def pairs(checkpoints: list[str]) -> list[tuple[str, str, str]]:
    """``(size, si_checkpoint, ov_checkpoint)`` for every size with both stages present."""
    by_size: dict[str, dict[str, str]] = {}
    for checkpoint in checkpoints:
        size, stage = split_checkpoint(checkpoint)
        if stage:
            by_size.setdefault(size, {}).setdefault(stage, checkpoint)
    return [(size, s["si"], s["ov"]) for size, s in by_size.items() if {"si", "ov"} <= s.keys()]


def si_vs_ov(
    reference: list[PaperColumn], resolved: dict[tuple[str, str], Resolved], paper_only: bool = False
) -> list[Delta]:
    """OV−SI per benchmark of Tables 3-5 (Table 2 has no SI rows) for each paired size.

    ``paper_only``: the paper's own SI→OV changes for 0.5b/7b/72b (the ``--paper`` report).
    """
    checkpoints = sorted({c for c, _ in resolved})
    size_pairs = (
        [(s, f"{s}-si", f"{s}-ov") for s in ("0.5b", "7b", "72b")] if paper_only else pairs(checkpoints)
    )
    deltas = []
    for size, si, ov in size_pairs:
        for column in (c for c in reference if c.table != 2):
            deltas.append(
                Delta(
                    size=size,
                    table=column.table,
                    column=column.column,
                    split=column.split,
                    unit=column.unit,
                    modality=column.modality,
                    measure=column.measure,
                    si=None if paper_only else run_value(column, si, resolved),
                    ov=None if paper_only else run_value(column, ov, resolved),
                    paper_si=column.values.get(paper_row(si) or ""),
                    paper_ov=column.values.get(paper_row(ov) or ""),
                )
            )
    return deltas


@dataclass(frozen=True)
class ModalitySummary:
    size: str
    modality: str
    mean_delta: float | None  # mean OV−SI over benchmarks with both runs, in points (% units only)
    benchmarks: int
    paper_mean_delta: float | None
    paper_benchmarks: int


def by_modality(deltas: list[Delta]) -> list[ModalitySummary]:
    """Mean OV−SI per size and modality, over benchmarks scored in percent.

    MME (raw sums) and 0-5 GPT scores are left out of the mean: averaging them with
    percentages would let MME's scale dominate; they still appear per benchmark.
    """
    out = []
    for size in dict.fromkeys(d.size for d in deltas):
        for modality in MODALITIES:
            rows = [d for d in deltas if d.size == size and d.modality == modality and _percent(d.unit)]
            run = [d.delta for d in rows if d.delta is not None]
            paper = [d.paper_delta for d in rows if d.paper_delta is not None]
            out.append(
                ModalitySummary(
                    size=size,
                    modality=modality,
                    mean_delta=mean(run) if run else None,
                    benchmarks=len(run),
                    paper_mean_delta=mean(paper) if paper else None,
                    paper_benchmarks=len(paper),
                )
            )
    return out


def _percent(unit: str) -> bool:
    return "%" in unit or "0-100" in unit
