"""MM-Vet, paper Table 3: lmms-eval's ``mmvet`` scored by our judge.

lmms-eval's pieces are reused as they are: the prompt (``doc_to_text`` with the
"think step by step" pre-prompt), the few-shot ``MM_VET_PROMPT`` judge prompt built
inside ``mmvet_process_results`` (ground truth with spaced ``<AND>``/``<OR>``), its
score reading (first space-separated token as a float in [0, 1]), the judge sampling
parameters (``get_chat_response``'s defaults: temperature 0.0, 128 tokens) and
``mmvet_aggregate_results`` (mean x 100, per-capability scores logged). Only
``get_chat_response`` is answered by ``ov_eval.judge``.

Behaviour that differs from lmms-eval, on purpose:

* a judgment that fails (API errors, or a reply without a score in [0, 1] twice) is
  excluded and counted in ``judge_failures``; lmms-eval scores it 0.0 after re-asking
  with temperature raised by 0.5 up to 2.0 (and 5 s sleeps). A reply that parses to a
  number outside [0, 1] would make lmms-eval's loop ask forever; here it is unparsable.

Metrics: ``gpt_eval_score`` (0-100, the paper's number), ``judge_failures`` (count).
"""

from __future__ import annotations

import inspect
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

TASK = "ov_mmvet"

_lmms = import_task_module("mmvet.utils")

# lmms-eval calls get_chat_response(prompt, temperature=...) and relies on its defaults otherwise.
_CHAT_DEFAULTS = inspect.signature(_lmms.get_chat_response).parameters
JUDGE_TEMPERATURE: float = _CHAT_DEFAULTS["temperature"].default
JUDGE_MAX_TOKENS: int = _CHAT_DEFAULTS["max_tokens"].default

doc_to_visual = _lmms.mmvet_doc_to_visual
count_failures = runtime.count_failures


doc_to_text = judged_doc_to_text(TASK, _lmms.doc_to_text)


def parse_score(text: str) -> float | None:
    """The correctness score as ``mmvet_process_results`` reads it; None when it would not accept it.

    lmms-eval does this inline (``content.split(" ")[0]`` of the stripped reply, a float
    in [0, 1]), so it is restated here to decide whether a reply is usable; the score
    that counts is still read by lmms-eval's own code from the accepted reply.
    """
    try:
        score = float(text.strip().split(" ")[0].strip())
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's ``mmvet_process_results`` with ``get_chat_response`` answered by our judge."""
    sample = sample_label(doc, "question_id")
    client_model = runtime.get_client(TASK).config.model

    def judged_get_chat_response(
        prompt: str,
        model: str = "",
        temperature: float = JUDGE_TEMPERATURE,
        max_tokens: int = JUDGE_MAX_TOKENS,
        patience: int = 3,
        sleep_time: int = 5,
    ) -> tuple[str, str]:
        judgment = judge_or_raise(
            TASK,
            sample,
            [{"role": "user", "content": prompt}],
            parse_score,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        return judgment.content.strip(), client_model  # lmms-eval's transport strips the reply

    score = rebind(_lmms.mmvet_process_results, get_chat_response=judged_get_chat_response)
    return score_with_judge(score, doc, results, sample)


def aggregate_score(results: list[dict[str, Any]]) -> float | None:
    """lmms-eval's ``mmvet_aggregate_results`` (mean x 100); None when no sample was judged."""
    return _lmms.mmvet_aggregate_results(results) if results else None
