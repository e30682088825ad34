"""MathVista testmini, paper Table 3: one accuracy, answers extracted by our judge.

Why this variant: lmms-eval 0.7.3's ``mathvista_testmini`` is a *group* of three
prompt variants (``_cot``, ``_solution``, ``_format``) with no aggregate, so it has
no single number. The paper evaluated with lmms-eval's ``mathvista_testmini``
(App. D's task list) as it was in 2024 (lmms-eval 0.2.x): one task whose default
prompt was ``shot_type: format-prompt``, zero-shot, no caption/OCR, judge-based
answer extraction with ``quick_extract: false``; that is today's
``mathvista_testmini_format``, which this task reproduces. Its prompt ends with
"Answer with the option's letter ..." / "Answer the question using a single
integer number.", so most answers are taken by lmms-eval's rule extraction and only
the rest go to the judge.

Everything else is lmms-eval's: ``create_one_query`` prompt, rule-based extraction,
the ``DEMO_PROMPT`` extraction prompt, normalisation, ``safe_equal``, aggregation.
Only ``MathVistaEvaluator.get_chat_response`` is answered by ``ov_eval.judge``; a
failed extraction is excluded (lmms-eval turns it into "" and scores it wrong).

One fix: ``precision`` is passed as an int (see ``process_results``), else lmms-eval
scores every float-answer question wrong.

Metrics: ``llm_as_judge_eval`` (accuracy 0-100, the paper's number), ``judge_failures``.
"""

from __future__ import annotations

from typing import Any

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import (
    JudgeFailed,
    judge_or_raise,
    judged_doc_to_text,
    rebind,
)
from ov_eval.tasks.lmms_tasks import import_task_module

TASK = "ov_mathvista_testmini"
QUICK_EXTRACT = False  # lmms-eval's mathvista.yaml metadata

_evals = import_task_module("mathvista.mathvista_evals")
_lmms = import_task_module("mathvista.utils")

doc_to_visual = _lmms.mathvista_doc_to_visual
count_failures = runtime.count_failures


doc_to_text = judged_doc_to_text(TASK, _lmms.mathvista_doc_to_text)


def parse_extraction(text: str) -> str | None:
    """An extraction is usable when non-empty (lmms-eval's ``verify_extraction``)."""
    return text.strip() if _evals.MathVistaEvaluator.verify_extraction(None, text) else None


class _JudgedEvaluator(_evals.MathVistaEvaluator):
    """lmms-eval's evaluator with the LLM call answered by our judge."""

    def __init__(self, sample: str) -> None:
        super().__init__(quick_extract=QUICK_EXTRACT)
        self.sample = sample

    def get_chat_response(self, prompt, temperature=0, max_tokens=256, n=1, patience=5, sleep_time=0):
        judgment = judge_or_raise(
            TASK,
            self.sample,
            [{"role": "user", "content": prompt}],
            parse_extraction,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        return judgment.value


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    sample = sample_label(doc, "pid")
    precision = doc.get("precision")
    if isinstance(precision, float) and precision.is_integer():
        # The hub column is float64 (1.0); lmms-eval's round(x, 1.0) raises TypeError inside
        # normalize_extracted_answer, which turns every float answer into None = wrong.
        doc = {**doc, "precision": int(precision)}
    score = rebind(
        _lmms.mathvista_process_results,
        mathvista_evaluator=_JudgedEvaluator(sample),
        config={"metadata": {"quick_extract": QUICK_EXTRACT}},
    )
    try:
        metrics = score(doc, results)
    except JudgeFailed as failed:
        return {runtime.FAILURES_METRIC: runtime.failure_metric(failed.judgment, sample)}
    metrics.pop("submission", None)  # lmms-eval's duplicate record for test-set uploads
    metrics[runtime.FAILURES_METRIC] = runtime.failure_metric(None, sample)
    return metrics


def aggregate_accuracy(results: list[dict[str, Any]], args: Any = None) -> float | None:
    """lmms-eval's ``mathvista_aggregate_results`` over the judged samples, 0-100.

    It returns None for an accuracy of exactly 0 (a quirk); we report that as 0.0 so a
    real zero is not mistaken for "no result". None remains for "no sample scored".
    """
    if not results:
        return None
    accuracy = _lmms.mathvista_aggregate_results(results, args)
    return 0.0 if accuracy is None else accuracy
