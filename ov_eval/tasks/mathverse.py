"""MathVerse testmini, Vision Only, paper Table 3: lmms-eval's ``mathverse_testmini_vision_only`` judged by us.

In lmms-eval 0.7.3 ``mathverse_testmini_vision`` is a group of three problem versions
(``_intensive``, ``_dominant``, ``_only``) with no aggregate; this task is the Vision
Only one (see docs/judged_text.md for why, and how to run the other two).

What lmms-eval 0.7.3 does, reused as is: the prompt (``create_one_query`` with
``shot_type: format-prompt``, ``query_type: query_wo`` = the row's ``query_wo``),
the visual, and the scoring in ``mathverse_process_results``: the whole stripped model
response goes to ``MathVerseEvaluator.score_answer``, which asks the judge through
lmms-eval's ``ServerInterface.evaluate_binary`` (the generic ``BINARY_JUDGE_PROMPT``
with ``question_for_eval``, the ground truth and the response; 0/1 output; the
evaluator's ``ServerConfig`` defaults: temperature 0.0, 1024 tokens) and reads the
reply with ``ResponseParser.parse_binary_response`` ("1" anywhere -> correct). There
is no separate answer-extraction step in 0.7.3: the judge extracts and compares in one
call. ``mathverse_aggregate_results_eval`` is the mean of the 0/1 scores (0-1).

We only replace ``ServerInterface.evaluate`` (the HTTP call) with ``ov_eval.judge``.
Deviations: a failed judgment is excluded and counted in ``judge_failures``
(lmms-eval's ``score_answer`` turns any exception into 0 = wrong), and a reply with
neither "1" nor "0" in it is unparsable (asked once more, then excluded) where
lmms-eval reads it as 0. The ``submission`` record (a JSON dump for the test set) is
dropped: testmini has answers and the accuracy is computed here.

Metrics: ``gpt_eval_score`` (accuracy 0-1; the report multiplies by 100), ``judge_failures``.
"""

from __future__ import annotations

from typing import Any

from lmms_eval.llm_judge import Response, ServerInterface
from lmms_eval.llm_judge.utils import ResponseParser

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import (
    JudgeFailed,
    judge_or_raise,
    judged_doc_to_text,
    rebind,
)
from ov_eval.tasks.lmms_tasks import import_task_module

TASK = "ov_mathverse_testmini_vision"


# ``MathVerseEvaluator``'s class body defines ``gpt_model`` only for API_TYPE openai/azure
# (NameError with the usual ``dummy``); its openai branch only builds clients (no request), so a
# placeholder key is enough, and those clients are never used.
_evals = import_task_module(
    "mathverse.mathverse_evals",
    {"API_TYPE": "openai", "OPENAI_API_KEY": "ov-eval-placeholder"},
    hf_home=False,
)
_lmms = import_task_module("mathverse.utils")

# lmms-eval's evaluator calls evaluate_binary with its class-level ServerConfig (model name only).
SERVER_CONFIG = _evals.MathVerseEvaluator.server_config
JUDGE_TEMPERATURE: float = SERVER_CONFIG.temperature
JUDGE_MAX_TOKENS: int = SERVER_CONFIG.max_tokens

doc_to_visual = _lmms.mathverse_doc_to_visual
count_failures = runtime.count_failures


doc_to_text = judged_doc_to_text(TASK, _lmms.mathverse_doc_to_text)


def parse_binary(text: str) -> int | None:
    """lmms-eval's ``parse_binary_response`` (0/1) when the reply says "1" or "0"; None otherwise."""
    if "1" not in text and "0" not in text:
        return None
    return ResponseParser.parse_binary_response(text, "0/1")


class _JudgeServer(ServerInterface):
    """lmms-eval's judge-server interface with our judge behind ``evaluate``.

    ``evaluate_binary`` (prompt building and reply parsing) is lmms-eval's, inherited.
    """

    def __init__(self, sample: str) -> None:
        super().__init__(SERVER_CONFIG)
        self.sample = sample

    def is_available(self) -> bool:
        return True

    def evaluate(self, request: Any) -> Response:
        config = request.config or self.config
        judgment = judge_or_raise(
            TASK,
            self.sample,
            self.prepare_messages(request),
            parse_binary,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
        )
        return Response(content=judgment.content.strip(), model_used=runtime.get_client(TASK).config.model)


class _JudgedEvaluator(_evals.MathVerseEvaluator):
    """lmms-eval's evaluator, asking our judge."""

    def __init__(self, sample: str) -> None:
        super().__init__()
        self.server = _JudgeServer(sample)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's ``mathverse_process_results`` with the evaluator's server answered by our judge."""
    sample = sample_label(doc, "sample_index", "problem_index")
    score = rebind(_lmms.mathverse_process_results, mathverse_evaluator=_JudgedEvaluator(sample))
    try:
        metrics = score(doc, results)
    except JudgeFailed as failed:
        return {runtime.FAILURES_METRIC: runtime.failure_metric(failed.judgment, sample)}
    metrics.pop("submission", None)  # lmms-eval's record for test-set uploads
    metrics[runtime.FAILURES_METRIC] = runtime.failure_metric(None, sample)
    return metrics


def aggregate_score(results: list[int], args: Any = None) -> float | None:
    """lmms-eval's ``mathverse_aggregate_results_eval``: mean of 0/1 (0-1); None when nothing was judged."""
    return _lmms.mathverse_aggregate_results_eval(results, args) if results else None
