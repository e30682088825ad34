"""Per-task judge accounting: what judging cost and what went wrong, on disk next to the results.

Why a file per task and rank, rewritten after every judgment: ``process_results``
runs in lmms-eval's worker threads (and, with data parallelism, in several ranks),
and lmms-eval offers no hook after scoring. Rewriting a small JSON atomically keeps
the numbers right even if the run dies half-way, and needs no cross-rank messaging.

Location: ``<dir>/ov_eval_judge_<task>.json`` (``..._rank<r>.json`` when WORLD_SIZE > 1),
where ``<dir>`` is ``OV_EVAL_JUDGE_ACCOUNTING_DIR`` or else lmms-eval's ``--output_path``
(the directory that holds ``<model>/<date>_results.json``), or the working directory.
``merge_into_results`` folds them into ``results["ov_eval"]["judge"][task]``, which
``ov-eval report`` shows. Field names: calls, cache_hits, prompt_tokens,
completion_tokens, retries, failures, failures_by_reason, failed_samples.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from ov_eval.run_files import atomic_write_json, update_ov_eval_section

FILE_PREFIX = "ov_eval_judge_"


def lmms_eval_output_path(argv: list[str] | None = None) -> Path | None:
    """``--output_path`` of the running lmms-eval command (``--output_path X`` or ``--output_path=X``)."""
    argv = sys.argv if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--output_path" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--output_path="):
            return Path(arg.split("=", 1)[1])
    return None


def accounting_path(directory: Path, task: str, rank: int = 0, world_size: int = 1) -> Path:
    suffix = f"_rank{rank}" if world_size > 1 else ""
    return Path(directory) / f"{FILE_PREFIX}{task}{suffix}.json"


class TaskAccounting:
    """Counters for one task in one process; thread-safe."""

    def __init__(self, task: str, judge: str) -> None:
        self.task, self.judge = task, judge
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.calls = self.cache_hits = self.prompt_tokens = self.completion_tokens = self.retries = 0
        self.judged = 0
        self.failures: Counter[str] = Counter()
        self.failed_samples: list[dict[str, str]] = []

    def record_call(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def record_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def record_outcome(
        self, sample: str, cache_hit: bool, failure_kind: str | None, reason: str = ""
    ) -> None:
        with self._lock:
            self.judged += 1
            self.cache_hits += int(cache_hit)
            if failure_kind:
                self.failures[failure_kind] += 1
                self.failed_samples.append({"sample": sample, "kind": failure_kind, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "task": self.task,
                "judge": self.judge,
                "judged": self.judged,
                "calls": self.calls,
                "cache_hits": self.cache_hits,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "retries": self.retries,
                "failures": sum(self.failures.values()),
                "failures_by_reason": dict(self.failures),
                "failed_samples": list(self.failed_samples),
            }

    def write(self, directory: Path, rank: int = 0, world_size: int = 1) -> Path:
        # Snapshot, write and replace under one lock: lmms-eval scores docs in several threads, and a
        # thread holding an older snapshot must not replace the file after a newer one.
        path = accounting_path(directory, self.task, rank, world_size)
        with self._write_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, self.as_dict(), indent=2)
        return path


_SUMMED = ("judged", "calls", "cache_hits", "prompt_tokens", "completion_tokens", "retries", "failures")


def read_accounting(directory: Path) -> dict[str, dict[str, Any]]:
    """All tasks' accounting under ``directory``, ranks summed."""
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(directory).glob(f"{FILE_PREFIX}*.json")):
        data = json.loads(path.read_text())
        task = data["task"]
        into = merged.setdefault(
            task,
            {
                "judge": data["judge"],
                **dict.fromkeys(_SUMMED, 0),
                "failures_by_reason": {},
                "failed_samples": [],
            },
        )
        for key in _SUMMED:
            into[key] += data.get(key, 0)
        for kind, n in data.get("failures_by_reason", {}).items():
            into["failures_by_reason"][kind] = into["failures_by_reason"].get(kind, 0) + n
        into["failed_samples"] += data.get("failed_samples", [])
    return merged


def merge_into_results(results_path: Path, directory: Path) -> dict[str, dict[str, Any]]:
    """Add ``results["ov_eval"]["judge"]`` (per-task accounting) to an lmms-eval results file."""
    accounting = read_accounting(directory)
    if accounting:
        update_ov_eval_section(Path(results_path), {"judge": accounting})
    return accounting
