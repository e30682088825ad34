"""Damaged SQLite state (judge cache, run history) costs recomputation, never the run.

The files are damaged the way disks and users damage them (truncated, overwritten with other
bytes) and checked with plain ``sqlite3`` afterwards, independently of ov-eval's code.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from loguru import logger
from report_helpers import write_results

from ov_eval import sqlite_health
from ov_eval.cli import main
from ov_eval.judge.cache import CachedAnswer, JudgeCache


@pytest.fixture
def warnings():
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    yield messages
    logger.remove(sink)


def _fill_judge_cache(path: Path, n: int = 200) -> None:
    cache = JudgeCache(path)
    for i in range(n):
        cache.put(f"k{i}", "judge", {"i": i}, CachedAnswer("x" * 200, "judge", 1, 1))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_judge_cache_is_moved_aside_and_judging_goes_on(tmp_path, warnings, damage):
    path = tmp_path / "judge.sqlite"
    _fill_judge_cache(path)
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    if damage == "truncated":
        _truncate(path)
    else:
        path.write_bytes(b"this is not a database, it is a log file\n" * 200)
    cache = JudgeCache(path)  # used to raise sqlite3.DatabaseError, naming no file
    assert cache.get("k1") is None  # the entries are gone: they cost calls, not the run
    cache.put("new", "judge", {}, CachedAnswer("y", None, 0, 0))
    assert cache.get("new") == CachedAnswer("y", None, 0, 0)
    aside = [p for p in tmp_path.glob("judge.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1
    assert any(str(path) in m and str(aside[0]) in m for m in warnings)


def test_damage_found_mid_run_is_recovered_on_the_next_read(tmp_path, warnings):
    path = tmp_path / "judge.sqlite"
    cache = JudgeCache(path)
    _fill_judge_cache(path)
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    path.write_bytes(b"\0garbage" * 1000)
    assert cache.get("k3") is None
    cache.put("k3", "judge", {}, CachedAnswer("z", None, 0, 0))
    assert cache.get("k3").content == "z"
    assert list(tmp_path.glob("judge.sqlite.damaged-*"))


def test_a_locked_database_is_not_called_damaged(tmp_path):
    path = tmp_path / "busy.sqlite"
    _fill_judge_cache(path, n=3)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert sqlite_health.damage(path) is None
    finally:
        holder.execute("ROLLBACK")
    assert path.exists() and not list(tmp_path.glob("*.damaged-*"))


def test_a_damaged_history_db_is_moved_aside_and_tracking_goes_on(tmp_path, capsys):
    run = write_results(
        tmp_path / "run",
        "llava-hf/llava-onevision-qwen2-7b-ov-hf",
        "20260101_000000",
        {"ov_ai2d": {"exact_match,flexible-extract": 0.8}},
    )
    db = tmp_path / "history.sqlite"
    db.write_bytes(b"SQLite format 3\0" + b"\xff" * 5000)  # a header, then junk
    assert main(["track", str(run), "--label", "a", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "history database" in err and str(db) in err and "damaged" in err
    rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert rows == 1 and list(tmp_path.glob("history.sqlite.damaged-*"))
