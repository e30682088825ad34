"""The report's numbers: run vs paper per cell, and OV minus SI per benchmark and modality.

Pure functions over :mod:`reference` and :mod:`runs` data, so the golden tests can check every
number against hand arithmetic without rendering anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import mean

from ov_eval import fidelity
from ov_eval.report import samples, stats
from ov_eval.report.reference import MODALITIES, PAPER_CHECKPOINTS, PaperColumn
from ov_eval.report.runs import Resolved, split_checkpoint
from ov_eval.report.stats import Estimate

NOT_RUN = "not run"
NO_SCORE = "no score"  # the task ran but its metric is absent or null (e.g. server-scored test splits)
NOT_COMPARABLE = "not comparable"  # the paper measured something else (fidelity card: subset, ...)
NO_PAPER = "no paper value"
CONSISTENT = "consistent"  # the paper value lies inside the run's interval (or within the tolerance)
ABOVE = "significantly above"
BELOW = "significantly below"
# no standard error for the run: the old fixed-tolerance verdict, named so that it is not read as a test
NO_INTERVAL_OK = "within tolerance (no interval)"
NO_INTERVAL_ABOVE = "above paper (no interval)"
NO_INTERVAL_BELOW = "below paper (no interval)"
FLAGGED = (ABOVE, BELOW, NO_INTERVAL_ABOVE, NO_INTERVAL_BELOW)
NO_INTERVAL = (NO_INTERVAL_OK, NO_INTERVAL_ABOVE, NO_INTERVAL_BELOW)
MEANING = (
    f"'{CONSISTENT}': the paper value lies inside the run's 95 % interval (its sampling noise) or "
    f"within the tolerance; '{ABOVE}'/'{BELOW}': it lies outside both, so the gap is unlikely to be "
    "noise (p < 0.05). Intervals come from lmms-eval's stderr or from resampling the logged docs; "
    "cells with neither are judged by the tolerance alone and marked 'no interval'."
)


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


def run_se(
    column: PaperColumn,
    checkpoint: str,
    resolved: dict[tuple[str, str], Resolved],
    iters: int = stats.DEFAULT_ITERS,
) -> tuple[float | None, str]:
    """Standard error of :func:`run_value` (paper unit) and its source, or None and why not."""
    se, how = task_se(checkpoint, column.metric.task, column.metric.key, resolved, iters)
    return (None if se is None else se * abs(column.metric.scale)), how


def group_members(task: str, metric: str) -> tuple[list[str], bool] | None:
    """``(members, weight_by_size)`` when ``task`` is a suite group whose ``metric`` is lmms-eval's
    mean over its members (MVBench, Interleave overall); None otherwise."""
    from ov_eval.task_index import suite_configs

    config = suite_configs().get(task)
    if config is None or not config.is_group:
        return None
    for entry in config.data.get("aggregate_metric_list") or []:
        if entry.get("metric") == metric and entry.get("aggregation", "mean") == "mean":
            return config.members, bool(entry.get("weight_by_size", True))
    return None


def _pool(
    task: str, key: str, checkpoint: str, resolved: dict[tuple[str, str], Resolved], member_se: Callable
) -> tuple[float | None, str]:
    """A group's standard error from its members' (independent question sets): for the weighted
    mean sum(w·x)/sum(w), se = sqrt(sum((w·se)²)) / sum(w), w = 1 or the member's doc count."""
    group = group_members(task, key.partition(",")[0])
    if group is None:
        return None, ""
    members, by_size = group
    parts = []
    for member in members:
        hit = resolved.get((checkpoint, member))
        se, _ = member_se(member)
        if hit is None or se is None:
            return None, f"no interval for group member {member}"
        parts.append(((hit.result.n_samples or 0) if by_size else 1, se))
    total = sum(w for w, _ in parts)
    if not total:
        return None, "group members without sizes"
    return math.sqrt(sum((w * se) ** 2 for w, se in parts)) / total, f"group of {len(parts)} members"


def task_se(
    checkpoint: str, task: str, key: str, resolved: dict[tuple[str, str], Resolved], iters: int
) -> tuple[float | None, str]:
    """Standard error of one task's (or group's) metric in the stored unit, or None and why not."""
    hit = resolved.get((checkpoint, task))
    if hit is None or hit.result.metrics.get(key) is None:
        return None, ""
    se, how = samples.standard_error(
        task, key, hit.result.metrics, hit.result.aggregations, hit.run.samples.get(task), iters
    )
    if se is None:
        pooled, pooled_how = _pool(
            task, key, checkpoint, resolved, lambda m: task_se(checkpoint, m, key, resolved, iters)
        )
        if pooled is not None or pooled_how:
            return pooled, pooled_how
    return se, how


def cell_status(
    run: float | None, paper: float | None, ran: bool, tolerance: float, se: float | None, alpha: float
) -> str:
    """The verdict on one run-vs-paper cell: the one place a cell's status is decided.

    Flagged only when the gap exceeds the tolerance (a floor: tiny but "significant" gaps on
    huge benchmarks are not worth a flag) AND the paper value is outside the run's ``1 - alpha``
    interval. Without a standard error the tolerance alone decides, under a distinct name.
    """
    if run is None:
        return NO_SCORE if ran else NOT_RUN
    if paper is None:
        return NO_PAPER
    gap = run - paper
    if se is None:
        if abs(gap) <= tolerance:
            return NO_INTERVAL_OK
        return NO_INTERVAL_BELOW if gap < 0 else NO_INTERVAL_ABOVE
    if abs(gap) <= tolerance or not Estimate(run, se, "").significant(paper, alpha):
        return CONSISTENT
    return BELOW if gap < 0 else ABOVE


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
    se: float | None = None  # standard error of ``run`` in the paper's unit
    se_method: str = ""  # where ``se`` came from, or why there is none
    alpha: float = stats.DEFAULT_ALPHA

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
    def half_width(self) -> float | None:
        return None if self.se is None or self.run is None else stats.z_value(self.alpha) * self.se

    @property
    def interval(self) -> tuple[float, float] | None:
        half = self.half_width
        return None if half is None or self.run is None else (self.run - half, self.run + half)

    @property
    def z(self) -> float | None:
        """The gap in standard errors."""
        if self.gap is None or self.se is None or self.run is None:
            return None
        return Estimate(self.run, self.se, "").z(self.paper or 0.0)

    @property
    def status(self) -> str:
        if self.run is not None and not self.comparable:
            return NOT_COMPARABLE
        return cell_status(self.run, self.paper, self.ran, self.tolerance, self.se, self.alpha)

    @property
    def flagged(self) -> bool:
        return self.status in FLAGGED


def compare(
    reference: list[PaperColumn],
    resolved: dict[tuple[str, str], Resolved],
    tolerance_pct: float = 1.0,
    iters: int = stats.DEFAULT_ITERS,
    alpha: float = stats.DEFAULT_ALPHA,
) -> list[Cell]:
    """Every paper cell for every checkpoint that has results, in table order.

    The tolerance is ``tolerance_pct`` % of the unit's full range (1 → 1 accuracy point,
    0.05 on a 0-5 GPT score, 8 MME-cognition points); ``iters`` resamples per standard error
    computed from samples; ``alpha`` the significance level of a flag.
    """
    checkpoints = sorted({checkpoint for checkpoint, _ in resolved}, key=_checkpoint_order)
    cells = []
    for checkpoint in checkpoints:
        row = paper_row(checkpoint)
        for column in reference:
            if column.table == 2 and (row is None or row.endswith("-si")):
                continue  # Table 2 has no SI rows; Tables 3-5 already hold every benchmark
            se, se_method = run_se(column, checkpoint, resolved, iters)
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
                    se=se,
                    se_method=se_method,
                    alpha=alpha,
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
    si_se: float | None = None  # standard errors of the two runs' values (error bars)
    ov_se: float | None = None
    se: float | None = None  # standard error of ``delta`` (paired over shared docs when both logged samples)
    se_method: str = ""
    alpha: float = stats.DEFAULT_ALPHA

    @property
    def delta(self) -> float | None:
        return None if self.si is None or self.ov is None else self.ov - self.si

    @property
    def half_width(self) -> float | None:
        return None if self.se is None or self.delta is None else stats.z_value(self.alpha) * self.se

    @property
    def significant(self) -> bool | None:
        """The delta's interval excludes 0; None without an interval."""
        if self.se is None or self.delta is None:
            return None
        return Estimate(self.delta, self.se, "").significant(0.0, self.alpha)

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


def delta_se(
    column: PaperColumn,
    first: str,
    second: str,
    resolved: dict[tuple[str, str], Resolved],
    iters: int = stats.DEFAULT_ITERS,
) -> tuple[float | None, str]:
    """Standard error of ``second − first`` (paper unit) for one measure of two checkpoints.

    Paired over the docs both runs logged when both have samples (the same questions, so their
    shared difficulty cancels), else the two stderrs in quadrature, else None and why. A group's
    change pools its members' changes.
    """
    se, how = _task_delta_se(column.metric.task, column.metric.key, first, second, resolved, iters)
    return (None if se is None else se * abs(column.metric.scale)), how


def _task_delta_se(
    task: str, key: str, first: str, second: str, resolved: dict[tuple[str, str], Resolved], iters: int
) -> tuple[float | None, str]:
    hits = [resolved.get((c, task)) for c in (first, second)]
    if any(h is None or h.result.metrics.get(key) is None for h in hits):
        return None, ""
    metric = key.partition(",")[0]
    got = [samples.scores(task, metric, h.run.samples.get(task), h.result.aggregations) for h in hits]
    if not any(isinstance(g, str) for g in got):
        est = samples.paired(got[1], got[0], iters)
        if not isinstance(est, str):
            return est.se, est.method
    if group_members(task, metric) is not None:
        pooled, how = _pool(
            task, key, second, resolved, lambda m: _task_delta_se(m, key, first, second, resolved, iters)
        )
        if pooled is not None:
            return pooled, how
    ses = [task_se(c, task, key, resolved, iters)[0] for c in (first, second)]
    if ses[0] is None or ses[1] is None:
        return None, "no interval for " + " and ".join(
            c for c, se in zip((first, second), ses, strict=True) if se is None
        )
    return math.hypot(ses[0], ses[1]), "independent stderrs"


def si_vs_ov(
    reference: list[PaperColumn],
    resolved: dict[tuple[str, str], Resolved],
    paper_only: bool = False,
    iters: int = stats.DEFAULT_ITERS,
    alpha: float = stats.DEFAULT_ALPHA,
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
            se, se_method = (None, "") if paper_only else delta_se(column, si, ov, resolved, iters)
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
                    si_se=None if paper_only else run_se(column, si, resolved, iters)[0],
                    ov_se=None if paper_only else run_se(column, ov, resolved, iters)[0],
                    se=se,
                    se_method=se_method,
                    alpha=alpha,
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
    se: float | None = None  # of mean_delta, when every benchmark in it has one (independent benchmarks)
    alpha: float = stats.DEFAULT_ALPHA

    @property
    def half_width(self) -> float | None:
        return None if self.se is None else stats.z_value(self.alpha) * self.se

    @property
    def significant(self) -> bool | None:
        if self.se is None or self.mean_delta is None:
            return None
        return Estimate(self.mean_delta, self.se, "").significant(0.0, self.alpha)


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
            with_se = [Estimate(d.delta, d.se, "") for d in rows if d.delta is not None and d.se is not None]
            pooled = stats.mean_of(with_se) if run and len(with_se) == len(run) else None
            out.append(
                ModalitySummary(
                    size=size,
                    modality=modality,
                    mean_delta=mean(run) if run else None,
                    benchmarks=len(run),
                    paper_mean_delta=mean(paper) if paper else None,
                    paper_benchmarks=len(paper),
                    se=None if pooled is None else pooled.se,
                    alpha=rows[0].alpha if rows else stats.DEFAULT_ALPHA,
                )
            )
    return out


def _percent(unit: str) -> bool:
    return "%" in unit or "0-100" in unit
