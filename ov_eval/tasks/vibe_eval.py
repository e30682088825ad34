"""Vibe-Eval, paper Table 3: lmms-eval's ``vibe_eval`` with the Reka judge call answered by our judge.

Reused from lmms-eval as is: prompt (``vibe_doc_to_text``), visual, the judge prompt
(``make_evaluator_prompt``: Reka's ``_PROMPT_WITH_NO_IMAGE``, since the YAML's
evaluator is ``reka-core-text``), the judge sampling parameters (temperature 0.4,
1024 tokens), the ``Rating:\\s*([1-5])`` reading in ``evaluate``, the per-sample
record of ``vibe_process_results`` and the aggregations (mean of ``25 * (rating - 1)``
over ``all`` / ``hard`` / ``normal`` docs, 0-100). lmms-eval sends the prompt with the
Reka SDK (``Reka(...).chat.create``); here ``Reka`` and ``ChatMessage`` are stand-ins
that send the same message through ``ov_eval.judge`` to any OpenAI-compatible judge,
so neither ``reka-api`` nor ``REKA_API_KEY`` is needed.

Deviations: a failed judgment (API errors, or a reply without ``Rating: 1-5`` twice)
is excluded and counted in ``judge_failures``; lmms-eval stores score 0, which its
``25 * (score - 1)`` turns into -25 for that sample. An aggregation over a category
with no judged doc gives None instead of lmms-eval's ZeroDivisionError.

Metrics: ``all`` (the paper's number), ``hard``, ``normal`` (0-100), ``judge_failures``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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

TASK = "ov_vibe_eval"
RATING = re.compile(r"Rating:\s*([1-5])")  # the pattern of lmms-eval's `evaluate`

_lmms = import_task_module("vibe_eval.utils")

doc_to_visual = _lmms.vibe_doc_to_visual
count_failures = runtime.count_failures


doc_to_text = judged_doc_to_text(TASK, _lmms.vibe_doc_to_text)


def parse_rating(text: str) -> int | None:
    """The 1-5 rating as lmms-eval's ``evaluate`` reads it; None when it would store 0 (no rating)."""
    match = RATING.search(text)
    return int(match.group(1)) if match else None


@dataclass
class ChatMessage:
    """Stand-in for ``reka.ChatMessage`` (content: Reka's list of typed parts)."""

    content: list[dict[str, Any]] | str
    role: str = "user"


def _openai_message(message: ChatMessage) -> dict[str, Any]:
    """Reka's message as an OpenAI chat message (text parts joined; image URLs as image_url parts)."""
    parts = (
        message.content if isinstance(message.content, list) else [{"type": "text", "text": message.content}]
    )
    if all(part.get("type") == "text" for part in parts):
        return {"role": message.role, "content": "".join(part["text"] for part in parts)}
    content = []
    for part in parts:
        if part.get("type") == "image_url":
            content.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            content.append({"type": "text", "text": part["text"]})
    return {"role": message.role, "content": content}


@dataclass
class _Message:
    content: str


@dataclass
class _Choice:
    message: _Message


@dataclass
class _ChatResponse:
    responses: list[_Choice] = field(default_factory=list)


class _JudgeChat:
    def __init__(self, sample: str) -> None:
        self.sample = sample

    def create(
        self, messages: list[ChatMessage], model: str, temperature: float, max_tokens: int
    ) -> _ChatResponse:
        judgment = judge_or_raise(
            TASK,
            self.sample,
            [_openai_message(m) for m in messages],
            parse_rating,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        return _ChatResponse([_Choice(_Message(judgment.content))])


def _reka_for(sample: str) -> type:
    """A ``Reka`` client class whose ``chat.create`` asks our judge for ``sample``."""

    class Reka:
        def __init__(self, api_key: str | None = None) -> None:
            self.chat = _JudgeChat(sample)

    return Reka


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's ``vibe_process_results`` with its Reka call answered by our judge."""
    sample = sample_label(doc, "example_id")
    evaluate = rebind(_lmms.evaluate, Reka=_reka_for(sample), ChatMessage=ChatMessage)
    score = rebind(_lmms.vibe_process_results, evaluate=evaluate)
    return score_with_judge(score, doc, results, sample)


def _or_none(aggregate, results: list[dict[str, Any]]) -> float | None:
    try:
        return aggregate(results)
    except ZeroDivisionError:  # no judged doc in this category
        return None


def aggregate_all(results: list[dict[str, Any]]) -> float | None:
    return _or_none(_lmms.vibe_aggregation_results_all, results)


def aggregate_hard(results: list[dict[str, Any]]) -> float | None:
    return _or_none(_lmms.vibe_aggregation_results_hard, results)


def aggregate_normal(results: list[dict[str, Any]]) -> float | None:
    return _or_none(_lmms.vibe_aggregation_results_normal, results)
