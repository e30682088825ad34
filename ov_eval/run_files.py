"""The files one ``ov-eval run`` shares between its processes: names, locations, atomic writes.

``ov-eval run`` starts lmms-eval (one process, or one per rank under ``accelerate launch``) and
reads back what the adapter and the judge wrote there, then folds it into lmms-eval's results
file. Both sides meet only through the names below, so they are defined once, here:

* ``ERROR_LOG_DIR_ENV``: a per-invocation directory where every rank writes
  ``ov_eval_errors_rank<r>.jsonl`` (failed samples) and ``ov_eval_adapter_settings_rank<r>.json``
  (the adapter's effective settings, for provenance);
* ``JUDGE_ACCOUNTING_DIR_ENV``: where the judge writes its per-task accounting;
* ``LOCK_NAME``: the lock file that keeps a second run out of a busy ``--output_path``;
* ``results["ov_eval"]``: our section of lmms-eval's results file (``update_ov_eval_section``
  writes it, ``ov_eval_section`` reads it; errors, judge accounting, provenance).

Every file another process may read while it is being written goes through ``atomic_write_text``
(write a temporary file beside it, then rename): a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ERROR_LOG_DIR_ENV = "OV_EVAL_ERROR_LOG_DIR"
JUDGE_ACCOUNTING_DIR_ENV = "OV_EVAL_JUDGE_ACCOUNTING_DIR"
LOCK_NAME = ".ov_eval_run.lock"
SECTION = "ov_eval"


def error_log_name(rank: int | str) -> str:
    """One rank's failed-sample log (JSON lines) in ``ERROR_LOG_DIR_ENV``; ``rank="*"`` is the glob."""
    return f"ov_eval_errors_rank{rank}.jsonl"


def adapter_settings_name(rank: int | str) -> str:
    """One rank's effective adapter settings in ``ERROR_LOG_DIR_ENV``; ``rank="*"`` is the glob."""
    return f"ov_eval_adapter_settings_rank{rank}.json"


def rank_of(path: Path, name_for_rank=error_log_name) -> int:
    """The rank a per-rank file belongs to (inverse of the ``*_name`` functions)."""
    prefix, suffix = name_for_rank("|").split("|")
    return int(path.name.removeprefix(prefix).removesuffix(suffix))


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename; the temporary name is unique per process."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Any, **dumps_kwargs: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, default=str, **dumps_kwargs))


def ov_eval_section(results: dict[str, Any]) -> dict[str, Any]:
    """Our section of a loaded lmms-eval results file (empty for a plain lmms-eval run)."""
    return results.get(SECTION) or {}


def update_ov_eval_section(results_path: Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into ``results["ov_eval"]`` of one results file (atomic rewrite); returns the
    section. The only writer of that section."""
    results = json.loads(Path(results_path).read_text())
    section = results.setdefault(SECTION, {})
    section.update(updates)
    atomic_write_json(Path(results_path), results, indent=2)
    return section
