"""LLaVA-Bench-Wilder (small), paper Tables 2-3: lmms-eval's ``llava_wilder_small`` scored by our judge.

lmms-eval's code does everything task-specific: prompt (``llava_doc_to_text``), the
"[Question] ... [Assistant 1] ... [Assistant 2] ... [System]" judge prompt with the
image (``llava_process_results`` + ``get_chat_response``), score-line parsing
(``parse_score``: the first line must be exactly two numbers) and the relative score
``100 * mean(model) / mean(reference)`` (``llava_all_aggregation``; the same code as
LLaVA-W's aggregation, and it keeps LLaVA-W's metric name ``gpt_eval_llava_all``).
Only the transport changes: ``get_chat_response`` talks to the ``server`` we hand it.

Why not ``ov_eval.tasks.llava_in_the_wild``'s pieces: LLaVA-Wilder's judge prompt,
parser and transport (an ``llm_judge`` server, image attached) are its own; only
the aggregation is shared, and lmms-eval's Wilder module carries it.

Two things differ from lmms-eval 0.7.3, both because it cannot work as shipped:

* lmms-eval hands the base64 image to the judge server as a *file path*
  (``Request(images=[base64])``); the OpenAI provider tries to open it and every
  request fails before reaching the API (``No such file or directory: 'iVBOR...'``),
  so every sample scores ``[-1, -1]`` and the task reports 100.0 for any model. We
  send lmms-eval's message (prompt text + the image as a data URL) with the
  ``image_url`` part in the API's object form (``judged_vision.openai_image_parts``).
* a failed judgment is excluded and counted in ``judge_failures`` (lmms-eval keeps
  ``[-1, -1]`` in the mean, which moves the score).

Judge sampling: lmms-eval's ``ServerConfig(temperature=0.0, max_tokens=1024)``, read
from the request it builds. Judge model: ``OV_EVAL_JUDGE_MODEL`` (lmms-eval reads
``MODEL_VERSION``; its YAML metadata names ``gpt-4-vision-preview``, the paper-era judge).
"""

from __future__ import annotations

from typing import Any

from lmms_eval.llm_judge.protocol import Request, Response

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import (
    judge_or_raise,
    judged_doc_to_text,
    rebind,
    score_with_judge,
)
from ov_eval.tasks.judged_vision import openai_image_parts
from ov_eval.tasks.lmms_tasks import import_task_module

TASK = "ov_llava_wilder_small"
_lmms = import_task_module("llava_wilder.utils")

doc_to_visual = _lmms.llava_doc_to_visual
all_aggregation = _lmms.llava_all_aggregation
count_failures = runtime.count_failures


doc_to_text = judged_doc_to_text(TASK, _lmms.llava_doc_to_text)


def parse_scores(text: str) -> list[float] | None:
    """``[reference, model]`` via lmms-eval's ``parse_score``; None when it found no score pair.

    The text is stripped first, as lmms-eval's judge server strips every answer.
    """
    scores = _lmms.parse_score(text.strip())
    return None if scores == [-1, -1] else scores


class _JudgeServer:
    """Stands in for lmms-eval's ``llm_judge`` server: ``evaluate(Request) -> Response`` via our judge."""

    def __init__(self, sample: str) -> None:
        self.sample = sample

    def evaluate(self, request: Request) -> Response:
        judgment = judge_or_raise(
            TASK,
            self.sample,
            openai_image_parts(request.messages),
            parse_scores,
            temperature=request.config.temperature,
            max_tokens=request.config.max_tokens,
        )
        return Response(
            content=(judgment.content or "").strip(), model_used=runtime.get_client(TASK).config.model
        )


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    sample = sample_label(doc, "question_id")
    get_chat_response = rebind(_lmms.get_chat_response, server=_JudgeServer(sample))
    score = rebind(_lmms.llava_process_results, get_chat_response=get_chat_response)
    return score_with_judge(score, doc, results, sample)
