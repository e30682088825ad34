"""In-process checks of the video task functions: paper prompt parity with lmms-eval's own code,
M-Avg with missing task types, and bad inputs failing with the sample and the cause named."""

from __future__ import annotations

from pathlib import Path

import pytest

from ov_eval.demo.fixtures import video as fixtures
from ov_eval.demo.media import write_video
from ov_eval.tasks import (
    egoschema,
    longvideobench,
    mlvu,
    mvbench,
    nextqa,
    perceptiontest,
    seedbench_video,
    videomme,
)

VIDEOMME_DOC = {
    "videoID": "vid000",
    "duration": "short",
    "domain": "Knowledge",
    "sub_category": "Humanity & History",
    "task_type": "Counting Problem",
    "question_id": "001-1",
    "question": "How many colours does the clip show?",
    "options": ["A. 1", "B. 2", "C. 3", "D. 4"],
    "answer": "B",
}


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """An lmms-eval style ``$HF_HOME`` (no OV_EVAL_DATA_DIR): videomme/data + videomme/subtitle."""
    monkeypatch.delenv("OV_EVAL_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    write_video(tmp_path / "videomme" / "data" / "vid000.mp4", fixtures.LONG_FRAMES, fps=fixtures.FPS)
    (tmp_path / "videomme" / "subtitle").mkdir(parents=True)
    (tmp_path / "videomme" / "subtitle" / "vid000.srt").write_text(fixtures.VIDEOMME_SRT)
    return tmp_path


# ------------------------------------------------------------------------------- Video-MME prompts
RELEASE_OPTION_PROMPT = (  # lmms-eval at the LLaVA-OV release (1d3f34ab), videomme/utils.py
    "Select the best answer to the following multiple-choice question based on the video and the subtitles. "
    "Respond with only the letter (A, B, C, or D) of the correct option."
)


def test_videomme_prompt_is_the_release_prompt():
    # release: option_prompt + "\n" + question + "\n" + str(doc["options"]) + "\n" + post_prompt
    expected = (
        RELEASE_OPTION_PROMPT
        + "\nHow many colours does the clip show?\n['A. 1', 'B. 2', 'C. 3', 'D. 4']\n"
        + "\nAnswer with the option's letter from the given choices directly."
    )
    post = {"post_prompt": "\nAnswer with the option's letter from the given choices directly."}
    assert videomme.doc_to_text(VIDEOMME_DOC, post) == expected


def test_videomme_subtitle_prompt_equals_lmms_evals_own_function(hf_home, monkeypatch):
    """Same subtitles (cues covering the 32 sampled frames) and layout as lmms-eval's
    ``videomme_doc_to_text_subtitle``, fed the release-time one-line options."""
    import lmms_eval.tasks.videomme.utils as lmms_videomme

    monkeypatch.setattr(lmms_videomme, "base_cache_dir", str(hf_home))  # it reads HF_HOME at import
    release_doc = {**VIDEOMME_DOC, "options": [str(VIDEOMME_DOC["options"])]}
    theirs = lmms_videomme.videomme_doc_to_text_subtitle(release_doc, {"frame_num": 32})
    ours = videomme.doc_to_text_subtitles(VIDEOMME_DOC, {"frame_num": 32})
    assert ours == theirs
    assert "hello there\nthe end\n" in ours and "between two sampled frames" not in ours


def test_videomme_subtitles_follow_the_frame_budget(hf_home):
    video = str(hf_home / "videomme" / "data" / "vid000.mp4")
    srt = str(hf_home / "videomme" / "subtitle" / "vid000.srt")
    # 90 frames: frame_num=32 samples ..., 40, 43, ... so cue [41, 43) is missed; frame_num=90 takes
    # every frame, so all three cues show up
    assert videomme.sampled_subtitles(video, srt, 32) == fixtures.VIDEOMME_SAMPLED_SUBTITLES
    assert sorted(videomme.sampled_subtitles(video, srt, 90)) == sorted(
        ["hello there", "between two sampled frames", "the end"]
    )


def test_videomme_cue_without_font_tag_keeps_its_plain_text(hf_home):
    """Our one deviation: lmms-eval drops a cue without Video-MME's <font> tag; we keep its text."""
    srt = hf_home / "videomme" / "subtitle" / "vid000.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\n<i>plain words</i>\n")
    video = str(hf_home / "videomme" / "data" / "vid000.mp4")
    assert videomme.sampled_subtitles(video, str(srt), 32) == ["plain words"]


def test_videomme_without_srt_says_no_subtitles(hf_home):
    (hf_home / "videomme" / "subtitle" / "vid000.srt").unlink()
    prompt = videomme.doc_to_text_subtitles(VIDEOMME_DOC, {"frame_num": 32})
    assert prompt.startswith(
        "This video's subtitles are listed below: \nNo subtitles available\n" + RELEASE_OPTION_PROMPT
    )


def test_videomme_unknown_category_is_rejected_with_the_question_named():
    bad = {**VIDEOMME_DOC, "duration": "very long"}
    with pytest.raises(ValueError, match=r"question_id='001-1'.*duration='very long'"):
        videomme.process_results(bad, ["A"])


def test_videomme_missing_video_names_the_path(hf_home):
    with pytest.raises(FileNotFoundError, match="nope"):
        videomme.doc_to_visual({**VIDEOMME_DOC, "videoID": "nope"})


# ------------------------------------------------------------------------------- MLVU M-Avg
def _mlvu(task_type: str, pred: str, answer: str) -> dict:
    return {"question_id": "q", "task_type": task_type, "pred_answer": pred, "answer": answer}


def test_mlvu_m_avg_equals_lmms_eval_when_all_seven_types_are_present():
    from lmms_eval.tasks.mlvu.utils import mlvu_aggregate_results_dev

    results = [_mlvu(t, "A", "A" if i % 2 else "B") for i, t in enumerate(mlvu.TASK_TYPES)]
    results.append(_mlvu("count", "A", "A"))
    assert mlvu.m_avg(results) == pytest.approx(mlvu_aggregate_results_dev(results))


def test_mlvu_m_avg_averages_only_the_types_present():
    # count 1/1 = 100, ego 0/2 = 0 -> M-Avg over 2 types = 50 (lmms-eval alone: 100/7 = 14.29)
    results = [_mlvu("count", "A", "A"), _mlvu("ego", "A", "B"), _mlvu("ego", "C", "B")]
    assert mlvu.m_avg(results) == pytest.approx(50.0)


def test_mlvu_unknown_task_type_is_rejected():
    doc = {"video_name": "x.mp4", "task_type": "sportsQA", "question": "q", "answer": "A"}
    with pytest.raises(ValueError, match=r"'x.mp4'.*unknown task_type"):
        mlvu.process_results(doc, ["A"])


# ------------------------------------------------------------------------------- bad inputs
def test_egoschema_full_set_doc_without_answer_is_rejected():
    doc = {"question_idx": "q7", "video_idx": "v7", "option": [f"{c}. x" for c in "ABCDE"], "answer": None}
    with pytest.raises(ValueError, match=r"question_idx='q7'.*only the 500-question 'Subset'"):
        egoschema.process_results(doc, ["A"])


def test_mvbench_answer_outside_candidates_is_rejected():
    doc = {"video": "c.mp4", "candidates": ["left", "right"], "answer": "up"}
    with pytest.raises(ValueError, match=r"'c.mp4'.*'up' is not among candidates"):
        mvbench.process_results(doc, ["A"])


def test_mvbench_unknown_sub_task_is_rejected():
    with pytest.raises(ValueError, match="sub_task 'jumping'"):
        mvbench.doc_to_visual({"video": "c.mp4"}, {"sub_task": "jumping"})


def test_mvbench_more_candidates_than_its_letter_parser_knows_is_rejected():
    doc = {"video": "c.mp4", "question": "q", "candidates": list("uvwxyz"), "answer": "u"}
    with pytest.raises(ValueError, match=r"'c.mp4'.*must list 2-5 options"):
        mvbench.doc_to_text(doc, {"post_prompt": ""})


def test_nextqa_answer_must_index_an_option():
    doc = {"video": 1, "qid": 3, "answer": 7, **{f"a{i}": "x" for i in range(5)}}
    with pytest.raises(ValueError, match=r"qid=3.*answer 7"):
        nextqa.process_results(doc, ["A"])


def test_perceptiontest_answer_must_index_an_option():
    doc = {"question_id": "p1", "video_name": "v", "options": ["a", "b", "c"], "answer_id": 3}
    with pytest.raises(ValueError, match=r"question_id='p1'.*answer_id 3"):
        perceptiontest.process_results(doc, ["A"])


def test_longvideobench_answer_must_index_a_real_option():
    doc = {"id": "l1", **{f"option{i}": ("x" if i < 3 else "N/A") for i in range(5)}, "correct_choice": 3}
    with pytest.raises(ValueError, match=r"id='l1'.*correct_choice 3 does not index its 3 options"):
        longvideobench.process_results(doc, ["A"])


def test_seedbench_video_frames_must_be_images():
    with pytest.raises(ValueError, match=r"question_id='9'.*image\[1\] is str"):
        seedbench_video.doc_to_visual({"question_id": "9", "image": [fixtures._frame(0), "frame.jpg"]})


def test_seedbench_without_video_rows_is_an_error():
    from datasets import Dataset

    with pytest.raises(ValueError, match="no rows with data_type == 'video'"):
        seedbench_video.process_docs(Dataset.from_dict({"data_type": ["image", "image"]}))


# ------------------------------------------------------------------------------- video lookup
def test_resolve_video_prefers_the_local_copy_and_falls_back_to_hf_home(tmp_path, monkeypatch):
    from ov_eval.tasks.video_files import resolve_video

    hub = tmp_path / "hf" / "egoschema" / "videos" / "v1.MP4"
    local = tmp_path / "data" / "lmms-eval" / "egoschema" / "videos" / "videos" / "v1.mp4"
    for path in (hub, local):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("OV_EVAL_DATA_DIR", str(tmp_path / "data"))
    exts = (".mp4", ".MP4")
    assert resolve_video("lmms-eval/egoschema", "egoschema", "videos/v1", extensions=exts) == str(local)
    monkeypatch.delenv("OV_EVAL_DATA_DIR")
    assert resolve_video("lmms-eval/egoschema", "egoschema", "videos/v1", extensions=exts) == str(hub)
    with pytest.raises(FileNotFoundError, match=r"v2\.mp4.*v2\.MP4"):
        resolve_video("lmms-eval/egoschema", "egoschema", "videos/v2", extensions=exts)
