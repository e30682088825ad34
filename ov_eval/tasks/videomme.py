"""Video-MME without and with subtitles, configured as the LLaVA-OV paper ran it (Table 5 "VideoMME wo/w-subs").

Why not lmms-eval's built-in ``videomme`` as is (docs/videomme.md has the details):
the paper's numbers come from lmms-eval at the LLaVA-OV release (commit 1d3f34ab,
2024-08-07), whose prompt wrote the four options as ONE line, the Python ``repr``
of the options list (``['A. ...', 'B. ...', 'C. ...', 'D. ...']``). lmms-eval
switched to one option per line in Oct 2024 (commit 7a191d22); the installed 0.7.3
uses that, which is easier for the model and one reason users see scores above the
paper. Everything else is reused from the installed lmms-eval by import:
the prompt text (by handing its ``videomme_doc_to_text`` the options already as
that single repr line), ``.srt`` parsing and cue timing (``extract_subtitles``),
answer extraction and the overall accuracy (0-100).

Subtitles policy (``videomme_w_subtitle`` at the release, unchanged since): only the
cues covering one of the ``frame_num`` (32) frames sampled uniformly with
``np.linspace(0, total_frames - 1, frame_num, dtype=int)`` -- the same indices our
adapter feeds the model at ``max_frames_num=32`` -- in the order lmms-eval listed
them (``list(set(cue_indices))``); the text inside Video-MME's
``<font color="white" size=".72c">`` tag; "No subtitles available" for videos without
an ``.srt``. Deviation: a cue without that tag keeps its plain text (lmms-eval drops
it); every Video-MME subtitle cue has the tag, so paper data are unaffected.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from lmms_eval.tasks.videomme.utils import (
    CATEGORIES,
    SUB_CATEGORIES,
    TASK_CATEGORIES,
    VIDEO_TYPE,
    extract_subtitles,
    videomme_doc_to_text,
    videomme_process_results,
)

from ov_eval.tasks.inputs import sample_where
from ov_eval.tasks.video_files import resolve_video

DATASET_PATH = "lmms-eval/Video-MME"
CACHE_DIR = "videomme"  # lmms-eval: $HF_HOME/videomme/data/<videoID>.mp4, .../subtitle/<videoID>.srt
VIDEO_EXTENSIONS = (".mp4", ".MP4", ".mkv")
SUBTITLES_INTRO = "This video's subtitles are listed below: \n"
NO_SUBTITLES = "No subtitles available"
SUBTITLES_ANSWER_CUE = "The best answer is:"
_FONT_TAG = re.compile(r'<font color="white" size=".72c">(.*?)</font>')
_ANY_TAG = re.compile(r"<[^>]+>")


def _where(doc: dict[str, Any]) -> str:
    return sample_where("Video-MME", doc, "question_id", context="videoID")


def _check_options(doc: dict[str, Any]) -> list[str]:
    options = doc.get("options")
    if not isinstance(options, list) or len(options) != 4 or not all(isinstance(o, str) for o in options):
        raise ValueError(
            f"{_where(doc)}: 'options' must be 4 strings ('A. ...' .. 'D. ...'), got {options!r}"
        )
    return options


def _paper_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The doc with its options pre-rendered the release way: one line, ``str(list)``."""
    return {**doc, "options": [str(list(_check_options(doc)))]}


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [video_path(doc)]


def video_path(doc: dict[str, Any]) -> str:
    return resolve_video(DATASET_PATH, CACHE_DIR, f"data/{doc['videoID']}", extensions=VIDEO_EXTENSIONS)


def subtitle_path(doc: dict[str, Any]) -> str | None:
    """The video's ``.srt``, or None: many Video-MME videos have no subtitles (prompt says so)."""
    try:
        return resolve_video(DATASET_PATH, CACHE_DIR, f"subtitle/{doc['videoID']}", extensions=(".srt",))
    except FileNotFoundError:
        return None


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """Frames only: lmms-eval's prompt with the release-time option line."""
    return videomme_doc_to_text(_paper_doc(doc), lmms_eval_specific_kwargs or {})


def _cue_text(raw: str) -> str:
    tagged = _FONT_TAG.findall(raw)
    return tagged[0] if tagged else _ANY_TAG.sub("", raw).strip()


def sampled_subtitles(video: str, srt: str, frame_num: int) -> list[str]:
    """Texts of the cues that cover one of the ``frame_num`` uniformly sampled frames."""
    cues, total_frames = extract_subtitles(video, srt)  # lmms-eval: cv2 fps/frame count, cue -> frame span
    if total_frames < 1:
        raise ValueError(f"cannot count the frames of {video} (OpenCV reads {total_frames})")
    frames = np.linspace(0, total_frames - 1, frame_num, dtype=int).tolist()
    covering = [idx for f in frames for idx, (start, end, _) in enumerate(cues) if start <= f < end]
    return [_cue_text(cues[idx][2]) for idx in list(set(covering))]  # lmms-eval's order, kept for parity


def doc_to_text_subtitles(
    doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
) -> str:
    """Frames + subtitles of the sampled frames, then the question (the release's ``videomme_w_subtitle``)."""
    kwargs = lmms_eval_specific_kwargs or {}
    frame_num = int(kwargs.get("frame_num", 32))
    srt = subtitle_path(doc)
    if srt is None:
        subtitles = NO_SUBTITLES
    else:
        try:
            subtitles = "\n".join(sampled_subtitles(video_path(doc), srt, frame_num))
        except (OSError, ValueError, IndexError) as exc:
            raise ValueError(
                f"{_where(doc)}: cannot read subtitles {srt}: {type(exc).__name__}: {exc}"
            ) from exc
    # lmms-eval's question block ends with the post_prompt; the subtitle variant ends with the answer cue instead
    question = videomme_doc_to_text(_paper_doc(doc), {"post_prompt": SUBTITLES_ANSWER_CUE})
    return SUBTITLES_INTRO + subtitles + "\n" + question


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's scoring, after checking the fields its aggregation looks up (else a late bare KeyError)."""
    for field, allowed in (
        ("duration", VIDEO_TYPE),
        ("domain", CATEGORIES),
        ("sub_category", SUB_CATEGORIES),
        ("task_type", TASK_CATEGORIES),
    ):
        if doc.get(field) not in allowed:
            raise ValueError(
                f"{_where(doc)}: {field}={doc.get(field)!r} is not one of Video-MME's {list(allowed)}"
            )
    if doc.get("answer") not in ("A", "B", "C", "D"):
        raise ValueError(f"{_where(doc)}: answer {doc.get('answer')!r} is not a letter A-D")
    return videomme_process_results(doc, results)
