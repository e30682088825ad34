"""DocVQA and InfographicVQA *test* splits: write the server submission file, report no number.

Both live in the hub dataset ``lmms-lab-encoder/DocVQA`` (configs ``DocVQA`` and
``InfographicVQA``); their test answers are hidden and scored only by the benchmarks'
server (rrc.cvc.uab.es). lmms-eval's ``docvqa_test`` / ``infovqa_test`` write the file
but their aggregation returns ``None`` and the file's location appears only in the log,
so a report cannot tell "submission written" from "metric failed". Here the task reports
two metrics from the same per-sample items:

* ``submission``: ``None`` (no local score exists) -- written by lmms-eval's own
  ``docvqa_test_aggregate_results`` / ``infovqa_test_aggregate_results``;
* ``submission_path``: the absolute path of that file, computed with lmms-eval's
  ``generate_submission_file`` (``<output_path>/submissions/<name>``), i.e. exactly
  where lmms-eval wrote it.

Validation splits use lmms-eval's registered ``anls`` metric directly (see the YAMLs).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from lmms_eval.tasks._task_utils.file_utils import generate_submission_file
from lmms_eval.tasks.docvqa.utils import docvqa_test_aggregate_results
from lmms_eval.tasks.infovqa.utils import infovqa_test_aggregate_results

from ov_eval.tasks.inputs import describe, is_integer, require_columns, require_values

# File names lmms-eval's aggregations write (lmms_eval/tasks/{docvqa,infovqa}/utils.py).
DOCVQA_SUBMISSION = "docvqa_test_for_submission.json"
INFOVQA_SUBMISSION = "infovqa_test_for_submission.json"


def _process_docs(dataset: Dataset, benchmark: str) -> Dataset:
    require_columns(dataset, ("questionId", "question", "answers", "image"), benchmark)
    # the server keys answers by integer questionId; the hub stores it as a string
    require_values(dataset, "questionId", is_integer, "an integer", benchmark, "questionId")
    return dataset


def process_docs_docvqa(dataset: Dataset) -> Dataset:
    """Check the DocVQA schema and ids before any model work."""
    return _process_docs(dataset, "DocVQA")


def process_docs_infovqa(dataset: Dataset) -> Dataset:
    """Check the InfographicVQA schema and ids before any model work."""
    return _process_docs(dataset, "InfoVQA")


def submission_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """One submission entry ``{"questionId": int, "answer": prediction}`` per question (server format)."""
    try:
        question_id = int(doc["questionId"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"sample {describe(doc)}: questionId must be an integer ({err})") from None
    entry = {"questionId": question_id, "answer": results[0]}
    return {"submission": entry, "submission_path": entry}


def docvqa_submission(items: list[dict[str, Any]], args: Any = None) -> None:
    """Write the DocVQA server file (lmms-eval's function); there is no local score."""
    docvqa_test_aggregate_results(items, args)
    return None


def docvqa_submission_path(items: list[dict[str, Any]], args: Any = None) -> str:
    """Where :func:`docvqa_submission` wrote the file."""
    return generate_submission_file(DOCVQA_SUBMISSION, args)


def infovqa_submission(items: list[dict[str, Any]], args: Any = None) -> None:
    """Write the InfographicVQA server file (lmms-eval's function); there is no local score."""
    infovqa_test_aggregate_results(items, args)
    return None


def infovqa_submission_path(items: list[dict[str, Any]], args: Any = None) -> str:
    """Where :func:`infovqa_submission` wrote the file."""
    return generate_submission_file(INFOVQA_SUBMISSION, args)
