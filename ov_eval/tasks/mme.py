"""MME: lmms-eval's per-category acc + acc+ sums, with checks that name the offending question.

MME asks two yes/no questions per image (``question_id`` = the image file). lmms-eval's
``mme_aggregate_results`` scores each category as mean over images of acc + acc+
(acc = % of the image's two answers correct, acc+ = 100 if both are) and sums the
categories: perception (10 categories, max 2000) and cognition (4, max 800), the two
numbers of the paper's "MME cog./perp." column. It asserts that every image has exactly
two results but its message ("MME only supports pairwise evaluation") does not say which
image broke the rule -- typically a ``--limit`` that cut a pair in half -- and it files
any unknown category under cognition without a word. ``process_docs`` rejects such data
before the model runs; ``aggregate`` re-checks pairs (``--limit`` applies after
``process_docs``), names the offenders, then delegates to lmms-eval unchanged.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from datasets import Dataset
from lmms_eval.tasks.mme.utils import eval_type_dict, mme_aggregate_results

from ov_eval.tasks.inputs import require_columns, require_values

CATEGORIES = frozenset(eval_type_dict["Perception"] + eval_type_dict["Cognition"])


def _pairing_error(counts: Counter) -> str | None:
    unpaired = sorted(f"{qid} ({category}): {n}" for (category, qid), n in counts.items() if n != 2)
    if not unpaired:
        return None
    more = f" and {len(unpaired) - 10} more" if len(unpaired) > 10 else ""
    return (
        "MME scores questions in pairs (two per image) but these images have a different "
        f"number of questions: {', '.join(unpaired[:10])}{more}"
    )


def process_docs(dataset: Dataset) -> Dataset:
    """Reject a split that lmms-eval's scoring would crash on, before any model work:
    answers other than yes/no, unknown categories, images without exactly two questions."""
    require_columns(dataset, ("question_id", "question", "answer", "category", "image"), "MME")
    require_values(
        dataset, "answer", lambda a: isinstance(a, str) and a.lower().strip().replace(".", "") in {"yes", "no"},
        '"Yes" or "No"', "MME", "question_id",
    )  # fmt: skip
    require_values(
        dataset, "category", CATEGORIES.__contains__, f"one of {sorted(CATEGORIES)}", "MME", "question_id"
    )
    error = _pairing_error(Counter(zip(dataset["category"], dataset["question_id"], strict=True)))
    if error:
        raise ValueError(error)
    return dataset


def aggregate(items: list[dict[str, Any]]) -> float:
    """lmms-eval's MME score (sum over categories of acc + acc+, 0-200 each) after checking pairs."""
    error = _pairing_error(Counter((item["category"], item["question_id"]) for item in items))
    if error:
        raise ValueError(f"{error}. Do not use --limit on MME (or keep whole pairs).")
    return mme_aggregate_results(items)
