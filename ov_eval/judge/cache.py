"""On-disk judge cache (SQLite): a rerun of the same judgments costs zero API calls.

Key = sha256 of the canonical JSON of (judge model, full message list, sampling
parameters). The endpoint is deliberately NOT part of the key: the same model
asked the same thing is the same judgment whether it was reached through the
OpenAI API or a proxy. Only parsable answers are stored (a malformed answer is
retried, never replayed). SQLite in WAL mode with a busy timeout, one short-lived
connection per operation, so judge threads and data-parallel ranks can share a file.

The cache is an optimisation: a damaged file (truncated, overwritten) is moved aside
with a warning naming it and a fresh one started, at open or when a read or write
first hits the damage. It costs judge calls, never the run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from ov_eval import sqlite_health

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    content TEXT NOT NULL,
    model_used TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created REAL NOT NULL
)
"""


def cache_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """Stable key for one judge request (dict order and whitespace-insensitive JSON)."""
    payload = json.dumps(
        {"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    content: str
    model_used: str | None
    prompt_tokens: int
    completion_tokens: int


class JudgeCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        warning = sqlite_health.set_aside_if_damaged(self.path, "judge cache")
        if warning:
            logger.warning(f"[ov-eval judge] {warning}")
        self._create()

    def _create(self) -> None:
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Damage found mid-run: move the file aside (once; other threads may race) and start afresh."""
        if not sqlite_health.is_damage_error(exc):
            raise exc
        warning = sqlite_health.set_aside_if_damaged(self.path, "judge cache")
        logger.warning(f"[ov-eval judge] {warning or f'judge cache {self.path} failed: {exc}'}")
        self._create()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # commit on success, roll back on error
                yield db
        finally:
            db.close()

    def get(self, key: str) -> CachedAnswer | None:
        try:
            with self._connect() as db:
                row = db.execute(
                    "SELECT content, model_used, prompt_tokens, completion_tokens FROM judgments WHERE key = ?",
                    (key,),
                ).fetchone()
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            return None
        return CachedAnswer(row[0], row[1], row[2] or 0, row[3] or 0) if row else None

    def put(self, key: str, model: str, request: dict[str, Any], answer: CachedAnswer) -> None:
        try:
            self._put(key, model, request, answer)
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            self._put(key, model, request, answer)

    def _put(self, key: str, model: str, request: dict[str, Any], answer: CachedAnswer) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    json.dumps(request, sort_keys=True, ensure_ascii=False),
                    answer.content,
                    answer.model_used,
                    answer.prompt_tokens,
                    answer.completion_tokens,
                    time.time(),
                ),
            )

    def info(self) -> dict[str, Any]:
        """Entries per judge model and file size: what ``ov-eval judge cache-info`` prints."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT model, COUNT(*) FROM judgments GROUP BY model ORDER BY model"
            ).fetchall()
        return {
            "path": str(self.path),
            "entries": sum(n for _, n in rows),
            "by_model": dict(rows),
            "bytes": self.path.stat().st_size if self.path.exists() else 0,
        }

    def clear(self, model: str | None = None) -> int:
        """Delete all entries (or one judge model's); returns how many were removed."""
        with self._connect() as db:
            if model is None:
                removed = db.execute("DELETE FROM judgments").rowcount
            else:
                removed = db.execute("DELETE FROM judgments WHERE model = ?", (model,)).rowcount
        with self._connect() as db:
            db.execute("VACUUM")
        return removed
