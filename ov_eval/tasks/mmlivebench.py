"""MM-LiveBench 2024-06, paper Tables 2-3: lmms-eval's ``live_bench_2406`` scored by our judge.

lmms-eval's code does everything task-specific: prompt, the judge message (images
first, then the "[Question] ... [Assistant Response] ... [Ground Truth Response] ...
[System] Rate ... 0-10 ... criteria" prompt, built in ``get_chat_response``), the
per-sample record (``livebench_process_results_for_name``, including "an empty answer
is rated 0 without asking the judge") and the aggregation
``livebench_aggregate_results`` (mean rating / 10 x 100, 0-100: ``gpt4_eval_score``).
Only the transport changes: ``get_chat_response`` builds its ``openai.OpenAI`` client
from the ``openai`` name we hand it.

Differences from lmms-eval 0.7.3:

* judge model: ``OV_EVAL_JUDGE_MODEL`` (lmms-eval hard-codes ``gpt-4o``; set
  ``--judge-model gpt-4o`` for the closest reproduction);
* ``response_format={"type": "json_object"}`` is not sent (the judge layer sends model,
  messages, temperature and max_tokens only). The prompt itself asks for the JSON, in a
  fenced block, so ``parse_rating`` also reads a fenced or embedded JSON object, where
  lmms-eval's ``json.loads`` of the whole answer needs JSON mode;
* a ``"Rating"`` given as a numeric string (the prompt's own template shows
  ``"Rating": "(int)"``) is read as the number; lmms-eval would crash on
  ``"8" >= 0``. A rating outside 0-10 or a missing one is unparsable;
* a failed or unparsable judgment is excluded and counted in ``judge_failures``
  (lmms-eval records rating -1, which its aggregation also skips, but silently).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import (
    judge_or_raise,
    judged_doc_to_text,
    rebind,
    score_with_judge,
)
from ov_eval.tasks.lmms_tasks import import_task_module

TASK = "ov_mmlivebench"
METRIC = "gpt4_eval_score"  # lmms-eval's name for the judge-model score (livebench_process_results_4o)

_lmms = import_task_module("live_bench.utils")

doc_to_visual = _lmms.livebench_doc_to_visual
aggregate_results = _lmms.livebench_aggregate_results
count_failures = runtime.count_failures

_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


doc_to_text = judged_doc_to_text(TASK, _lmms.livebench_doc_to_text)


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [text.strip(), *_FENCED.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_rating(text: str) -> dict[str, Any] | None:
    """``{"Rating": 0-10, "Explanation": str}`` from the judge's JSON answer; None if it has no rating."""
    answer = _json_object(text)
    if answer is None or "Rating" not in answer:
        return None
    rating = answer["Rating"]
    if isinstance(rating, str):
        try:
            rating = float(rating.strip())
        except ValueError:
            return None
    if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not 0 <= rating <= 10:
        return None
    if isinstance(rating, float) and rating.is_integer():
        rating = int(rating)
    return {"Rating": rating, "Explanation": str(answer.get("Explanation", ""))}


class _Message:
    def __init__(self, content: str) -> None:
        self.message = self
        self.content = content


class _Completion:
    def __init__(self, content: str) -> None:
        self.choices = [_Message(content)]


class _OpenAIModule:
    """Stands in for the ``openai`` module inside ``get_chat_response``: ``OpenAI(...).chat.completions.create``."""

    def __init__(self, sample: str) -> None:
        self.sample = sample
        self.chat = self
        self.completions = self

    def OpenAI(self, **kwargs: Any) -> _OpenAIModule:  # noqa: N802 - mirrors openai.OpenAI
        return self

    def create(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int,
        temperature: float,
        **kwargs: Any,
    ) -> _Completion:
        judgment = judge_or_raise(
            TASK, self.sample, messages, parse_rating, temperature=temperature, max_tokens=max_tokens
        )
        return _Completion(json.dumps(judgment.value))  # what lmms-eval's json.loads then reads


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    sample = sample_label(doc, "id")
    get_chat_response = rebind(_lmms.get_chat_response, openai=_OpenAIModule(sample), API_KEY="")
    score_for = rebind(_lmms.livebench_process_results_for_name, get_chat_response=get_chat_response)
    model = runtime.get_client(TASK).config.model

    def score(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
        return score_for(doc, results, model, METRIC)

    return score_with_judge(score, doc, results, sample)
