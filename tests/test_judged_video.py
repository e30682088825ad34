"""The GPT-judged video tasks end to end: ``ov_videochatgpt`` (group of 3) and ``ov_videodc``.

ONE real ``python -m lmms_eval`` run (module fixture) with known predictions
(``ov_fixed_answers``), fixture datasets in the hub schema with real encoded videos,
and the fake OpenAI-compatible judge, which answers per prediction and per judge
dimension. Baked into the same run: one transient fault (a malformed body, retried),
one judgment that gets HTTP 500 on every try, and one that is unparsable twice;
the two persistent ones must be excluded from their scores and counted in
``judge_failures``. The missing-judge and offline-import rules: tests/test_judged_common.py.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
from support.evaluate import run_fixed_answers
from support.fake_openai import FakeOpenAI, Reply, judge_env, last_user_text
from support.fixtures import judged_video as fixtures

pytestmark = pytest.mark.slow

KEY = "sk-ov-eval-video-test-4b1e"
GROUP = "ov_videochatgpt"
GEN, TEMPORAL, CONSISTENCY, VIDEODC = (
    "ov_videochatgpt_gen",
    "ov_videochatgpt_temporal",
    "ov_videochatgpt_consistency",
    "ov_videodc",
)
ANSWERS = {
    GEN: {"0": "GEN-0 he juggles balls", "1": "GEN-1 a kitchen"},
    TEMPORAL: {"0": "TEMP-0 he picks it up", "1": "TEMP-1 she opens the fridge"},
    # Consistency docs: (video long, question_1), (long, question_2), (short, q1), (short, q2)
    CONSISTENCY: {"0": "CONS-A1 three", "1": "CONS-A2 three", "2": "CONS-B1 red", "3": "CONS-B2 blue"},
    VIDEODC: {"0": "DC-0 a man juggles", "1": "DC-1 a woman and a fridge", "2": "DC-2 a cat"},
}
# The judge's verdicts: (prediction marker, dimension) -> reply. lmms-eval's judge prompts name the
# dimension in the user message ("... factual accuracy score ...").
DIMENSION_WORDS = {
    "factual accuracy score": "correctness",
    "detail orientation score": "detail",
    "contextual understanding score": "context",
    "temporal accuracy score": "temporal",
    "consistency score": "consistency",
}
VERDICTS = {
    ("GEN-0", "correctness"): "{'score': 5}",
    ("GEN-0", "detail"): "{'score': 4}",
    ("GEN-0", "context"): "{'score': 5}",
    ("GEN-1", "correctness"): Reply.server_error(500),  # every try -> failed, excluded
    ("GEN-1", "detail"): "{'score': 4}",
    ("GEN-1", "context"): "{'score': 3}",
    ("TEMP-0", "temporal"): "{'score': 2}",  # first answer is a malformed body (retried)
    ("TEMP-1", "temporal"): "{'score': 1}",
    ("CONS-A1", "consistency"): "{'score': 3}",  # pair of the long video
    ("CONS-B1", "consistency"): "I cannot rate this.",  # unparsable twice -> failed, excluded
    ("DC-0", "detail"): "{'score': 4.8}",  # lmms-eval's parse_score: int(4.8) = 4
    ("DC-1", "detail"): "{'score': 2}",
    ("DC-2", "detail"): Reply.server_error(500),
}
TRANSIENT = {("TEMP-0", "temporal"): Reply.malformed()}


class Judge:
    """Verdict per (prediction, dimension); transient faults once, thread-safe (4 scoring threads)."""

    def __init__(self) -> None:
        self.lock, self.seen = threading.Lock(), set()

    def __call__(self, body: dict) -> Reply | str:
        text = last_user_text(body)
        dimension = next(d for words, d in DIMENSION_WORDS.items() if words in text)
        marker = next(a.split()[0] for t in ANSWERS.values() for a in t.values() if f": {a}\n" in text)
        key = (marker, dimension)
        with self.lock:
            if key in TRANSIENT and key not in self.seen:
                self.seen.add(key)
                return TRANSIENT[key]
        return VERDICTS.get(key, f"unexpected judge request {key}")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("judged_video")
    fixtures.build(tmp / "data")
    with FakeOpenAI(Judge(), api_key=KEY, lifetime=300) as server:
        env = judge_env(server, tmp / "judge_cache.sqlite", key=KEY, backoff=0.05, max_tries=2)
        result = run_fixed_answers(ANSWERS, [GROUP, VIDEODC], tmp, run_name="run", env=env)
        assert all(r["authorized"] for r in server.requests)
        bodies = [r["body"] for r in server.requests]
    return {"run": result, "bodies": bodies, "trace": result.trace, "tmp": tmp}


def accounting(run, task: str) -> dict:
    return json.loads((run.output_dir / f"ov_eval_judge_{task}.json").read_text())


def test_videochatgpt_is_the_mean_of_the_five_dimensions(run):
    r = run["run"]
    # correctness: GEN-0 5, GEN-1 failed (excluded) -> 5.0; detail (4+4)/2 = 4.0; context (5+3)/2 = 4.0
    assert r.metric(GEN, "gpt_eval_score_correctness") == 5.0
    assert r.metric(GEN, "gpt_eval_score_detailed_orientation") == 4.0
    assert r.metric(GEN, "gpt_eval_score_context") == 4.0
    assert r.metric(GEN, "gpt_eval_score") == pytest.approx(13 / 3)  # (5 + 4 + 4) / 3
    # temporal: (2 + 1) / 2 = 1.5; consistency: pair A 3, pair B unparsable twice (excluded) -> 3.0
    assert r.metric(TEMPORAL, "gpt_eval_score_temporal") == 1.5
    assert r.metric(TEMPORAL, "gpt_eval_score") == 1.5
    assert r.metric(CONSISTENCY, "gpt_eval_score_consistency") == 3.0
    assert r.metric(CONSISTENCY, "gpt_eval_score") == 3.0
    # The paper's number: (5 + 4 + 4 + 1.5 + 3) / 5 = 17.5 / 5 = 3.5.
    # Not the mean of the three sub-tasks: (13/3 + 1.5 + 3) / 3 = 2.944; and lmms-eval, which scores
    # a failed request 0 (all three Generic dimensions of GEN-1, pair B), would give
    # (2.5 + 2 + 2.5 + 1.5 + 1.5) / 5 = 2.0.
    assert r.metric(GROUP, "gpt_eval_score") == pytest.approx(3.5)
    # the five dimensions are passed through to the group row
    assert r.metric(GROUP, "gpt_eval_score_correctness") == 5.0
    assert r.metric(GROUP, "gpt_eval_score_consistency") == 3.0
    # failed judgments: Generic 1 (GEN-1 correctness), Temporal 0, Consistency 1 (pair B) -> group 2
    assert [r.metric(t, "judge_failures") for t in (GEN, TEMPORAL, CONSISTENCY, GROUP)] == [1, 0, 1, 2]


def test_videodc_score(run):
    r = run["run"]
    # DC-0 "{'score': 4.8}" -> int 4, DC-1 2, DC-2 HTTP 500 twice (excluded) -> (4 + 2) / 2 = 3.0
    # (lmms-eval: (4 + 2 + 0) / 3 = 2.0)
    assert r.metric(VIDEODC, "gpt_eval_score") == 3.0
    assert r.metric(VIDEODC, "judge_failures") == 1


def test_failed_judgments_are_excluded_and_accounted(run):
    r = run["run"]
    gen = accounting(r, GEN)
    # 6 judgments; 7 requests (GEN-1 correctness tried twice), 1 retry, 1 failure
    assert (gen["judged"], gen["calls"], gen["retries"], gen["failures"]) == (6, 7, 1, 1)
    assert gen["failures_by_reason"] == {"http_500": 1}
    assert gen["failed_samples"][0]["sample"].startswith("v_fixture_short [correctness]")
    temporal = accounting(r, TEMPORAL)  # malformed body retried once, then answered
    assert (temporal["judged"], temporal["calls"], temporal["retries"], temporal["failures"]) == (2, 3, 1, 0)
    consistency = accounting(r, CONSISTENCY)
    assert (consistency["judged"], consistency["failures"]) == (2, 1)
    assert consistency["failures_by_reason"] == {"unparsable": 1}
    assert consistency["failed_samples"][0]["sample"] == "v_fixture_short"
    videodc = accounting(r, VIDEODC)
    assert videodc["failures_by_reason"] == {"http_500": 1}
    assert videodc["failed_samples"][0]["sample"] == "v_fixture_tiny"
    assert "gave up after 2 tries" in videodc["failed_samples"][0]["reason"]
    # samples log: the failed dimension is missing from GEN-1's record, the others are there
    doc1 = next(s for s in r.samples[GEN] if s["doc_id"] == 1)
    assert "gpt_eval_score_correctness" not in doc1 and doc1["gpt_eval_score_context"]["score"] == 3
    assert doc1["judge_failures"]["count"] == 1
    assert doc1["judge_failures"]["failures"][0]["kind"] == "http_500"
    failed_dc = [s for s in r.samples[VIDEODC] if s["judge_failures"]["failed"]]
    assert len(failed_dc) == 1 and "gpt_eval_score" not in failed_dc[0]


def test_judge_requests(run):
    bodies = run["bodies"]
    # Generic 3 + 4, Temporal 2 + 1, Consistency 1 + 2 (unparsable asked twice), VideoDC 1 + 1 + 2
    assert len(bodies) == 17
    assert all(b["temperature"] == 0 and b["max_tokens"] == 64 for b in bodies)
    pairs = [last_user_text(b) for b in bodies if "consistency score" in last_user_text(b)]
    long_pair = next(t for t in pairs if "CONS-A1" in t)
    assert "Predicted Answer to Question 1: CONS-A1 three\n" in long_pair
    assert "Predicted Answer to Question 2: CONS-A2 three\n" in long_pair
    assert "Question 2: What number of balls is he juggling?\n" in long_pair
    # lmms-eval's submission and evaluation files for the consistency pairs were written
    submissions = run["run"].output_dir / "submissions"  # lmms-eval: <output_path>/submissions
    assert list(submissions.glob("inference_results_videochatgpt_consistency_*.json"))
    evaluated = json.loads(
        next(submissions.glob("gpt_eval_result_videochatgpt_consistency_*.json")).read_text()
    )
    assert sorted((e["video_name"], e["score"]) for e in evaluated) == [
        ("v_fixture_long", 3),
        ("v_fixture_short", None),
    ]


def test_every_request_got_one_real_video(run):
    by_task: dict[str, int] = {}
    for record in run["trace"]:
        (path,) = record["visuals"]
        assert Path(path).is_file() and Path(path).parent.name == "Test_Videos" and path.endswith(".mp4")
        by_task[record["task"]] = by_task.get(record["task"], 0) + 1
    assert by_task == {GEN: 2, TEMPORAL: 2, CONSISTENCY: 4, VIDEODC: 3}


def test_api_key_is_in_no_output_file(run):
    files = [p for p in run["tmp"].rglob("*") if p.is_file() and "data" not in p.parts]
    assert any(p.name.endswith("_results.json") for p in files)
    assert [str(p) for p in files if KEY.encode() in p.read_bytes()] == []
    assert KEY not in run["run"].log


def test_judge_prompts_are_exactly_lmms_evals():
    """What we send equals what lmms-eval's own get_eval_* POSTs (recorded by the server)."""
    from ov_eval.tasks import videochatgpt, videodc
    from ov_eval.tasks.judged_common import captured_payload, rebind

    calls = [
        (videochatgpt._lmms.get_eval_generic, ("what", "juggling", "he juggles", "correctness", 64)),
        (videochatgpt._lmms.get_eval_generic, ("what", "juggling", "he juggles", "context", 64)),
        (videochatgpt._lmms.get_eval_consistency, ("q1", "q2", "red", "red", "blue", 64)),
        (videodc._lmms.get_eval_generic, ("describe", "a man", "a man juggles", 64)),
    ]
    with FakeOpenAI(lambda body: "{'score': 3}") as server:
        for get_eval, args in calls:
            original = rebind(get_eval, API_URL=server.url + "/chat/completions", headers={})
            assert original(*args)[0] == "{'score': 3}"
        sent = [r["body"] for r in server.requests]
    for (get_eval, args), body in zip(calls, sent, strict=True):
        ours = captured_payload(get_eval, *args)
        assert ours["messages"] == body["messages"]
        assert (
            (ours["temperature"], ours["max_tokens"]) == (body["temperature"], body["max_tokens"]) == (0, 64)
        )
    assert videodc.judge_request("describe", "a man", "a man juggles")["messages"] == sent[3]["messages"]


def test_parse_review_agrees_with_lmms_eval_where_it_accepts():
    from ov_eval.tasks.videochatgpt import _lmms, parse_review

    for text, expected in [
        ("{'score': 4}", 4),
        ("{'score': 4.8}", 4),
        ('{"score": "3"}', 3),
        (" {'score': 0}\n", 0),
        ("{'pred': 'yes'}", None),  # lmms-eval: 0
        ("```python\n{'score': 5}\n```", None),  # lmms-eval: 0
        ("five", None),
        ("[5]", None),
    ]:
        assert parse_review(text) == expected, text
        if expected is not None:
            assert _lmms.parse_score(text.strip()) == expected


def test_group_mean_weights_subtasks_by_dimension_count():
    from ov_eval.tasks.videochatgpt import DimensionMean, mean_over_dimensions, sum_over_subtasks

    parts = [DimensionMean(13 / 3, 3), DimensionMean(1.5, 1), DimensionMean(3.0, 1)]
    assert mean_over_dimensions(parts, [2, 2, 4]) == pytest.approx(3.5)
    assert mean_over_dimensions(parts[::-1], [4, 2, 2]) == pytest.approx(3.5)  # order-free
    assert mean_over_dimensions([2.5], [3]) == 2.5  # a dimension reported by one sub-task
    assert math.isnan(mean_over_dimensions([DimensionMean(math.nan, 3), DimensionMean(2.0, 1)], [1, 1]))
    with pytest.raises(RuntimeError, match="dimension count"):
        mean_over_dimensions([4.0, 1.5, 3.0], [1, 1, 1])
    assert sum_over_subtasks([1, 0, 1], [2, 2, 4]) == 2
