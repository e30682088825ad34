"""The three GPT-judged task configs end to end: real ``python -m lmms_eval``, real judge HTTP server.

Known predictions come from ``ov_fixed_answers``; the fake judge answers by
looking at the prediction inside the judge prompt. Runs (one module fixture):

1. ``fresh``: empty cache, transient faults only (a 429 with Retry-After, a
   malformed body) -> every sample judged, scores hand-computed below;
2. ``rerun``: same command and cache -> zero requests reach the server;
3. ``faults``: empty cache, persistent faults (500 on every try, an unparsable
   answer twice) -> those samples excluded from the scores and counted;
The missing-judge and offline-import rules of every judged task: tests/test_judged_common.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.evaluate import run_fixed_answers
from support.fake_openai import FakeOpenAI, Reply, judge_env, last_user_text
from support.fixtures import judged as fixtures

pytestmark = pytest.mark.slow

KEY = "sk-ov-eval-test-9f3c1d7e5b"
TASKS = ["ov_llava_in_the_wild", "ov_activitynetqa", "ov_mathvista_testmini"]
ANSWERS = {
    "ov_llava_in_the_wild": {
        str(i): f"ANSWER-{i}" for i in range(4)
    },  # categories conv, detail, complex, conv
    "ov_activitynetqa": {"0": "he dances", "1": "yes", "2": "blue"},
    # MathVista docs: (B) 8/11 multi-choice; integer 14; float 0.6 (precision 1); integer 3
    "ov_mathvista_testmini": {"0": "The answer is option B", "1": "14", "2": "0.6", "3": "five apples"},
}
# Judge verdicts by prediction. LLaVA-W: "reference model" scores on the first line.
LLAVA_SCORES = {"ANSWER-0": "8 6", "ANSWER-1": "8 8", "ANSWER-2": "6 9", "ANSWER-3": "7 7"}
ANET_REVIEWS = {
    "he dances": "{'pred': 'yes', 'score': 5}",
    "yes": "{'pred': 'yes', 'score': 4}",
    "blue": "{'pred': 'no', 'score': 1}",
}


class Judge:
    """Responder: the right verdict per prediction, plus per-run faults (first-time-only or always)."""

    def __init__(
        self, transient: dict[str, Reply] | None = None, always: dict[str, Reply | str] | None = None
    ):
        self.transient, self.always, self.seen = dict(transient or {}), dict(always or {}), set()

    def __call__(self, body: dict) -> Reply | str:
        text = last_user_text(body)
        for marker, reply in self.always.items():
            if marker in text:
                return reply
        for marker, reply in list(self.transient.items()):
            if marker in text and marker not in self.seen:
                self.seen.add(marker)
                return reply
        for answer, verdict in LLAVA_SCORES.items():
            if f"\n{answer}\n" in text:
                return verdict + "\nBoth answers are reasonable."
        for pred, review in ANET_REVIEWS.items():
            if f"Predicted Answer: {pred}\n" in text:
                return review
        if "Extracted answer:" in text:  # MathVista extraction prompt ends with the model response
            return {"option B": "B", "five apples": "5"}[
                next(k for k in ("option B", "five apples") if k in text)
            ]
        return "unexpected judge prompt"


def _run(tmp: Path, name: str, judge: Judge, cache: Path, **settings: object):
    with FakeOpenAI(judge, api_key=KEY, lifetime=300) as server:
        env = judge_env(server, cache, key=KEY, backoff=0.05, **settings)
        run = run_fixed_answers(ANSWERS, TASKS, tmp, run_name=name, env=env)
        assert server.requests == [] or all(r["authorized"] for r in server.requests)  # the key was sent
        return run, server.count


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("judged")
    fixtures.build(tmp / "data")
    cache = tmp / "judge_cache.sqlite"
    fresh = _run(
        tmp,
        "fresh",
        Judge(transient={"ANSWER-0": Reply.rate_limited(1), "five apples": Reply.malformed()}),
        cache,
    )
    rerun = _run(tmp, "rerun", Judge(), cache)
    faults = _run(
        tmp,
        "faults",
        Judge(always={"Predicted Answer: blue": Reply.server_error(500), "ANSWER-3": "no idea"}),
        tmp / "faults_cache.sqlite",
        max_tries=3,
    )
    return {"fresh": fresh, "rerun": rerun, "faults": faults, "tmp": tmp}


def accounting(run, task: str) -> dict:
    return json.loads((run.output_dir / f"ov_eval_judge_{task}.json").read_text())


def test_scores_on_good_judgments(runs):
    run, requests = runs["fresh"]
    # LLaVA-W all: reference mean (8+8+6+7)/4 = 7.25, model mean (6+8+9+7)/4 = 7.5 -> 100*7.5/7.25 = 103.4
    assert run.metric("ov_llava_in_the_wild", "gpt_eval_llava_all") == 103.4
    # conv (docs 0, 3): 100 * ((6+7)/2) / ((8+7)/2) = 100 * 6.5/7.5 = 86.7; detail 8/8; complex 9/6
    assert run.metric("ov_llava_in_the_wild", "gpt_eval_llava_conv") == 86.7
    assert run.metric("ov_llava_in_the_wild", "gpt_eval_llava_detail") == 100.0
    assert run.metric("ov_llava_in_the_wild", "gpt_eval_llava_complex") == 150.0
    # ActivityNet-QA: scores 5, 4, 1 -> mean 10/3; "yes" for 2 of 3 -> 66.67 %
    assert run.metric("ov_activitynetqa", "gpt_eval_score") == pytest.approx(10 / 3)
    assert run.metric("ov_activitynetqa", "gpt_eval_accuracy") == pytest.approx(200 / 3)
    # MathVista: "option B" -> judge "B" -> 8/11 right; "14" right (rule: int); "0.6" right (rule: float,
    # precision 1); "five apples" -> judge "5" != 3 wrong -> 3/4 = 75.0
    assert run.metric("ov_mathvista_testmini", "llm_as_judge_eval") == 75.0
    for task in TASKS:
        assert run.metric(task, "judge_failures") == 0
    # judged samples: 4 + 3 + 2 (MathVista docs 1, 2 need no judge), plus one 429 and one malformed retry
    assert requests == 11


def test_transient_faults_were_retried_and_accounted(runs):
    run, _ = runs["fresh"]
    llava = accounting(run, "ov_llava_in_the_wild")
    assert (llava["judged"], llava["calls"], llava["retries"], llava["failures"]) == (4, 5, 1, 0)
    mathvista = accounting(run, "ov_mathvista_testmini")
    assert (mathvista["judged"], mathvista["calls"], mathvista["retries"]) == (2, 3, 1)
    # fake server reports 11 prompt / 3 completion tokens per answered request (2 answered)
    assert (mathvista["prompt_tokens"], mathvista["completion_tokens"]) == (22, 6)
    assert "retry 1/4" in run.log and "HTTP 429" in run.log


def test_rerun_is_served_from_the_cache(runs):
    (fresh, _), (rerun, requests) = runs["fresh"], runs["rerun"]
    assert requests == 0
    for task in TASKS:
        assert rerun.results["results"][task] == fresh.results["results"][task] | {"alias": task}
        stats = accounting(rerun, task)
        assert stats["calls"] == 0 and stats["cache_hits"] == stats["judged"] > 0
    assert "[ov-eval judge] cache hit ov_llava_in_the_wild/0" in rerun.log


def test_failed_judgments_are_excluded_and_counted(runs):
    run, _ = runs["faults"]
    # LLaVA-W doc 3 unparsable twice -> excluded: ref (8+8+6)/3 = 7.333, model (6+8+9)/3 = 7.667
    # -> 100 * 7.667/7.333 = 104.6 (lmms-eval's [-1, -1] would give 100 * 5.5/5.25 = 104.8)
    assert run.metric("ov_llava_in_the_wild", "gpt_eval_llava_all") == 104.6
    assert run.metric("ov_llava_in_the_wild", "gpt_eval_llava_conv") == 75.0  # doc 0 only: 6/8
    assert run.metric("ov_llava_in_the_wild", "judge_failures") == 1
    # ActivityNet-QA doc 2 ("blue") got 500 three times -> excluded: scores 5, 4 -> 4.5; 2/2 yes -> 100
    # (lmms-eval would score it ("no", 0): 3.0 and 66.7)
    assert run.metric("ov_activitynetqa", "gpt_eval_score") == 4.5
    assert run.metric("ov_activitynetqa", "gpt_eval_accuracy") == 100.0
    assert run.metric("ov_activitynetqa", "judge_failures") == 1
    anet = accounting(run, "ov_activitynetqa")
    assert anet["failures_by_reason"] == {"http_500": 1} and anet["failed_samples"][0]["sample"] == "v1_q0"
    assert "gave up after 3 tries" in anet["failed_samples"][0]["reason"]
    assert accounting(run, "ov_llava_in_the_wild")["failures_by_reason"] == {"unparsable": 1}
    failed = [s for s in run.samples["ov_activitynetqa"] if s["judge_failures"]["failed"]]
    assert len(failed) == 1 and "gpt_eval_score" not in failed[0]
    assert failed[0]["judge_failures"]["kind"] == "http_500"


def test_api_key_is_in_no_output_file(runs):
    tmp = runs["tmp"]
    files = [p for p in tmp.rglob("*") if p.is_file() and "hf_home" not in p.parts and "data" not in p.parts]
    assert any(p.name.endswith("_results.json") for p in files) and any(p.suffix == ".sqlite" for p in files)
    leaked = [str(p) for p in files if KEY.encode() in p.read_bytes()]
    assert leaked == []
    for name in ("fresh", "rerun", "faults"):
        assert KEY not in runs[name][0].log


def test_activitynet_judge_prompt_is_exactly_lmms_evals(tmp_path):
    """What we send equals what lmms-eval's own get_eval POSTs (recorded by the server)."""
    from ov_eval.tasks import activitynetqa
    from ov_eval.tasks.judged_common import rebind

    with FakeOpenAI(lambda body: "{'pred': 'yes', 'score': 5}") as server:
        original = rebind(activitynetqa._lmms.get_eval, API_URL=server.url + "/chat/completions", headers={})
        assert original("what is he doing", "dancing", "he dances", 64)[0] == "{'pred': 'yes', 'score': 5}"
        sent = server.requests[0]["body"]
    ours = activitynetqa.judge_request("what is he doing", "dancing", "he dances")
    assert ours["messages"] == sent["messages"]
    assert (ours["temperature"], ours["max_tokens"]) == (sent["temperature"], sent["max_tokens"]) == (0, 64)
