"""ImageDC (detailed captioning, ``dc100_en``), paper Tables 2-3: the paper-era 0-100 caption rating.

The paper reports ImageDC as a GPT score from 0 to 100 (83.0-92.5 in Table 3). That is
how lmms-eval scored ``dc100_en`` when the paper was written (lmms-eval commit
1d3f34ab, 2024-08, the LLaVA-OneVision release): the judge sees the image and the
model's caption, is asked "From 0 to 100, how much do you rate for this Text Caption
...", answers with an explanation ending in ``Final Score: <n>``, and the task reports
the mean (``gpt_eval_avg_score``, 0-100). lmms-eval 0.7.3 replaced this with a
text-only binary judgment (``llm_as_judge_eval``, mean of 0/1, no image sent), which
measures something else; we reproduce the paper's scoring.

Reused from lmms-eval 0.7.3's ``internal_eval`` modules, where the paper-era pieces
still live: ``doc_to_visual``, ``doc_to_text``, the rating prompt
``EVALUATION_PROMPT_TEMPLATE_SIMPLE_V1``, ``image_to_base64`` and the aggregation
``dc100_en_aggregate_avg_score``. Written here from the paper-era code (no longer in
0.7.3): the judge message (prompt text, then the image as ``data:image/jpeg;base64,...``
of the PNG bytes, exactly as then, in the API's ``{"url": ...}`` form), the sampling
(temperature 0, max_tokens 1024) and the parse ``Final Score: (\\d+)``.

Deviations from the paper-era code: a judge answer without a final score (or a score
outside 0-100) is asked once more and then excluded and counted in
``judge_failures`` (the paper-era code scored it 0); markdown emphasis is removed
before the ``Final Score:`` search, so ``**Final Score:** 85`` reads as 85 (current
GPT-4o writes that; a literal reading would score it 0). The samples log keeps the
judge's explanation next to each score.
"""

from __future__ import annotations

import re
from typing import Any

from ov_eval.judge import runtime
from ov_eval.tasks.inputs import sample_label
from ov_eval.tasks.judged_common import judged_doc_to_text
from ov_eval.tasks.lmms_tasks import import_task_module

TASK = "ov_imagedc"
METRIC = "gpt_eval_avg_score"  # the paper-era metric name (0-100)
JUDGE_TEMPERATURE = 0.0  # paper-era payload
JUDGE_MAX_TOKENS = 1024
FINAL_SCORE = re.compile(r"Final Score: (\d+)")  # paper-era parse

_lmms = import_task_module("internal_eval.dc100_en_utils")
_text = import_task_module("internal_eval.utils")

doc_to_visual = _lmms.doc_to_visual
aggregate_avg_score = _lmms.dc100_en_aggregate_avg_score
count_failures = runtime.count_failures


doc_to_text = judged_doc_to_text(TASK, _text.doc_to_text)


def parse_final_score(text: str) -> int | None:
    """The integer after ``Final Score:`` (0-100); None when there is none."""
    match = FINAL_SCORE.search(text.replace("*", ""))
    if match is None:
        return None
    score = int(match.group(1))
    return score if 0 <= score <= 100 else None


def judge_messages(caption: str, image: Any) -> list[dict[str, Any]]:
    """The paper-era judge request: rating prompt for ``caption``, then the image."""
    content: list[dict[str, Any]] = [
        {"type": "text", "text": _lmms.EVALUATION_PROMPT_TEMPLATE_SIMPLE_V1.format(caption=caption)}
    ]
    if image is not None:
        url = f"data:image/jpeg;base64,{_lmms.image_to_base64(image)}"
        content.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "user", "content": content}]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    sample = sample_label(doc, "question_id")
    caption = results[0] if results else ""
    judgment = runtime.judge_sample(
        TASK,
        sample,
        judge_messages(caption, doc.get("image")),
        parse_final_score,
        temperature=JUDGE_TEMPERATURE,
        max_tokens=JUDGE_MAX_TOKENS,
    )
    if not judgment.ok:
        return {runtime.FAILURES_METRIC: runtime.failure_metric(judgment, sample)}
    return {
        METRIC: {
            "question_id": doc.get("question_id"),
            "score": judgment.value,
            "explanation": judgment.content,
            "eval_model": runtime.get_client(TASK).config.model,
        },
        runtime.FAILURES_METRIC: runtime.failure_metric(None, sample),
    }
