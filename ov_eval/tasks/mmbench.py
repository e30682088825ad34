"""MMBench-EN dev: lmms-eval's prompt and CircularEval, answer matching without any API.

Scoring (lmms-eval ``mmbench/mmbench_evals.py::MMBench_Evaluator.eval_result``):
MMBench repeats each question with its options rotated (hub ``index`` = base index
+ k * 1,000,000); a question counts as correct only if EVERY rotation is answered
correctly (CircularEval), and the score is the percentage of base questions correct
(0-100). A prediction is mapped to a letter by the official rule-based matcher
(``can_infer``: a lone option letter such as ``B``, ``B.``, ``(B)``, or exactly one
option's text contained in the answer).

The only difference from lmms-eval's ``mmbench_en_dev`` is what happens when that
matcher finds no letter: lmms-eval then asks GPT (``MODEL_VERSION`` over raw HTTP) and,
offline, falls back to a seeded random letter after several retries with sleeps. We use
lmms-eval's own non-API path instead (``eval_method="static"``, as in its
``mmbench_en_dev_static`` task): ``_task_utils.mcq_extract.extract_mcq_answer``, which
reads phrasings such as "so the answer is C". Answers that the rule-based matcher
resolves -- the vast majority for a model that follows "Answer with the option's
letter" -- score identically; unresolvable ones score 0 instead of a GPT or random
guess. This is documented in docs/tasks_single_image.md.

The metric is renamed ``circular_accuracy`` (lmms-eval calls it ``gpt_eval_score``,
which would be misleading here). lmms-eval's ``en_utils`` module only builds an
evaluator object at import (no network, no key needed).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from lmms_eval.tasks.mmbench.en_utils import mmbench_aggregate_dev_results_static, mmbench_process_results
from PIL import Image

from ov_eval.tasks.inputs import checked_image, is_integer, require_columns, require_values

CIRCULAR_OFFSET = 1_000_000  # rotation k of base question i has index i + k * CIRCULAR_OFFSET
METRIC = "circular_accuracy"
LETTERS = frozenset("ABCDE")
COLUMNS = (
    "index",
    "question",
    "hint",
    "A",
    "B",
    "C",
    "D",
    "answer",
    "category",
    "L2-category",
    "source",
    "split",
)


def process_docs(dataset: Dataset) -> Dataset:
    """Check schema, integer ``index`` and letter answers before any model work."""
    require_columns(dataset, (*COLUMNS, "image"), "MMBench")
    require_values(dataset, "index", is_integer, "an integer", "MMBench", "index")
    require_values(dataset, "answer", LETTERS.__contains__, "an option letter A-E", "MMBench", "index")
    return dataset


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The question's image, RGB (lmms-eval duplicates it when NUM_IMAGE=2; the paper did not)."""
    return [checked_image(doc)]


def _index(doc: dict[str, Any]) -> int:
    value = doc.get("index")
    if not is_integer(value):
        raise ValueError(f"MMBench sample index={value!r}: 'index' must be an integer")
    return int(value)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's per-sample record under our metric name, with ``index`` as an int.

    CircularEval groups rotations by ``index % 1e6`` and keeps base questions by
    ``index < 1e6``; both need a number (one hub revision stored it as a string).
    """
    if doc.get("answer") not in LETTERS:
        raise ValueError(
            f"MMBench sample index={doc.get('index')!r}: answer {doc.get('answer')!r} is not a letter"
        )
    record = dict(mmbench_process_results(doc, results)["gpt_eval_score"])
    record["index"] = _index(doc)
    return {METRIC: record}


def aggregate_circular(items: list[dict[str, Any]], args: Any = None) -> float:
    """CircularEval accuracy in percent (0-100), matching answers without an API."""
    indices = {item["index"] for item in items}
    bases = {i for i in indices if i < CIRCULAR_OFFSET}
    orphans = sorted(i for i in indices if i % CIRCULAR_OFFSET not in bases)
    if orphans:
        raise ValueError(
            f"MMBench: rotations {orphans[:10]} have no base question (index % {CIRCULAR_OFFSET}) in the "
            "evaluated samples; CircularEval needs whole groups (do not use --limit on MMBench)"
        )
    return mmbench_aggregate_dev_results_static(items, args)
