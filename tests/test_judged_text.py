"""MM-Vet, MathVerse (Vision Only) and Vibe-Eval end to end: real ``python -m lmms_eval``, real judge server.

One run (module fixture) over the three tasks with known predictions (``ov_fixed_answers``)
and the fake OpenAI-compatible judge, which answers by the marker (``MMVET-2``...) each
prediction carries. In that run, per task, one sample's judgment fails for good (an
unparsable answer twice, or HTTP 500 on every try) and one meets a transient fault that a
retry absorbs; expected scores below are computed by hand from the verdicts. The missing-judge and
offline-import rules of every judged task: tests/test_judged_common.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from support.evaluate import EvalRun, run_fixed_answers
from support.fake_openai import FakeOpenAI, Reply, judge_env, last_user_text
from support.fixtures import judged_text as fixtures

pytestmark = pytest.mark.slow

KEY = "sk-ov-eval-si-a-4e8b2c6a1d"
MMVET, MATHVERSE, VIBE = "ov_mmvet", "ov_mathverse_testmini_vision", "ov_vibe_eval"
TASKS = [MMVET, MATHVERSE, VIBE]
ANSWERS = {
    MMVET: {
        "0": "MMVET-0 x = -1 or x = -5",
        "1": "MMVET-1 The card is blue.",
        "2": "MMVET-2 There are 4 dots.",
        "3": "MMVET-3 It says hello.",
    },
    MATHVERSE: {
        "0": "MATHVERSE-0 Angle 2 equals angle 1, so the answer is B.",
        "1": "MATHVERSE-1 length = 24 / 4 = 8",
        "2": "MATHVERSE-2 12.5",
        "3": "MATHVERSE-3 C",
    },
    VIBE: {
        "0": "VIBE-0 It is a cat.",
        "1": "VIBE-1 The sign says GO.",
        "2": "VIBE-2 There are seven letters.",
        "3": "VIBE-3 Red appears least often.",
    },
}
# Judge verdict per prediction marker.
VERDICTS = {
    "MMVET-0": "1.0",
    "MMVET-1": "0.9 The colour matches.",
    "MMVET-2": "0.2",
    "MMVET-3": "1.5",  # outside [0, 1]: unparsable (lmms-eval's loop would ask forever)
    "MATHVERSE-0": "1",
    "MATHVERSE-1": "0",
    "MATHVERSE-2": Reply.server_error(500),  # every try
    "MATHVERSE-3": "1",
    "VIBE-0": "Explanation: same animal.\nRating: 5",
    "VIBE-1": "Explanation: wrong word.\nRating: 2",
    "VIBE-2": "Explanation: correct count.\nRating: 4",
    "VIBE-3": "Explanation: off the scale.\nRating: 7",  # no Rating 1-5: unparsable
}
TRANSIENT = {
    "MMVET-0": Reply.rate_limited(0.2),
    "MATHVERSE-3": Reply.malformed(),
    "VIBE-1": Reply.server_error(503),
}


class Judge:
    """The verdict for the marker in the judge prompt; transient faults on the first request only."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, body: dict) -> Reply | str:
        text = last_user_text(body)
        # longest first, so that a "MMVET-10" would never be taken for "MMVET-1"
        marker = next((m for m in sorted(VERDICTS, key=len, reverse=True) if m in text), None)
        if marker is None:
            return "unexpected judge prompt"
        if marker in TRANSIENT and marker not in self.seen:
            self.seen.add(marker)
            return TRANSIENT[marker]
        return VERDICTS[marker]


CLEARED = ("HF_HOME", "OPENAI_API_KEY", "API_TYPE")
MODULES = ["ov_eval.tasks.mmvet", "ov_eval.tasks.mathverse", "ov_eval.tasks.vibe_eval"]
LMMS_MODULES = ["lmms_eval.tasks.mmvet.utils", "lmms_eval.tasks.mathverse.mathverse_evals"]
LMMS_MODULES += ["lmms_eval.tasks.mathverse.utils", "lmms_eval.tasks.vibe_eval.utils"]
OFFLINE_IMPORT = f"import os, {', '.join(MODULES)}; print(sorted(k for k in {CLEARED!r} if k in os.environ))"


@dataclass
class Run:
    result: EvalRun
    requests: list[dict]  # chat-completions bodies the judge server received


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("judged_text")
    fixtures.build(tmp / "data")
    with FakeOpenAI(Judge(), api_key=KEY, lifetime=300) as server:
        cache = tmp / "judge_cache.sqlite"
        env = judge_env(server, cache, key=KEY, backoff=0.05, max_tries=2, model="judge-under-test")
        result = run_fixed_answers(ANSWERS, TASKS, tmp, env=env)
        assert all(r["authorized"] for r in server.requests)
        requests = [r["body"] for r in server.requests]
    return Run(result, requests)


def accounting(result, task: str) -> dict:
    return json.loads((result.output_dir / f"ov_eval_judge_{task}.json").read_text())


def sent_for(requests: list[dict], marker: str) -> list[dict]:
    return [body for body in requests if marker in last_user_text(body)]


def test_mmvet_score(run):
    result = run.result
    # MMVET-3 ("1.5" twice) excluded; (1.0 + 0.9 + 0.2) / 3 * 100 = 70.0
    # (lmms-eval would never finish that sample: its loop re-asks while the score is outside [0, 1])
    assert result.metric(MMVET, "gpt_eval_score") == pytest.approx(70.0)
    assert result.metric(MMVET, "judge_failures") == 1
    stats = accounting(result, MMVET)
    # 4 judged; requests: doc0 429 + answer, doc1, doc2, doc3 twice = 6
    assert (stats["judged"], stats["calls"], stats["failures"]) == (4, 6, 1)
    assert stats["failures_by_reason"] == {"unparsable": 1}
    assert stats["failed_samples"][0]["sample"] == "v1_3"
    failed = [s for s in result.samples[MMVET] if s["judge_failures"]["failed"]]
    assert len(failed) == 1 and "gpt_eval_score" not in failed[0]


def test_mathverse_accuracy(run):
    result = run.result
    # MATHVERSE-2 got HTTP 500 on both tries -> excluded; verdicts 1, 0, 1 -> 2/3 (0-1 scale)
    # (lmms-eval's score_answer would turn the error into 0: 2/4 = 0.5)
    assert result.metric(MATHVERSE, "gpt_eval_score") == pytest.approx(2 / 3)
    assert result.metric(MATHVERSE, "judge_failures") == 1
    assert "submission,none" not in result.results["results"][MATHVERSE]
    stats = accounting(result, MATHVERSE)
    assert stats["failures_by_reason"] == {"http_500": 1}
    assert stats["failed_samples"][0]["sample"] == "15"
    assert "gave up after 2 tries" in stats["failed_samples"][0]["reason"]
    # doc3: a malformed body, then the verdict; docs 0, 1 one request each; doc2 two 500s
    assert (stats["judged"], stats["calls"], stats["retries"]) == (4, 6, 2)


def test_vibe_eval_scores(run):
    result = run.result
    # ratings 5, 2, 4 (VIBE-3 "Rating: 7" twice -> excluded) -> 25*(r-1) = 100, 25, 75
    # all = (100 + 25 + 75) / 3 = 66.67; normal (docs 0, 1) = (100 + 25) / 2 = 62.5; hard (doc 2) = 75.0
    # (lmms-eval would store rating 0 for VIBE-3: all = (200 - 25) / 4 = 43.75, hard = 25.0)
    assert result.metric(VIBE, "all") == pytest.approx(200 / 3)
    assert result.metric(VIBE, "normal") == pytest.approx(62.5)
    assert result.metric(VIBE, "hard") == pytest.approx(75.0)
    assert result.metric(VIBE, "judge_failures") == 1
    stats = accounting(result, VIBE)
    assert stats["failures_by_reason"] == {"unparsable": 1}
    assert stats["failed_samples"][0]["sample"] == "hard-2"
    assert (stats["judged"], stats["calls"]) == (4, 6)  # doc1: 503 then the verdict; doc3 asked twice


def test_judge_requests_are_lmms_evals(run):
    """Prompt text and sampling parameters equal what lmms-eval's own code would send."""
    from lmms_eval.llm_judge.utils import JudgePromptBuilder

    from ov_eval.tasks import mmvet, vibe_eval

    requests = run.requests
    _, question, answer, _ = fixtures.MMVET_ROWS[1]
    pred = ANSWERS[MMVET]["1"]
    spaced = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    (body,) = sent_for(requests, "MMVET-1")
    assert body["messages"] == [
        {"role": "user", "content": f"{mmvet._lmms.MM_VET_PROMPT}\n{question} | {spaced} | {pred} |"}
    ]
    assert (body["temperature"], body["max_tokens"], body["model"]) == (0.0, 128, "judge-under-test")

    _, _, answer, question_for_eval = fixtures.MATHVERSE_ROWS[1]
    prompt = JudgePromptBuilder.build_binary_prompt(
        question=question_for_eval, answer=answer, prediction=ANSWERS[MATHVERSE]["1"], output_format="0/1"
    )
    (body,) = sent_for(requests, "MATHVERSE-1")
    assert body["messages"] == [{"role": "user", "content": prompt}]
    assert (body["temperature"], body["max_tokens"]) == (0.0, 1024)

    example_id, category, prompt_text, reference = fixtures.VIBE_ROWS[0]
    example = vibe_eval._lmms.Example(
        example_id=example_id,
        category=category,
        prompt=prompt_text,
        reference=reference,
        media_filename="",
        media_url="",
        generation=ANSWERS[VIBE]["0"],
    )
    (body,) = sent_for(requests, "VIBE-0")
    expected = vibe_eval._lmms.make_evaluator_prompt(example, include_image=False)
    assert body["messages"] == [{"role": "user", "content": expected}]
    assert (body["temperature"], body["max_tokens"]) == (0.4, 1024)


def test_prompts_and_decoding(run):
    """Model prompts and stop strings are lmms-eval's."""
    result = run.result
    prompts = {
        task: [s["input"] for s in sorted(result.samples[task], key=lambda s: int(s["doc_id"]))]
        for task in TASKS
    }
    pre = "First please perform reasoning, and think step by step to provide best answer to the following question: \n\n"
    assert prompts[MMVET][0] == pre + fixtures.MMVET_ROWS[0][1]
    assert prompts[MATHVERSE][1] == fixtures.MATHVERSE_QUERY["free-form"]
    assert prompts[VIBE][2] == fixtures.VIBE_ROWS[2][2]
    decoding = {task: result.results["configs"][task]["generation_kwargs"] for task in TASKS}
    assert {task: kwargs["until"] for task, kwargs in decoding.items()} == {
        MMVET: ["\n\n"],  # lmms-eval's default; the adapter ignores `until` (stop_strings=none)
        MATHVERSE: ["ASSISTANT:"],
        VIBE: ["\n\n"],
    }
    assert all(
        k["do_sample"] is False and k["temperature"] == 0 and k["max_new_tokens"] == 1024
        for k in decoding.values()
    )


def test_reply_parsing_matches_lmms_eval():
    from ov_eval.tasks import mathverse, mmvet, vibe_eval

    assert [mmvet.parse_score(t) for t in ("0.8 mostly", " 1.0", "1.5", "-0.1", "score: 1")] == [
        0.8,
        1.0,
        None,
        None,
        None,
    ]
    # lmms-eval reads "1" anywhere as correct, anything else as 0; a reply with neither digit is unparsable
    assert [mathverse.parse_binary(t) for t in ("1", "0", "[1]", "Score: 0", "Yes", "")] == [
        1,
        0,
        1,
        0,
        None,
        None,
    ]
    assert [vibe_eval.parse_rating(t) for t in ("Rating: 3", "Rating:5", "Rating: 0", "4/5")] == [
        3,
        5,
        None,
        None,
    ]
