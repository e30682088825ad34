"""SQLite history of tracked runs, for trends and regression gates across checkpoints.

One row per (label, source file, task, metric): re-tracking the same results file under the
same label replaces its rows instead of duplicating them, so ``ov-eval track`` is idempotent.
Values are stored in the paper's unit (via the metric map) so that ``--max-drop 1.0`` means
one accuracy point everywhere; tasks without a paper measure are stored raw.

A damaged history file is moved aside (``<db>.damaged-<time>``, named in a warning on
stderr) and a fresh one started: tracking goes on; the old scores can be re-tracked from
their results files.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ov_eval import sqlite_health
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
  PRIMARY KEY (run_id, measure)
);
"""
_BY_TASK_KEY = {(m.task, m.key): (name, m.scale) for name, m in MEASURES.items()}


def connect(db: Path) -> sqlite3.Connection:
    warning = sqlite_health.set_aside_if_damaged(db, "history database")
    if warning:
        print(f"ov-eval: warning: {warning}; re-track earlier runs to restore their scores", file=sys.stderr)
    con = sqlite3.connect(str(db))
    con.execute("PRAGMA foreign_keys = ON")
    con.executescript(SCHEMA)
    return con


def track(
    con: sqlite3.Connection, run: Run, label: str, step: str | None = None, commit: str | None = None
) -> int:
    """Store ``run`` under ``label``; returns the number of scores stored."""
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
                rows.append((run_id, task, measure, key, value * scale, result.n_samples))
        con.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?)", rows)
    return len(rows)


@dataclass(frozen=True)
class Point:
    label: str
    checkpoint: str
    date: str
    measure: str
    value: float


def points(con: sqlite3.Connection) -> list[Point]:
    """Every tracked score in tracking order (a label tracked from several files: newest date wins)."""
    rows = con.execute(
        """SELECT r.label, r.checkpoint, r.date, s.measure, s.value FROM scores s JOIN runs r ON r.id = s.run_id
           ORDER BY r.id"""
    ).fetchall()
    latest: dict[tuple[str, str], Point] = {}
    for label, checkpoint, date, measure, value in rows:
        key = (label, measure)
        if key not in latest or date >= latest[key].date:
            latest[key] = Point(label, checkpoint, date, measure, value)
    return list(latest.values())


def labels(con: sqlite3.Connection) -> list[str]:
    return [row[0] for row in con.execute("SELECT label FROM runs GROUP BY label ORDER BY MIN(id)")]


@dataclass(frozen=True)
class Regression:
    measure: str
    baseline: float
    candidate: float

    @property
    def change(self) -> float:
        return self.candidate - self.baseline


def compare_labels(con: sqlite3.Connection, baseline: str, candidate: str) -> list[Regression]:
    """Change of every measure both labels have (all paper measures are higher-is-better)."""
    known = labels(con)
    for name in (baseline, candidate):
        if name not in known:
            raise KeyError(f"label {name!r} is not in the history (tracked: {', '.join(known) or 'none'})")
    values: dict[str, dict[str, float]] = {}
    for p in points(con):
        values.setdefault(p.label, {})[p.measure] = p.value
    base, cand = values.get(baseline, {}), values.get(candidate, {})
    return [Regression(m, base[m], cand[m]) for m in sorted(base.keys() & cand.keys())]
