"""LLaVA-Interleave Bench split into the paper's Table 4 columns.

lmms-eval ships the bench as three configs (in-domain, multi-view, out-of-domain)
that each return ONE number (``overall_score`` = mean over its sub-task categories)
and only *log* the per-category scores. The paper reports every category as its own
column (Table 4) and, in Table 2, the out-domain average (see docs/interleave_bench.md).
So each column here is its own task: the same hub config, filtered by the bench's
own ``sub_task`` field with lmms-eval's own category lists, scored per doc by
lmms-eval's own ``interleave_process_results`` (multiple-choice letter match or
ROUGE-L F1 for open-ended answers) and aggregated by its own ``overall_score``.
Reusing those functions (never copies) keeps the numbers identical to what
lmms-eval would log for that category.

lmms-eval's interleave utils import the ``rouge`` package at module import, so it is
imported lazily: our task modules must import without optional packages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from ov_eval.tasks.inputs import NoRowsSelected, sample_where
from ov_eval.tasks.lmms_tasks import import_task_module

CONFIG_IN_DOMAIN = "in_domain"
CONFIG_MULTI_VIEW = "multi_view_in_domain"
CONFIG_OUT_DOMAIN = "out_of_domain"

METRIC = "interleave_score"


@dataclass(frozen=True)
class Column:
    """One Table 4 column: the hub config it lives in and the lmms-eval category list naming its sub-tasks."""

    task: str
    paper_name: str
    config: str
    lmms_eval_list: str  # attribute of lmms_eval.tasks.llava_interleave_bench.utils


# Paper Table 4 order. The lmms-eval list names are that module's (typos included).
COLUMNS: tuple[Column, ...] = (
    Column("ov_interleave_iei", "IEI", CONFIG_IN_DOMAIN, "image_edit_instruct"),
    Column("ov_interleave_mivqa", "MI-VQA", CONFIG_IN_DOMAIN, "multi_image_vqa"),
    Column("ov_interleave_nlvr2", "NLVR2", CONFIG_IN_DOMAIN, "nlrv2"),
    Column("ov_interleave_puzzle", "Puzzle", CONFIG_IN_DOMAIN, "puzzle"),
    Column("ov_interleave_qbench", "Q-Bench", CONFIG_IN_DOMAIN, "qbench"),
    Column("ov_interleave_spot_diff", "Spot-Diff", CONFIG_IN_DOMAIN, "spot_the_diff"),
    Column("ov_interleave_trvqa", "TR-VQA", CONFIG_IN_DOMAIN, "text_rich_vqa"),
    Column("ov_interleave_vst", "VST", CONFIG_IN_DOMAIN, "visual_story_telling"),
    Column("ov_interleave_3d_chat", "3D-Chat", CONFIG_MULTI_VIEW, "scannet_chat"),
    Column("ov_interleave_3d_td", "3D-TD", CONFIG_MULTI_VIEW, "scannet_task"),
    Column("ov_interleave_scanqa", "ScanQA", CONFIG_MULTI_VIEW, "scan_qa"),
    Column("ov_interleave_alfred", "ALFRED", CONFIG_MULTI_VIEW, "alfred"),
    Column("ov_interleave_nuscenes", "nuScenes", CONFIG_MULTI_VIEW, "nuscenes"),
    Column("ov_blink", "BLINK", CONFIG_OUT_DOMAIN, "blink"),
    Column("ov_mantis", "Mantis", CONFIG_OUT_DOMAIN, "mantis"),
    Column("ov_mathverse_mv", "MathVerse", CONFIG_OUT_DOMAIN, "math_verse"),
    Column("ov_sciverse_mv", "SciVerse", CONFIG_OUT_DOMAIN, "sci_verse"),
)
COLUMNS_BY_TASK: dict[str, Column] = {c.task: c for c in COLUMNS}

# The four columns whose unweighted mean is the paper's Table 2 "LLaVA-Interleave" row
# (labelled "Out-domain" there); see docs/interleave_bench.md for the arithmetic.
TABLE2_COLUMNS: tuple[str, ...] = ("ov_blink", "ov_mantis", "ov_mathverse_mv", "ov_sciverse_mv")


@cache
def lmms_utils() -> ModuleType:
    """lmms-eval's interleave utils, imported on first use (it needs the ``rouge`` package)."""
    return import_task_module(
        "llava_interleave_bench.utils", {}, hf_home=False, needed_for="LLaVA-Interleave scoring"
    )


def sub_tasks(task: str) -> list[str]:
    """The raw ``sub_task`` values belonging to a column, from lmms-eval's own category lists."""
    return list(getattr(lmms_utils(), COLUMNS_BY_TASK[task].lmms_eval_list))


def filter_column(dataset, task: str):
    """Keep the rows of one column; an empty result means the hub data changed, so fail loudly."""
    wanted = set(sub_tasks(task))
    if "sub_task" not in dataset.column_names:
        raise ValueError(f"{task}: dataset has no 'sub_task' column (columns: {dataset.column_names})")
    subset = dataset.filter(lambda value: value in wanted, input_columns="sub_task")
    if len(subset) == 0:
        present = sorted(set(dataset["sub_task"]))
        raise NoRowsSelected(
            f"{task}: no rows with sub_task in {sorted(wanted)} "
            f"(config {COLUMNS_BY_TASK[task].config!r} has {present})",
            unfiltered=dataset,
        )
    return subset


_REFERENCE_ROLES = ("gpt", "assistant")


def with_multi_view_reference(dataset):
    """``multi_view_in_domain`` with an ``answer`` column to score against, derived if the data has none.

    The dataset card (lmms-lab/LLaVA-NeXT-Interleave-Bench README, ``dataset_info`` of
    ``multi_view_in_domain``) lists ``conversations`` (``from``/``value`` turns) and no ``answer``,
    while lmms-eval's scorer reads ``doc["answer"]`` and would fail after the whole run. The
    benchmark's own evaluation (LLaVA-NeXT ``llava/eval/model_vqa.py``) asks the first turn and
    scores against the reply after it; so does this: ``answer`` = turn 1, ``conversations`` =
    turn 0. Later rounds of a multi-round sample are not scored (the original feeds them the
    model's own earlier replies). Data that has ``answer`` is returned unchanged. Column
    operations on the un-filtered split are cheap (no image is rewritten); a row without a reply
    to score against fails here, before any model work, naming the sample.
    """
    if "answer" in dataset.column_names:
        return dataset
    if "conversations" not in dataset.column_names:
        raise ValueError(
            f"LLaVA-Interleave multi-view: no 'answer' and no 'conversations' column (columns: {dataset.column_names})"
        )
    ids = dataset["sample_id"] if "sample_id" in dataset.column_names else list(range(len(dataset)))
    prompts, answers = [], []
    for sample_id, turns in zip(ids, dataset["conversations"], strict=True):
        reply = turns[1] if isinstance(turns, list) and len(turns) >= 2 else None
        if not isinstance(reply, dict) or reply.get("from") not in _REFERENCE_ROLES or not reply.get("value"):
            raise ValueError(
                f"LLaVA-Interleave multi-view sample_id={sample_id!r}: no 'answer' column and no reply turn "
                "after the first question in 'conversations' to score against"
            )
        prompts.append(turns[:1])
        answers.append(reply["value"])
    feature = dataset.features["conversations"]
    dataset = dataset.remove_columns("conversations").add_column("conversations", prompts, feature=feature)
    return dataset.add_column("answer", answers)


def _process_docs_for(task: str) -> Callable:
    multi_view = COLUMNS_BY_TASK[task].config == CONFIG_MULTI_VIEW

    def process_docs(dataset):
        return filter_column(with_multi_view_reference(dataset) if multi_view else dataset, task)

    process_docs.__name__ = f"process_docs_{task.removeprefix('ov_')}"
    process_docs.__doc__ = f"``process_docs`` of {task}: rows whose sub_task is in {task}'s category."
    return process_docs


# One module-level callable per column, as YAML ``!function`` needs a named attribute.
process_docs_interleave_iei = _process_docs_for("ov_interleave_iei")
process_docs_interleave_mivqa = _process_docs_for("ov_interleave_mivqa")
process_docs_interleave_nlvr2 = _process_docs_for("ov_interleave_nlvr2")
process_docs_interleave_puzzle = _process_docs_for("ov_interleave_puzzle")
process_docs_interleave_qbench = _process_docs_for("ov_interleave_qbench")
process_docs_interleave_spot_diff = _process_docs_for("ov_interleave_spot_diff")
process_docs_interleave_trvqa = _process_docs_for("ov_interleave_trvqa")
process_docs_interleave_vst = _process_docs_for("ov_interleave_vst")
process_docs_interleave_3d_chat = _process_docs_for("ov_interleave_3d_chat")
process_docs_interleave_3d_td = _process_docs_for("ov_interleave_3d_td")
process_docs_interleave_scanqa = _process_docs_for("ov_interleave_scanqa")
process_docs_interleave_alfred = _process_docs_for("ov_interleave_alfred")
process_docs_interleave_nuscenes = _process_docs_for("ov_interleave_nuscenes")
process_docs_blink = _process_docs_for("ov_blink")
process_docs_mantis = _process_docs_for("ov_mantis")
process_docs_mathverse_mv = _process_docs_for("ov_mathverse_mv")
process_docs_sciverse_mv = _process_docs_for("ov_sciverse_mv")


def _where(doc: dict[str, Any]) -> str:
    return sample_where("LLaVA-Interleave", doc, "sample_id", context="sub_task")


def doc_to_visual(doc: dict[str, Any]) -> list:
    """lmms-eval's ``doc_to_visual`` (image_0..image_15, None skipped, RGB copies), refusing empty samples.

    lmms-eval prints and skips an image that fails to open; a multi-image question
    with an image silently missing would be scored as if the model had seen it all.
    """
    visuals = lmms_utils().doc_to_visual(doc)
    if not visuals:
        raise ValueError(f"{_where(doc)}: no images in image_0..image_15")
    return visuals


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    """In/out-domain prompt: lmms-eval's (the dataset question verbatim with the default empty post-prompts)."""
    if not isinstance(doc.get("question"), str) or not doc["question"].strip():
        raise ValueError(f"{_where(doc)}: missing or empty 'question'")
    return lmms_utils().doc_to_text(doc, lmms_eval_specific_kwargs)


def doc_to_text_multi_view(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    """Multi-view prompt: lmms-eval's ``doc_to_text_conversation`` (``json.dumps`` of the turns).

    That is the release's protocol: its ``llava_onevision`` replayed a JSON context as alternating
    user/assistant turns, and so does our adapter (``ov_eval.models.prompting``), also for a
    single turn. We only check first that the turns can be replayed, naming the sample.
    """
    conversations = doc.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise ValueError(f"{_where(doc)}: 'conversations' must be a non-empty list of turns")
    for i, turn in enumerate(conversations):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise ValueError(f"{_where(doc)}: conversations[{i}] has no text 'value'")
    if len(conversations) % 2 == 0:
        raise ValueError(
            f"{_where(doc)}: {len(conversations)} turns; the prompt must end with a user turn (odd count)"
        )
    return lmms_utils().doc_to_text_conversation(doc, lmms_eval_specific_kwargs)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """lmms-eval's per-doc score (letter match for multi-choice, ROUGE-L F1 for open-ended) under our key."""
    if "answer" not in doc or doc["answer"] is None:
        raise ValueError(f"{_where(doc)}: no 'answer' to score against")
    return {METRIC: lmms_utils().interleave_process_results(doc, results)["overall_score"]}


def aggregate(results: list[dict[str, Any]]) -> float:
    """lmms-eval's ``overall_score``: mean over matched categories of the per-category mean (0-1).

    Within one column all docs fall into one category, so this is the column's mean score.
    """
    return lmms_utils().overall_score(results)
