"""ActivityNet-QA, paper Table 5: lmms-eval's ``activitynetqa`` scored by our judge.

lmms-eval's prompt, judge messages (built inside its ``get_eval``), score parsing
(``parse_score``) and aggregations are reused; we change two things:

* videos are found with ``ov_eval.tasks.video_files.resolve_video`` (honours
  ``OV_EVAL_DATA_DIR``; lmms-eval's helper reads ``HF_HOME`` at import and
  ``sys.exit``s on a missing file);
* a failed judgment is excluded (lmms-eval scores it ``("no", 0)``).

Metrics (lmms-eval's names and scales): ``gpt_eval_accuracy`` (% of "yes", 0-100,
the paper's number), ``gpt_eval_score`` (mean 0-5), ``judge_failures`` (count).
"""

from __future__ import annotations

from typing import Any

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import (
    captured_payload,
    judge_or_raise,
    judged_doc_to_text,
    rebind,
    score_with_judge,
)
from ov_eval.tasks.lmms_tasks import import_task_module
from ov_eval.tasks.video_files import resolve_video

TASK = "ov_activitynetqa"
DATASET_PATH = "lmms-eval/ActivityNetQA"
CACHE_DIR = "activitynetqa"  # lmms-eval's dataset_kwargs.cache_dir
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv")  # lmms-eval's search order
JUDGE_MAX_TOKENS = 64  # what activitynetqa_process_results passes to get_eval

_lmms = import_task_module("activitynetqa.utils")

doc_to_target = _lmms.activitynetqa_doc_to_answer
aggregate_score = _lmms.activitynetqa_aggregate_score
aggregate_accuracy = _lmms.activitynetqa_aggregate_accuracy
count_failures = runtime.count_failures


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    """``[<videos>/all_test/v_<video_name>.{mp4,webm,mkv}]`` (lmms-eval's layout under its cache dir)."""
    try:
        return [resolve_video(DATASET_PATH, CACHE_DIR, f"all_test/v_{doc['video_name']}", VIDEO_EXTENSIONS)]
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{TASK} question {sample_label(doc, 'question_id')}: {exc}") from None


doc_to_text = judged_doc_to_text(TASK, _lmms.activitynetqa_doc_to_text)


def judge_request(question: str, answer: str, pred: str) -> dict[str, Any]:
    """The chat-completions payload lmms-eval's ``get_eval`` builds for this QA pair."""
    return captured_payload(_lmms.get_eval, question, answer, pred, JUDGE_MAX_TOKENS)


def parse_review(text: str) -> list[Any] | None:
    """``[pred, score]`` via lmms-eval's ``parse_score``; None when the review has no such dict."""
    parsed = _lmms.parse_score(text)
    return parsed if isinstance(parsed, list) and len(parsed) == 2 else None


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's ``activitynetqa_process_results`` with ``get_eval`` answered by our judge."""
    sample = sample_label(doc, "question_id")
    client_model = runtime.get_client(TASK).config.model

    def judged_get_eval(
        question: str, answer: str, pred: str, max_tokens: int, retries: int = 5
    ) -> tuple[str, str]:
        payload = judge_request(question, answer, pred)
        judgment = judge_or_raise(
            TASK,
            sample,
            payload["messages"],
            parse_review,
            temperature=payload["temperature"],
            max_tokens=payload["max_tokens"],
        )
        return judgment.content, client_model

    score = rebind(_lmms.activitynetqa_process_results, get_eval=judged_get_eval)
    return score_with_judge(score, doc, results, sample)
