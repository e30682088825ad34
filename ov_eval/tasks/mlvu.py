"""MLVU dev, reported as M-Avg (paper Table 5 "MLVU m-avg").

M-Avg is the mean of the per-task-type accuracies over MLVU dev's 7 multiple-choice
task types. Prompt and aggregation are lmms-eval's (``mlvu_dev``; the prompt with the
LLaVA-OneVision release's pre/post prompts, set in the YAML); the letter is read by the
release's rule (:func:`release_letter`), as for the paper's number. Two guards are ours:

* a task type lmms-eval does not know makes its aggregation die with a bare
  ``KeyError`` after the whole run; we reject the doc up front, naming it;
* lmms-eval divides by 7 even when a type has no docs (``--limit``, partial
  copies), silently deflating the score by up to 7x. We rescale its result to the
  mean over the types actually present and log which types are missing. On the
  full dev set (all 7 present) the value is exactly lmms-eval's.
"""

from __future__ import annotations

from typing import Any

from lmms_eval.tasks.mlvu.utils import mlvu_aggregate_results_dev, mlvu_process_results
from loguru import logger

from ov_eval.tasks.inputs import sample_where
from ov_eval.tasks.video_files import resolve_video

DATASET_PATH = "sy1998/MLVU_dev"
CACHE_DIR = "mlvu"  # lmms-eval: $HF_HOME/mlvu/<video_name>
METRIC = "mlvu_percetion_score"  # lmms-eval's key, typo included
TASK_TYPES = ("anomaly_reco", "count", "ego", "needle", "order", "plotQA", "topic_reasoning")


def _where(doc: dict[str, Any]) -> str:
    return sample_where("MLVU dev", doc, "video_name", context="task_type")


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    """``video_name`` already carries the extension (and sometimes a sub-folder)."""
    return [resolve_video(DATASET_PATH, CACHE_DIR, doc["video_name"], extensions=("",))]


def release_letter(response: str) -> str:
    """The answer letter as the LLaVA-OneVision release read it (lmms-eval 1d3f34ab, mlvu/utils.py).

    The prompt ends in "Best option: (", so the model is expected to close the parenthesis:
    the character just before the first ")" is the answer; a response without ")" is compared
    whole (after stripping). lmms-eval 0.7.3 uses ``extract_mcq_answer`` instead.
    """
    text = response.strip()
    if ")" in text:
        index = text.index(")")
        return text[index - 1 : index] if index else ""
    return text


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's per-sample record, with the answer read by the release's rule (:func:`release_letter`)."""
    if doc.get("task_type") not in TASK_TYPES:
        raise ValueError(
            f"{_where(doc)}: unknown task_type; MLVU dev M-Avg is defined over {list(TASK_TYPES)}"
        )
    scored = mlvu_process_results(doc, results)
    scored["mlvu_percetion_score"]["pred_answer"] = release_letter(results[0])
    return scored


def m_avg(results: list[dict[str, Any]]) -> float:
    """Mean of per-type accuracies (0-100) over the task types present in ``results``."""
    present = {r["task_type"] for r in results}
    if not present:
        return 0.0
    over_all_seven = mlvu_aggregate_results_dev(results)  # absent types count as 0 in lmms-eval's mean
    missing = sorted(set(TASK_TYPES) - present)
    if missing:
        logger.warning(f"[ov-eval] MLVU M-Avg over {len(present)} of 7 task types; no docs for {missing}")
    return over_all_seven * len(TASK_TYPES) / len(present)
