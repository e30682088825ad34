"""VideoDC (Video Detail Caption), paper Table 5: lmms-eval's ``video_dc499`` scored by our judge.

The model describes each of 499 videos in detail; the judge rates the description
against a human one for detail orientation, 0-5 (lmms-eval's ``get_eval_generic``
prompt). Metric ``gpt_eval_score`` = mean rating (0-5, the paper's number).

Reused from lmms-eval: prompt (``video_detail_description_doc_to_text``), judge
messages (captured from ``get_eval_generic``), ``parse_score``, the per-doc record
(``video_detail_description_process_results_generic`` / ``gpt_eval``) and the mean
(``video_detail_description_aggregate_score``). Ours: transport (``ov_eval.judge``),
video lookup (``resolve_video``, lmms-eval's layout ``videochatgpt/Test_Videos/``), and
failures: a failed judgment is excluded and counted in ``judge_failures`` (lmms-eval
scores it 0).

Dataset: ``lmms-lab/VideoDetailCaption`` (499 rows, split ``test``, columns video_name /
question / answer): the hub dataset lmms-eval's task list links for ``video_dc499``.
lmms-eval's YAML (0.7.3, and at the LLaVA-OV release) names ``lmms-lab/VideoDetailDescription``,
for which we found no hub page (presumably the pre-rename id).
"""

from __future__ import annotations

import math
from typing import Any

from ov_eval.judge import runtime
from ov_eval.tasks.judged_common import (
    JudgeFailed,
    captured_payload,
    judged_doc_to_text,
    rebind,
    score_with_judge,
)
from ov_eval.tasks.lmms_tasks import import_task_module
from ov_eval.tasks.videochatgpt import judge_payload, review_for_lmms, video_file

TASK = "ov_videodc"
DATASET_PATH = "lmms-lab/VideoDetailCaption"
JUDGE_MAX_TOKENS = 64  # what lmms-eval's gpt_eval passes to get_eval_generic

_lmms = import_task_module("video_detail_description.utils")

doc_to_target = _lmms.video_detail_description_doc_to_answer
count_failures = runtime.count_failures


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [video_file(DATASET_PATH, doc)]


doc_to_text = judged_doc_to_text(TASK, _lmms.video_detail_description_doc_to_text)


def judge_request(question: str, answer: str, pred: str) -> dict[str, Any]:
    """The chat-completions payload lmms-eval's ``get_eval_generic`` builds for this caption."""
    return captured_payload(_lmms.get_eval_generic, question, answer, pred, JUDGE_MAX_TOKENS)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's ``video_detail_description_process_results_generic``, judged by ours."""
    sample = str(doc["video_name"])

    def get_eval_generic(question: str, answer: str, pred: str, max_tokens: int, retries: int = 5):
        payload = captured_payload(_lmms.get_eval_generic, question, answer, pred, max_tokens)
        judgment = judge_payload(TASK, sample, payload)
        if not judgment.ok:
            raise JudgeFailed(judgment)  # a BaseException: passes gpt_eval's `except Exception` (-> 0)
        return review_for_lmms(TASK, judgment)

    gpt_eval = rebind(_lmms.gpt_eval, get_eval_generic=get_eval_generic)
    score = rebind(_lmms.video_detail_description_process_results_generic, gpt_eval=gpt_eval)
    # a copy of the doc: lmms-eval writes the prediction into it
    return score_with_judge(lambda d, r: score(dict(d), r), doc, results, sample)


def aggregate_score(items: list[dict[str, Any]], args: Any = None) -> float:
    """Mean rating 0-5 (lmms-eval's ``video_detail_description_aggregate_score``); NaN if none."""
    if not items:
        return math.nan
    return _lmms.video_detail_description_aggregate_score(items, args)
