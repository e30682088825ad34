"""Per-sample failures: recorded with the doc and the cause, never allowed to kill the run.

A corrupt video at hour 9 of a paper reproduction must cost one sample, not the
run. The adapter raises ``SampleError`` wherever a single sample cannot be served
(decode, preprocess, prompt, out-of-memory at batch size 1), catches it at the
sample boundary, logs it, and keeps it in ``ErrorLog`` so the run's summary and
``<output>/ov_eval_errors_rank<r>.jsonl`` list every failure.
"""

from __future__ import annotations

import json
import numbers
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loguru import logger

# What the adapter answers for a sample it could not serve; lmms-eval's scoring then skips the doc
# (ov_eval.lmms_patches.failed_samples) and the response cache never stores it (ov_eval.lmms_patches.resume).
ERROR_MARKER = "[ov-eval sample error]"
FAILED_LOGLIKELIHOOD = (float("inf"), False)


class SampleError(Exception):
    """One sample (``where`` = "task/split/doc_id") cannot be answered, for the reason in ``cause``."""

    def __init__(self, where: str, cause: str):
        super().__init__(f"{where}: {cause}")
        self.where = where
        self.cause = cause


@dataclass(frozen=True)
class ErrorRecord:
    task: str
    split: str
    doc_id: int
    request_type: str
    cause: str


class ErrorLog:
    """Collects ``ErrorRecord``s for one model instance; appends each to a JSONL file as it happens."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.records: list[ErrorRecord] = []
        self.path = Path(path) if path else None
        self._lock = threading.Lock()

    def add(self, record: ErrorRecord) -> None:
        logger.error(
            f"[ov-eval] sample failed: task={record.task} doc_id={record.doc_id} ({record.request_type}): {record.cause}"
        )
        with self._lock:
            self.records.append(record)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as fh:
                    fh.write(json.dumps(asdict(record)) + "\n")


def is_loss_pair(output: Any) -> bool:
    """True for the ``(loss, is_greedy)`` pair a loglikelihood request returns."""
    return (
        isinstance(output, (tuple, list))
        and len(output) == 2
        and isinstance(output[0], numbers.Real)
        and not isinstance(output[0], bool)
        and isinstance(output[1], (bool, int))
    )


def is_failed_response(value: Any) -> bool:
    """True for what our models return when a sample could not be answered."""
    if isinstance(value, str):
        return value.startswith(ERROR_MARKER)
    if is_loss_pair(value):
        return float(value[0]) == float("inf")
    if isinstance(value, (list, tuple)):  # multi-round answers, multiple-choice result lists
        return any(is_failed_response(v) for v in value)
    return False
