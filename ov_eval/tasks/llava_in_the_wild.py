"""LLaVA-Bench (in-the-wild), paper Table 3: lmms-eval's ``llava_in_the_wild`` scored by our judge.

Everything task-specific is lmms-eval's (prompt, ``rule.json`` judge prompts, the
"[Context] ... [System]" review prompt, score-line parsing, relative-score
aggregation ``100 * mean(model) / mean(reference)``); we swap the transport
(``OpenAIVerifier`` pipeline -> ``ov_eval.judge``) so that judgments are cached,
retried and accounted, and a failed judgment is excluded instead of entering the
mean as ``[-1, -1]`` (lmms-eval's behaviour, which silently lowers the score).

The judge call itself is the one that produced the paper's numbers (lmms-eval at the
LLaVA-OneVision release): a system turn "You are a helpful and precise assistant for
checking the quality of the answer." before the review prompt, temperature 0.2 and
max_tokens 1024. lmms-eval 0.7.3 sends the review prompt alone at its verifier's defaults;
the system turn and the sampling change the judge's ratings (reports/fidelity.yaml).

Metrics: ``gpt_eval_llava_all`` (the paper's number, 0-100 relative score) and the
per-category ``gpt_eval_llava_conv|detail|complex``; ``judge_failures`` (count).
"""

from __future__ import annotations

from typing import Any

from lmms_eval.verifiers import VerifyResult

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import (
    judge_or_raise,
    judged_doc_to_text,
    rebind,
    score_with_judge,
)
from ov_eval.tasks.lmms_tasks import import_task_module

TASK = "ov_llava_in_the_wild"
_lmms = import_task_module("llava-in-the-wild.utils")

# The release's get_eval (llava-in-the-wild/utils.py at the LLaVA-OneVision release commit).
JUDGE_SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
JUDGE_TEMPERATURE: float = 0.2
JUDGE_MAX_TOKENS: int = 1024

doc_to_visual = _lmms.llava_doc_to_visual
all_aggregation = _lmms.llava_all_aggregation
conv_aggregation = _lmms.llava_conv_aggregation
detail_aggregation = _lmms.llava_detail_aggregation
complex_aggregation = _lmms.llava_complex_aggregation
count_failures = runtime.count_failures


doc_to_text = judged_doc_to_text(TASK, _lmms.llava_doc_to_text)


def parse_scores(text: str) -> list[float] | None:
    """``[reference, model]`` scores via lmms-eval's parser; None when it found no score pair."""
    scores = _lmms._parse_comparative_scores(text).metadata["scores"]
    return None if scores == [-1, -1] else scores


def judge_messages(content: str) -> list[dict[str, str]]:
    """The release's judge conversation: its fixed system turn, then lmms-eval's review prompt."""
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": content}]


class _JudgePipeline:
    """Stands in for lmms-eval's VerificationPipeline: same call, our judge behind it."""

    def __init__(self, sample: str) -> None:
        self.sample = sample

    def __call__(self, *, question: str, prediction: str, ground_truth: str, content: str) -> VerifyResult:
        judgment = judge_or_raise(
            TASK,
            self.sample,
            judge_messages(content),
            parse_scores,
            temperature=JUDGE_TEMPERATURE,
            max_tokens=JUDGE_MAX_TOKENS,
        )
        return VerifyResult(
            score=0.0,
            is_correct=False,
            raw_output=judgment.content or "",
            metadata={"scores": judgment.value},
        )


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    sample = sample_label(doc, "question_id")
    score = rebind(
        _lmms.llava_process_results,
        _get_pipeline=lambda: _JudgePipeline(sample),
        MODEL_VERSION=runtime.get_client(TASK).config.model,
    )
    return score_with_judge(score, doc, results, sample)
