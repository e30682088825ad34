"""Damaged SQLite files (response cache, judge cache, run history): detect them and move them aside.

Every SQLite file ov-eval keeps is either an optimisation (caches) or rebuildable
(history). A truncated or overwritten one must cost recomputation, never the run,
and must not fail the same way on every rerun. So a damaged file is renamed to
``<name>.damaged-<time>`` (with its ``-wal``/``-shm``/``-journal`` companions, which
belong to it) and the caller starts a fresh one; the message names both paths.

"Damaged" means SQLite reports corruption ("malformed", "not a database", a failed
``quick_check``). A *locked* or *busy* database is not damaged: it belongs to another
process and is never touched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

_DAMAGE_WORDS = ("malformed", "not a database", "file is encrypted", "corrupt", "disk image")
_COMPANIONS = ("-wal", "-shm", "-journal")


def is_damage_error(exc: BaseException) -> bool:
    """True for SQLite errors that mean the file is corrupt (not locked, not missing)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    text = str(exc).lower()
    return any(word in text for word in _DAMAGE_WORDS)


def damage(path: str | os.PathLike) -> str | None:
    """Why the SQLite file at ``path`` is unusable, or None when it is fine (or does not exist).

    ``PRAGMA quick_check`` reads every page once (seconds for a GB-sized cache), which is
    what finds a truncation in the middle of a table; opening alone does not.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None  # SQLite treats an empty file as an empty database
    try:
        connection = sqlite3.connect(path, timeout=30)  # read-write: a WAL file needs its -shm
        try:
            rows = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return str(exc) if is_damage_error(exc) else None
    if rows != [("ok",)]:
        return "; ".join(str(row[0]) for row in rows[:3])
    return None


def set_aside(path: str | os.PathLike) -> Path:
    """Rename a damaged database and its companion files; returns where the database went."""
    path = Path(path)
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    for suffix in ("", *_COMPANIONS):
        with contextlib.suppress(FileNotFoundError):  # no companion, or another process moved it first
            os.replace(Path(f"{path}{suffix}"), Path(f"{target}{suffix}"))
    return target


def set_aside_if_damaged(path: str | os.PathLike, what: str) -> str | None:
    """Move ``path`` aside when it is damaged; returns the one-line warning to show, else None."""
    reason = damage(path)
    if reason is None:
        return None
    target = set_aside(path)
    return (
        f"{what} {path} is damaged ({reason}); moved it to {target} and starting a fresh one "
        f"(its entries are recomputed as needed; delete {target} when done)"
    )
