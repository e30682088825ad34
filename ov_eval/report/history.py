"""SQLite history of tracked runs, for trends and regression gates across checkpoints.

One row per (label, source file, task, metric): re-tracking the same results file under the
same label replaces its rows instead of duplicating them, so ``ov-eval track`` is idempotent.
Values are stored in the paper's unit (via the metric map) so that ``--max-drop 1.0`` means
one accuracy point everywhere; tasks without a paper measure are stored raw. Each score keeps
its standard error (same unit) and the samples file it can be re-derived from, so that the gate
can ask whether a drop is larger than noise, paired over shared docs where both runs logged them.

A damaged history file is moved aside (``<db>.damaged-<time>``, named in a warning on
stderr) and a fresh one started: tracking goes on; the old scores can be re-tracked from
their results files.
"""

from __future__ import annotations

import math
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ov_eval import sqlite_health
from ov_eval.report import samples, stats
from ov_eval.report.metric_map import MEASURES
from ov_eval.report.runs import Run

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  label TEXT NOT NULL,
  step TEXT,
  checkpoint TEXT NOT NULL,
  git_commit TEXT,
  date TEXT NOT NULL,
  source TEXT NOT NULL,
  tracked_at TEXT NOT NULL,
  UNIQUE(label, source)
);
CREATE TABLE IF NOT EXISTS scores (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  task TEXT NOT NULL,
  measure TEXT NOT NULL,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  n_samples INTEGER,
  se REAL,
  samples TEXT,
  aggregation TEXT,
  scale REAL,
  PRIMARY KEY (run_id, measure)
);
"""
# columns added after the first release: older history files get them (NULL) on connect
_ADDED_COLUMNS = {"se": "REAL", "samples": "TEXT", "aggregation": "TEXT", "scale": "REAL"}
_BY_TASK_KEY = {(m.task, m.key): (name, m.scale) for name, m in MEASURES.items()}


def connect(db: Path) -> sqlite3.Connection:
    warning = sqlite_health.set_aside_if_damaged(db, "history database")
    if warning:
        print(f"ov-eval: warning: {warning}; re-track earlier runs to restore their scores", file=sys.stderr)
    con = sqlite3.connect(str(db))
    con.execute("PRAGMA foreign_keys = ON")
    con.executescript(SCHEMA)
    have = {row[1] for row in con.execute("PRAGMA table_info(scores)")}
    with con:
        for name, kind in _ADDED_COLUMNS.items():
            if name not in have:
                con.execute(f"ALTER TABLE scores ADD COLUMN {name} {kind}")
    return con


def track(
    con: sqlite3.Connection,
    run: Run,
    label: str,
    step: str | None = None,
    commit: str | None = None,
    iters: int = stats.DEFAULT_ITERS,
) -> int:
    """Store ``run`` under ``label`` with each score's standard error; returns the number stored."""
    with con:
        con.execute("DELETE FROM runs WHERE label = ? AND source = ?", (label, str(run.path)))
        cur = con.execute(
            "INSERT INTO runs (label, step, checkpoint, git_commit, date, source, tracked_at) VALUES (?,?,?,?,?,?,?)",
            (label, step, run.checkpoint, commit or run.git_hash, run.date, str(run.path),
             datetime.now(timezone.utc).isoformat(timespec="seconds")),
        )  # fmt: skip
        run_id = cur.lastrowid
        rows = []
        for task, result in run.tasks.items():
            for key, value in result.metrics.items():
                if value is None or "_stderr" in key:
                    continue
                measure, scale = _BY_TASK_KEY.get((task, key), (f"{task}:{key}", 1.0))
                path = run.samples.get(task)
                paper = (task, key) in _BY_TASK_KEY  # only paper measures re-run a task's aggregation
                se, _ = samples.standard_error(
                    task, key, result.metrics, result.aggregations, path, iters, paper
                )
                rows.append((run_id, task, measure, key, value * scale, result.n_samples,
                             None if se is None else se * abs(scale), None if path is None else str(path),
                             result.aggregations.get(key.partition(",")[0]), scale))  # fmt: skip
        con.executemany(
            "INSERT OR REPLACE INTO scores (run_id, task, measure, metric, value, n_samples, se, samples, "
            "aggregation, scale) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    return len(rows)


@dataclass(frozen=True)
class Point:
    label: str
    checkpoint: str
    date: str
    measure: str
    value: float
    se: float | None = None  # standard error, paper unit
    task: str = ""
    metric: str = ""
    samples: str | None = None  # samples file the value can be re-derived from
    aggregation: str | None = None
    scale: float = 1.0

    def scores(self) -> samples.Scores | str:
        """Per-doc values behind this point (for a paired test), or why they are unavailable."""
        path = Path(self.samples) if self.samples else None
        if path is not None and not path.is_file():
            return f"samples file {path} is gone"
        metric = self.metric.partition(",")[0]
        aggregations = {metric: self.aggregation} if self.aggregation else {}
        paper = ":" not in self.measure  # non-paper metrics are stored as "task:key"
        return samples.scores(self.task, metric, path, aggregations, functions=paper)


def points(con: sqlite3.Connection) -> list[Point]:
    """Every tracked score in tracking order (a label tracked from several files: newest date wins)."""
    rows = con.execute(
        """SELECT r.label, r.checkpoint, r.date, s.measure, s.value, s.se, s.task, s.metric, s.samples,
                  s.aggregation, s.scale FROM scores s JOIN runs r ON r.id = s.run_id ORDER BY r.id"""
    ).fetchall()
    latest: dict[tuple[str, str], Point] = {}
    for label, checkpoint, date, measure, value, se, task, metric, path, agg, scale in rows:
        key = (label, measure)
        if key not in latest or date >= latest[key].date:
            latest[key] = Point(label, checkpoint, date, measure, value, se, task, metric, path, agg,
                                1.0 if scale is None else scale)  # fmt: skip
    return list(latest.values())


def labels(con: sqlite3.Connection) -> list[str]:
    return [row[0] for row in con.execute("SELECT label FROM runs GROUP BY label ORDER BY MIN(id)")]


@dataclass(frozen=True)
class Regression:
    measure: str
    baseline: float
    candidate: float
    base_point: Point | None = None
    cand_point: Point | None = None

    @property
    def change(self) -> float:
        return self.candidate - self.baseline

    def change_estimate(self, iters: int = stats.DEFAULT_ITERS) -> stats.Estimate | str:
        """The change with its standard error: paired over shared docs when both points have
        samples, else from the two stored standard errors; else why there is none."""
        b, c = self.base_point, self.cand_point
        if b is None or c is None:
            return "no points"
        got = [b.scores(), c.scores()]
        if not any(isinstance(g, str) for g in got):
            est = samples.paired(got[1], got[0], iters)
            if not isinstance(est, str):
                return stats.Estimate(self.change, est.se * abs(c.scale), est.method)
        if b.se is None or c.se is None:
            return "no standard error for " + " and ".join(p.label for p in (b, c) if p.se is None)
        return stats.Estimate(self.change, math.hypot(b.se, c.se), "independent stderrs")


def _values(
    con: sqlite3.Connection, baseline: str, candidate: str
) -> tuple[dict[str, Point], dict[str, Point]]:
    known = labels(con)
    for name in (baseline, candidate):
        if name not in known:
            raise KeyError(f"label {name!r} is not in the history (tracked: {', '.join(known) or 'none'})")
    values: dict[str, dict[str, Point]] = {}
    for p in points(con):
        values.setdefault(p.label, {})[p.measure] = p
    return values.get(baseline, {}), values.get(candidate, {})


def compare_labels(con: sqlite3.Connection, baseline: str, candidate: str) -> list[Regression]:
    """Change of every measure both labels have (all paper measures are higher-is-better)."""
    base, cand = _values(con, baseline, candidate)
    return [
        Regression(m, base[m].value, cand[m].value, base[m], cand[m])
        for m in sorted(base.keys() & cand.keys())
    ]


def missing_in(con: sqlite3.Connection, baseline: str, candidate: str) -> list[str]:
    """Measures the baseline scored and the candidate did not (not run, or no score): a gate failure,
    since a benchmark that silently stopped producing a number must not pass as "no drop"."""
    base, cand = _values(con, baseline, candidate)
    return sorted(base.keys() - cand.keys())
