"""WildVision-Bench 0617 (not in the paper's Tables 2-5): lmms-eval's ``wildvision_0617`` scored by our judge.

Pairwise judging against a fixed reference answer (``claude-3-sonnet-20240229``'s, a
dataset column): the judge gets the system prompt (Arena-Hard style: answer it
yourself, compare, end with one of ``[[A>>B]]`` ``[[A>B]]`` ``[[A=B]]`` ``[[B>A]]``
``[[B>>A]]``), the user prompt with assistant A = reference and assistant B = our model,
and the image. All of it is lmms-eval's: the payload built in ``get_chat_response``
(sent as built, including its ``data:image/jpeg;base64, <png>`` URL), the verdict
regex (``get_score``), the verdict -> score mapping in
``wild_vision_process_results`` and every aggregation. Only the transport changes:
``get_chat_response`` posts through the ``requests`` we hand it.

Metrics (lmms-eval's, all over the judged samples):

* ``elo_scores``: the headline number, **% expected win rate of the model against the
  reference** (0-100; 50 = as good as claude-3-sonnet), from a Bradley-Terry/Elo
  logistic fit of the battles in which a tie counts half a win;
* ``win_rates``: % of samples the model won outright (B>A or B>>A);
* ``raw_scores``: mean verdict score, -2 (A>>B) .. +2 (B>>A);
* ``judgements_better|better_plus|worse|worse_plus|tie|unclear``: % of each verdict.

Differences from lmms-eval 0.7.3: the judge model is ``OV_EVAL_JUDGE_MODEL`` (lmms-eval
uses its YAML's ``gpt-4o``: set ``--judge-model gpt-4o`` for the closest
reproduction). A judge answer without exactly one distinct verdict label is asked once
more (Arena-Hard also makes two attempts), then excluded and counted in
``judge_failures``; lmms-eval counts it (and a failed request) as an "Unclear" tie,
which pulls every metric towards 50/0.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import (
    judge_or_raise,
    judged_doc_to_text,
    rebind,
    score_with_judge,
)
from ov_eval.tasks.lmms_tasks import import_task_module

TASK = "ov_wildvision"
VERDICT = re.compile(r"\[\[([AB<>=]+)\]\]")  # the pattern wild_vision_process_results uses

_lmms = import_task_module("wild_vision_bench.utils")

doc_to_visual = _lmms.wild_vision_doc_to_visual
doc_to_target = _lmms.wild_vision_doc_to_target
aggregate_raw_scores = _lmms.wild_vision_aggregation_raw_scores
aggregate_elo_scores = _lmms.wild_vision_aggregation_elo_scores
aggregate_win_rates = _lmms.wild_vision_aggregation_win_rates
aggregate_better = _lmms.wild_vision_aggregation_judgements_better
aggregate_better_plus = _lmms.wild_vision_aggregation_judgements_better_plus
aggregate_worse = _lmms.wild_vision_aggregation_judgements_worse
aggregate_worse_plus = _lmms.wild_vision_aggregation_judgements_worse_plus
aggregate_tie = _lmms.wild_vision_aggregation_judgements_tie
aggregate_unclear = _lmms.wild_vision_aggregation_judgements_unclear
count_failures = runtime.count_failures


# lmms-eval's prompt reads its kwargs without a None check.
doc_to_text = judged_doc_to_text(TASK, lambda doc, kwargs: _lmms.wild_vision_doc_to_text(doc, kwargs or {}))


def parse_verdict(text: str) -> str | None:
    """The verdict label (e.g. ``B>A``) via lmms-eval's ``get_score``; None unless exactly one distinct label."""
    label, _ = _lmms.get_score(text, pattern=VERDICT)
    return label


class _Answer:
    def __init__(self, content: str) -> None:
        self.content = content

    def raise_for_status(self) -> None:
        pass

    def json(self) -> dict[str, Any]:
        return {"choices": [{"message": {"content": self.content}}]}


class _Requests:
    """Stands in for ``requests`` inside ``get_chat_response``: ``post`` asks our judge."""

    exceptions = requests.exceptions  # read by get_chat_response's except clauses

    def __init__(self, sample: str) -> None:
        self.sample = sample

    def post(self, url: str, headers: dict, json: dict[str, Any], timeout: float) -> _Answer:
        judgment = judge_or_raise(
            TASK,
            self.sample,
            json["messages"],
            parse_verdict,
            temperature=json["temperature"],
            max_tokens=json["max_tokens"],
        )
        return _Answer(judgment.content or "")


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    sample = sample_label(doc, "question_id")
    get_chat_response = rebind(_lmms.get_chat_response, requests=_Requests(sample), API_URL="", API_KEY="")
    score = rebind(_lmms.wild_vision_process_results, get_chat_response=get_chat_response)
    return score_with_judge(score, doc, results, sample)
