"""OCRBench: lmms-eval's per-sample scoring, with an accuracy that is right on any number of samples.

Per sample, lmms-eval's ``ocrbench_process_results`` is used as is (answer substring of
the prediction, case- and full-width-insensitive; spaces ignored for HME100k formulas).
Its aggregation ``ocrbench_aggregate_accuracy`` is not: it adds the hits into a
module-level dict that is never reset (a second aggregation in the same process counts
the first run's hits again) and returns ``hits / 1000``, which is an accuracy only on
the full 1000-question benchmark (``--limit`` or a fixture gives a meaningless number).
This aggregation returns ``hits / samples`` -- identical to lmms-eval's on the full set --
and rejects unknown question types (lmms-eval would raise a bare ``KeyError``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from datasets import Dataset
from lmms_eval.tasks.ocrbench.utils import OCRBench_score
from loguru import logger

from ov_eval.tasks.inputs import require_columns, require_values

# The 10 OCRBench categories, in lmms-eval's order (its score dict's keys).
QUESTION_TYPES: tuple[str, ...] = tuple(OCRBench_score)


def process_docs(dataset: Dataset) -> Dataset:
    """Check schema and question types before any model work."""
    require_columns(dataset, ("dataset", "question", "question_type", "answer", "image"), "OCRBench")
    require_values(
        dataset,
        "question_type",
        QUESTION_TYPES.__contains__,
        f"one of {list(QUESTION_TYPES)}",
        "OCRBench",
        "question",
    )
    return dataset


def aggregate_accuracy(items: list[dict[str, Any]]) -> float:
    """Fraction of samples whose answer was found in the prediction (0-1)."""
    if not items:
        raise ValueError("OCRBench: no scored samples to aggregate")
    unknown = sorted({item["question_type"] for item in items} - set(QUESTION_TYPES))
    if unknown:
        raise ValueError(
            f"OCRBench: unknown question_type(s) {unknown}; expected one of {list(QUESTION_TYPES)}"
        )
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for item in items:
        hits[item["question_type"]] += item["score"]
        totals[item["question_type"]] += 1
    for question_type in QUESTION_TYPES:
        if totals[question_type]:
            logger.info(f"OCRBench {question_type}: {hits[question_type]}/{totals[question_type]}")
    return sum(hits.values()) / len(items)
