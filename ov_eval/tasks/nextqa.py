"""NExT-QA multiple choice, test split (paper Table 5 "NextQA mc").

Prompt (question + ``A.``..``E.`` options, no instruction suffix) and the MMMU-style
letter parser are lmms-eval's ``nextqa_mc_test`` functions. lmms-eval's module
reads ``os.environ["HF_HOME"]`` and calls ``nltk.download`` when imported, so it is
imported lazily (our task modules must import offline, without HF_HOME).
Note: like lmms-eval, an answer with no recognisable letter is replaced by a random
letter (seeded by lmms-eval's ``--seed``), as in MMMU's protocol.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

from ov_eval.tasks.inputs import is_integer, sample_where
from ov_eval.tasks.lmms_tasks import import_task_module
from ov_eval.tasks.video_files import resolve_video

DATASET_PATH = "lmms-eval/NExTQA"
CACHE_DIR = "nextqa"  # lmms-eval: $HF_HOME/nextqa/NExTVideo/<video>.mp4
NUM_OPTIONS = 5


@cache
def _lmms_nextqa() -> ModuleType:
    """lmms-eval's NExT-QA utils, imported on first use (its import-time cache path is unused)."""
    return import_task_module("nextqa.utils", {})


def _where(doc: dict[str, Any]) -> str:
    return sample_where("NExT-QA", doc, "video", "qid")


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [resolve_video(DATASET_PATH, CACHE_DIR, f"NExTVideo/{doc['video']}", extensions=(".mp4", ".MP4"))]


def doc_to_text(doc: dict[str, Any]) -> str:
    missing = [f"a{i}" for i in range(NUM_OPTIONS) if not isinstance(doc.get(f"a{i}"), str)]
    if missing:
        raise ValueError(f"{_where(doc)}: option columns {missing} are missing or not text")
    return _lmms_nextqa().nextqa_doc_to_text_mc(doc)


def doc_to_target(doc: dict[str, Any]) -> int:
    return _lmms_nextqa().nextqa_doc_to_target(doc)


def answer_index(doc: dict[str, Any]) -> int:
    """``answer`` as an option index 0-4. No dataset card lists its dtype: an int or a numeric
    string ("3") are both accepted; lmms-eval's scorer indexes a list with it, so it gets an int."""
    value = doc.get("answer")
    if not is_integer(value) or not 0 <= int(value) < NUM_OPTIONS:
        raise ValueError(f"{_where(doc)}: answer {value!r} is not an option index 0-4")
    return int(value)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    return _lmms_nextqa().nextqa_mc_process_results({**doc, "answer": answer_index(doc)}, results)
