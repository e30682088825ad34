"""EgoSchema, the offline-scorable 500-question ``Subset`` config (paper Table 5 "EgoSchema").

The paper reports the FULL test set (5,031 questions, scored by the EgoSchema
server, which needs network); only the Subset has public answers, so this task
runs the Subset and every report must say so (docs/tasks_video.md). Prompt, answer
parsing and accuracy are lmms-eval's own functions (the YAML imports them); only
the video lookup is ours, so that ``OV_EVAL_DATA_DIR`` copies and clear errors work.
"""

from __future__ import annotations

from typing import Any

from lmms_eval.tasks.egoschema.utils import egoschema_process_results_generation

from ov_eval.tasks.inputs import sample_where
from ov_eval.tasks.video_files import resolve_video

DATASET_PATH = "lmms-eval/egoschema"
CACHE_DIR = "egoschema"  # lmms-eval: $HF_HOME/egoschema/videos/<video_idx>.mp4
NUM_OPTIONS = 5


def _where(doc: dict[str, Any]) -> str:
    return sample_where("EgoSchema", doc, "question_idx", "video_idx")


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    """The video file; the model samples the frames (``max_frames_num``)."""
    return [resolve_video(DATASET_PATH, CACHE_DIR, f"videos/{doc['video_idx']}", extensions=(".mp4", ".MP4"))]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's letter parsing and scoring, after checking the doc can be scored at all.

    Full-set docs carry ``answer=None``; lmms-eval would silently count them as wrong.
    """
    options = doc.get("option")
    if not isinstance(options, list) or len(options) != NUM_OPTIONS:
        raise ValueError(f"{_where(doc)}: 'option' must list {NUM_OPTIONS} choices, got {options!r}")
    if doc.get("answer") is None or str(doc["answer"]) not in {str(i) for i in range(NUM_OPTIONS)}:
        raise ValueError(
            f"{_where(doc)}: answer {doc.get('answer')!r} is not an option index 0-4; only the 500-question "
            "'Subset' config has public answers (the full set is scored by the EgoSchema server)"
        )
    scored = egoschema_process_results_generation(doc, results)
    return {"score": scored["score"]}  # its "submission" entry only feeds the full set's server upload
