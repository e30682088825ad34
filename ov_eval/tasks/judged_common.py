"""Reusing lmms-eval's GPT-judged task code with our judge as its transport.

(Importing those modules despite their import-time side effects is
``ov_eval.tasks.lmms_tasks``' job.)

* ``rebind``: lmms-eval builds the exact judge prompt and the result record inside
  functions that also send the request (``requests.post`` / an ``OpenAIVerifier``
  pipeline / ``MathVistaEvaluator.get_chat_response``). ``rebind`` makes a copy of
  such a function whose *global* names (``requests``, ``_get_pipeline``,
  ``mathvista_evaluator``...) point at our judge instead. The prompt text, parsing and
  result shape stay lmms-eval's own code; only the transport changes. A copy (not a
  monkeypatch of the module) because lmms-eval calls ``process_results`` from
  several threads at once.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from ov_eval.judge import runtime

Prompt = Callable[[dict[str, Any], "dict[str, Any] | None"], str]


def judged_doc_to_text(task: str, prompt: Prompt) -> Callable[..., str]:
    """A ``doc_to_text`` returning lmms-eval's ``prompt`` once a judge is known to be configured.

    lmms-eval builds the prompts before generating; checking the judge there stops a run
    that nobody could score before any generation time is spent, instead of at scoring.
    """

    def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
        runtime.require_judge(task)  # stop before generation if nobody can score it
        return prompt(doc, lmms_eval_specific_kwargs)

    doc_to_text.__doc__ = f"lmms-eval's {task} prompt, after checking that a judge is configured."
    return doc_to_text


def rebind(function: Callable[..., Any], **globals_: Any) -> Callable[..., Any]:
    """A copy of ``function`` that sees ``globals_`` instead of its module's globals of those names."""
    namespace = {**function.__globals__, **globals_}
    copy = types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


class JudgeFailed(BaseException):  # noqa: N818 - a control-flow signal, not an error class
    """Carries a failed ``Judgment`` out of lmms-eval code that swallows ``Exception``.

    lmms-eval's extraction and scoring functions catch ``Exception`` and turn judge
    trouble into a 0 score. Deriving from ``BaseException`` lets our failure pass
    through those handlers so the sample is excluded instead.
    """

    def __init__(self, judgment: Any) -> None:
        super().__init__(judgment.reason)
        self.judgment = judgment


def judge_or_raise(
    task: str,
    sample: str,
    messages: list[dict[str, Any]],
    parse: Callable[[str], Any],
    *,
    temperature: float,
    max_tokens: int,
) -> Any:
    """One judgment through ``ov_eval.judge``; a final failure raises ``JudgeFailed``.

    Called from inside lmms-eval's scoring code (in place of its transport), whose
    ``except Exception`` handlers would turn a failure into a 0 score: ``JudgeFailed``
    passes through them to ``score_with_judge``.
    """
    judgment = runtime.judge_sample(
        task, sample, messages, parse, temperature=temperature, max_tokens=max_tokens
    )
    if not judgment.ok:
        raise JudgeFailed(judgment)
    return judgment


def score_with_judge(
    score: Callable[[dict[str, Any], list[str]], dict[str, Any]],
    doc: dict[str, Any],
    results: list[str],
    sample: str,
) -> dict[str, Any]:
    """``score(doc, results)`` plus the ``judge_failures`` entry; only that entry when the judgment failed,
    so the sample is excluded from every score and counted."""
    try:
        metrics = score(doc, results)
    except JudgeFailed as failed:
        return {runtime.FAILURES_METRIC: runtime.failure_metric(failed.judgment, sample)}
    metrics[runtime.FAILURES_METRIC] = runtime.failure_metric(None, sample)
    return metrics


# ------------------------------------------------------------------ lmms-eval requests-based judges
class CapturedPost:
    """Stands in for ``requests`` in lmms-eval's ``get_eval_*``: keeps the payload, sends nothing."""

    exceptions = None  # only read by except clauses that never fire here

    def __init__(self) -> None:
        self.payload: dict[str, Any] | None = None

    def post(self, url: str, headers: dict, json: dict, timeout: float) -> CapturedPost:
        self.payload = json
        return self

    def raise_for_status(self) -> None:
        pass

    def json(self) -> dict[str, Any]:
        return {"choices": [{"message": {"content": "captured"}}], "model": "captured"}


def captured_payload(get_eval: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """The chat-completions payload lmms-eval's ``get_eval`` function builds for ``args``."""
    capture = CapturedPost()
    rebind(get_eval, requests=capture, headers={}, API_URL="", GPT_EVAL_MODEL_NAME="")(*args, retries=1)
    assert capture.payload is not None, f"lmms-eval's {get_eval.__name__} sent nothing"
    return capture.payload
