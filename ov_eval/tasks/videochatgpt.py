"""VideoChatGPT, paper Table 5 (one 0-5 score): lmms-eval's ``videochatgpt`` judged by our judge.

lmms-eval's ``videochatgpt`` is a group of three tasks over the three configs of the
hub dataset, scored on five judge dimensions (Video-ChatGPT's benchmark):

* ``videochatgpt_gen`` (``Generic``): correctness, detailed orientation, context; three
  judgments per question;
* ``videochatgpt_temporal`` (``Temporal``): temporal understanding;
* ``videochatgpt_consistency`` (``Consistency``): two phrasings of one question per
  video; the two answers are paired per video and judged together in the aggregation.

The group has **no aggregate** in lmms-eval, but the paper reports one number: we
report the mean of the five dimension scores (each dimension = mean 0-5 over its
judgments). Inferred: the paper does not define it; the five scores are what
lmms-eval's group yields and their average is the usual single Video-ChatGPT score.
``ov_videochatgpt`` is therefore a group with an aggregate: each sub-task also
reports ``gpt_eval_score`` = the mean of its own dimensions, as a ``DimensionMean``
(a float that remembers how many dimensions it averages: 3, 1, 1), and the group's
``mean_over_dimensions`` weights them by that count, giving
``(correctness + detail + context + temporal + consistency) / 5`` whatever order
lmms-eval hands the sub-task values in. A plain mean over the three sub-tasks would
weight Generic's three dimensions as one.

Reused from lmms-eval: prompts (``videochatgpt_doc_to_text[_consistency]``), the
judge messages (built inside ``get_eval_generic`` / ``get_eval_consistency``, captured
instead of POSTed), ``parse_score``, the per-doc result records
(``videochatgpt_process_results_*``), the consistency pairing and its submission /
evaluation files (``videochatgpt_aggregate_submissions_consistency``,
``videochatgpt_gpt_eval``) and the mean (``videochatgpt_aggregate_score``). Ours: the
transport (``ov_eval.judge``), video lookup (``resolve_video``: honours
``OV_EVAL_DATA_DIR``; lmms-eval's reads ``HF_HOME`` at import and ``sys.exit``s on a
missing file), and failures: a failed judgment (after retries, or unparsable twice) is
excluded from its dimension and counted in ``judge_failures`` — lmms-eval scores 0 for
all three Generic dimensions of a question when one request fails, and 0 for a
consistency pair.
"""

from __future__ import annotations

import ast
import copy
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from ov_eval.judge import runtime
from ov_eval.judge.client import Judgment
from ov_eval.tasks.judged_common import captured_payload, judged_doc_to_text, rebind
from ov_eval.tasks.lmms_tasks import import_task_module
from ov_eval.tasks.video_files import resolve_video

GROUP = "ov_videochatgpt"
TASK_GENERIC = "ov_videochatgpt_gen"
TASK_TEMPORAL = "ov_videochatgpt_temporal"
TASK_CONSISTENCY = "ov_videochatgpt_consistency"
DATASET_PATH = "lmms-eval/VideoChatGPT"
CACHE_DIR = "videochatgpt"  # lmms-eval's dataset_kwargs.cache_dir (shared with video_dc499)
VIDEO_DIR = "Test_Videos"
VIDEO_EXTENSIONS = (".mp4", ".MP4", ".mkv")  # lmms-eval's search order
JUDGE_MAX_TOKENS = 64  # what lmms-eval passes to get_eval_generic / get_eval_consistency
# lmms-eval's judge "task" argument -> its metric name
DIMENSIONS = {
    "correctness": "gpt_eval_score_correctness",
    "detailed_orientation": "gpt_eval_score_detailed_orientation",
    "context": "gpt_eval_score_context",
    "temporal": "gpt_eval_score_temporal",
}
GENERIC_METRICS = tuple(DIMENSIONS[d] for d in ("correctness", "detailed_orientation", "context"))
TEMPORAL_METRICS = (DIMENSIONS["temporal"],)
OVERALL_METRIC = "gpt_eval_score"
FAILED_REVIEW = "[ov-eval: judgment failed]"  # what a failed judgment looks like to lmms-eval's code

_lmms = import_task_module("videochatgpt.utils")

doc_to_target = _lmms.videochatgpt_doc_to_answer


# --------------------------------------------------------------------------- prompting
def video_file(dataset_path: str, doc: dict[str, Any]) -> str:
    """``<videos>/Test_Videos/<video_name>.{mp4,MP4,mkv}``: lmms-eval's layout below ``videochatgpt``."""
    return resolve_video(dataset_path, CACHE_DIR, f"{VIDEO_DIR}/{doc['video_name']}", VIDEO_EXTENSIONS)


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [video_file(DATASET_PATH, doc)]


doc_to_text_generic = judged_doc_to_text(TASK_GENERIC, _lmms.videochatgpt_doc_to_text)


doc_to_text_temporal = judged_doc_to_text(TASK_TEMPORAL, _lmms.videochatgpt_doc_to_text)


doc_to_text_consistency = judged_doc_to_text(TASK_CONSISTENCY, _lmms.videochatgpt_doc_to_text_consistency)


# --------------------------------------------------------------------------- judge plumbing
def parse_review(text: str) -> int | None:
    """The score lmms-eval's ``parse_score`` reads from a review; None unless the review is a dict
    with a usable ``'score'`` (lmms-eval would silently score such a review 0)."""
    try:
        review = ast.literal_eval(text.strip())
        return int(review["score"]) if isinstance(review, dict) and "score" in review else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _parse_score(review: str) -> int | None:
    """lmms-eval's ``parse_score``, except that a failed judgment scores None (dropped), not 0."""
    return None if review == FAILED_REVIEW else _lmms.parse_score(review)


class _Unexpected(BaseException):  # noqa: N818 - carries a bug past lmms-eval's `except Exception`
    """lmms-eval's scoring code turns any Exception into a 0 score; a bug of ours must not be."""


def judge_payload(task: str, sample: str, payload: dict[str, Any]) -> Judgment:
    """Ask our judge what lmms-eval would have POSTed (its messages, temperature, max_tokens)."""
    return runtime.judge_sample(
        task,
        sample,
        payload["messages"],
        parse_review,
        temperature=payload["temperature"],
        max_tokens=payload["max_tokens"],
    )


def review_for_lmms(task: str, judgment: Judgment) -> tuple[str, str]:
    """What lmms-eval's ``get_eval_*`` returns: ``(stripped review, model)``; ``FAILED_REVIEW`` on failure."""
    if not judgment.ok:
        return FAILED_REVIEW, ""
    return (judgment.content or "").strip(), runtime.get_client(task).config.model


# --------------------------------------------------------------------------- Generic / Temporal
def _process_qa(task: str, lmms_fn: Callable[..., dict], doc: dict[str, Any], results: list[str]) -> dict:
    """Run lmms-eval's ``lmms_fn`` with each judge request answered by ours; drop failed dimensions."""
    failures: dict[str, dict[str, str]] = {}

    def get_eval_generic(question: str, answer: str, pred: str, dimension: str, max_tokens: int, retries=5):
        try:
            payload = captured_payload(_lmms.get_eval_generic, question, answer, pred, dimension, max_tokens)
            judgment = judge_payload(task, f"{doc['video_name']} [{dimension}] {question}", payload)
            if not judgment.ok:
                failures[dimension] = {
                    "dimension": dimension,
                    "kind": judgment.failure,
                    "reason": judgment.reason,
                }
            return review_for_lmms(task, judgment)
        except Exception as exc:
            raise _Unexpected() from exc

    score = rebind(lmms_fn, get_eval_generic=get_eval_generic, parse_score=_parse_score)
    try:
        metrics = score(doc, results)
    except _Unexpected as unexpected:
        raise unexpected.__cause__ from None  # type: ignore[misc]
    for dimension in failures:
        metrics.pop(DIMENSIONS[dimension], None)  # excluded from that dimension's mean
    metrics[OVERALL_METRIC] = {
        "video_name": doc["video_name"],
        "scores": {metric: record["score"] for metric, record in metrics.items()},
    }
    metrics[runtime.FAILURES_METRIC] = {
        "sample": doc["video_name"],
        "failed": bool(failures),
        "count": len(failures),
        "failures": list(failures.values()),
    }
    return metrics


def process_results_generic(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    return _process_qa(TASK_GENERIC, _lmms.videochatgpt_process_results_generic, doc, results)


def process_results_temporal(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    return _process_qa(TASK_TEMPORAL, _lmms.videochatgpt_process_results_temporal, doc, results)


# --------------------------------------------------------------------------- aggregation
class DimensionMean(float):
    """A sub-task's mean over its judge dimensions that remembers how many dimensions it averages."""

    dimensions: int

    def __new__(cls, value: float, dimensions: int) -> DimensionMean:
        obj = super().__new__(cls, value)
        obj.dimensions = dimensions
        return obj

    def __reduce__(self):
        return DimensionMean, (float(self), self.dimensions)


def aggregate_dimension(items: list[dict[str, Any]], args: Any = None) -> float:
    """One dimension's mean 0-5 (lmms-eval's ``videochatgpt_aggregate_score``); NaN with no judgment."""
    if not items:
        return math.nan
    return _lmms.videochatgpt_aggregate_score(items, args)


def _mean_of_dimensions(items: list[dict[str, Any]], metrics: Sequence[str]) -> DimensionMean:
    means = []
    for metric in metrics:
        scores = [item["scores"][metric] for item in items if metric in item["scores"]]
        if not scores:
            logger.error(f"[ov-eval judge] {metric}: no successful judgment; the score is NaN")
        means.append(sum(scores) / len(scores) if scores else math.nan)
    return DimensionMean(sum(means) / len(means), len(means))


def aggregate_generic(items: list[dict[str, Any]]) -> DimensionMean:
    """``gpt_eval_score`` of the Generic sub-task: mean of correctness, detail and context (3 dims)."""
    return _mean_of_dimensions(items, GENERIC_METRICS)


def aggregate_temporal(items: list[dict[str, Any]]) -> DimensionMean:
    """``gpt_eval_score`` of the Temporal sub-task: its one dimension."""
    return _mean_of_dimensions(items, TEMPORAL_METRICS)


def count_judgment_failures(items: list[dict[str, Any]]) -> int:
    """``judge_failures``: failed judgments (a Generic question has three), excluded from the scores."""
    return sum(item.get("count", int(bool(item.get("failed")))) for item in items)


def mean_over_dimensions(metrics: list[float], sizes: list[int], weight_by_size: bool = False) -> float:
    """Group aggregation: sub-task means weighted by their number of dimensions (mean of the five).

    lmms-eval calls this for every sub-task metric whose name contains ``gpt_eval_score``;
    those reported by one sub-task only (the five dimensions) are passed through.
    """
    if len(metrics) == 1:
        return float(metrics[0])
    dims = [getattr(value, "dimensions", None) for value in metrics]
    if None in dims:
        raise RuntimeError(
            f"{GROUP}: a sub-task's gpt_eval_score lost its dimension count ({metrics!r}); "
            "cannot form the mean of the five VideoChatGPT dimensions"
        )
    return sum(float(value) * d for value, d in zip(metrics, dims, strict=True)) / sum(dims)


def sum_over_subtasks(metrics: list[float], sizes: list[int], weight_by_size: bool = False) -> int:
    """Group aggregation of ``judge_failures``: the sub-tasks' counts added up."""
    return int(sum(metrics))


# --------------------------------------------------------------------------- Consistency
def process_results_consistency(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's record (video, which question, prediction); judged per pair in the aggregation."""
    record = _lmms.videochatgpt_process_results_consistency(doc, results)["gpt_eval_score_consistency"]
    return {
        "gpt_eval_score_consistency": record,
        OVERALL_METRIC: dict(record),
        runtime.FAILURES_METRIC: dict(record),
    }


_judged_pairs: dict[str, list[dict[str, Any]]] = {}  # the three aggregations share one judging pass


def _pair_key(pair: dict[str, Any]) -> tuple:
    return tuple(
        pair.get(k, "") for k in ("Q1", "Q2", "A", "pred1", "pred2")
    )  # as videochatgpt_gpt_eval reads


def judge_consistency_pairs(items: list[dict[str, Any]], args: Any = None) -> list[dict[str, Any]]:
    """lmms-eval's pairing and judging loop, our judge behind it; ``score`` None = failed judgment.

    Memoised on the items and output path (the task's three metrics get equal item lists),
    so each pair is judged once per run. lmms-eval's submission and evaluation files are written
    as usual (``<output_path>/submissions/``).
    """
    key = json.dumps([getattr(args, "output_path", None), items], sort_keys=True, default=str)
    if key not in _judged_pairs:
        records = copy.deepcopy(items)  # lmms-eval's pairing updates the records in place
        submission = _lmms.videochatgpt_aggregate_submissions_consistency(records, args, "consistency")
        pairs = json.loads(Path(submission).read_text())
        names = {_pair_key(pair): str(pair.get("video_name")) for pair in pairs}
        paired = 2 * len(pairs)
        if paired != len(items):
            logger.warning(
                f"[ov-eval judge] {TASK_CONSISTENCY}: {len(items) - paired} of {len(items)} answers have no "
                "partner question for their video and are not judged (lmms-eval's pairing)"
            )

        def get_eval_consistency(question1, question2, answer, pred1, pred2, max_tokens, retries=5):
            try:
                args_ = (question1, question2, answer, pred1, pred2, max_tokens)
                payload = captured_payload(_lmms.get_eval_consistency, *args_)
                sample = names.get((question1, question2, answer, pred1, pred2), str(question1))
                return review_for_lmms(TASK_CONSISTENCY, judge_payload(TASK_CONSISTENCY, sample, payload))
            except Exception as exc:
                raise _Unexpected() from exc

        evaluate = rebind(
            _lmms.videochatgpt_gpt_eval, get_eval_consistency=get_eval_consistency, parse_score=_parse_score
        )
        try:
            evaluated = evaluate(submission, args, "consistency")
        except _Unexpected as unexpected:
            raise unexpected.__cause__ from None  # type: ignore[misc]
        _judged_pairs[key] = json.loads(Path(evaluated).read_text())
    return _judged_pairs[key]


def aggregate_consistency(items: list[dict[str, Any]], args: Any = None) -> float:
    """``gpt_eval_score_consistency``: mean 0-5 over the pairs judged successfully."""
    judged = [pair for pair in judge_consistency_pairs(items, args) if pair["score"] is not None]
    if not judged:
        logger.error(f"[ov-eval judge] {TASK_CONSISTENCY}: no successful judgment; the score is NaN")
        return math.nan
    return _lmms.videochatgpt_aggregate_score(judged, args)


def aggregate_consistency_overall(items: list[dict[str, Any]], args: Any = None) -> DimensionMean:
    """``gpt_eval_score`` of the Consistency sub-task: its one dimension."""
    return DimensionMean(aggregate_consistency(items, args), 1)


def count_consistency_failures(items: list[dict[str, Any]], args: Any = None) -> int:
    """``judge_failures`` of the Consistency sub-task: pairs whose judgment failed."""
    return sum(1 for pair in judge_consistency_pairs(items, args) if pair["score"] is None)
