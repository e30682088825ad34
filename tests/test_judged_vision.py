"""Four image-judged single-image tasks end to end: real ``python -m lmms_eval``, real judge HTTP server.

``ov_llava_wilder_small``, ``ov_imagedc``, ``ov_mmlivebench`` and ``ov_wildvision`` run once
(module fixture) with known predictions (``ov_fixed_answers``) against the fake judge, which
answers by finding the prediction inside the judge prompt. In that one run, each task has
good judgments (scores hand-computed below), one judgment that finally fails (HTTP 500 on
every try, or an unparsable answer twice) and so is excluded and counted, and two tasks
see a transient fault (429 with Retry-After, a malformed body) that is retried away.
The missing-judge and offline-import rules of every judged task: tests/test_judged_common.py.
"""

from __future__ import annotations

import pytest
from support.evaluate import run_fixed_answers
from support.fake_openai import FakeOpenAI, Reply, judge_env, last_user_text
from support.fixtures import judged_vision as fixtures

pytestmark = pytest.mark.slow

KEY = "sk-ov-eval-test-si-b-4e1a"
JUDGE_MODEL = "judge-under-test"
TASKS = ["ov_llava_wilder_small", "ov_imagedc", "ov_mmlivebench", "ov_wildvision"]
MODULES = {
    "ov_llava_wilder_small": "llava_wilder",
    "ov_imagedc": "imagedc",
    "ov_mmlivebench": "mmlivebench",
    "ov_wildvision": "wildvision",
}
ANSWERS = {
    "ov_llava_wilder_small": {str(i): f"WILDER-{i}" for i in range(4)},
    "ov_imagedc": {str(i): f"CAPTION-{i}" for i in range(3)},
    "ov_mmlivebench": {"0": "LIVE-0", "1": "LIVE-1", "2": "", "3": "LIVE-3"},  # doc 2: empty answer
    "ov_wildvision": {str(i): f"WV-{i}" for i in range(5)},
}

# Good verdicts, keyed by the text that identifies the sample inside lmms-eval's judge prompt.
VERDICTS = {
    # LLaVA-Wilder: "<assistant 1 (reference)> <assistant 2 (model)>" on the first line
    "[Assistant 2]\nWILDER-0\n": "10 7\nAssistant 2 misses details.",
    "[Assistant 2]\nWILDER-1\n": "10 9\nAssistant 2 is nearly as good.",
    "[Assistant 2]\nWILDER-2\n": "10 4\nAssistant 2 is mostly wrong.",
    # ImageDC: 0-100 rating after "Final Score:" (markdown emphasis tolerated)
    "Text Caption: CAPTION-0\n": "Accurate and complete.\nFinal Score: 90",
    "Text Caption: CAPTION-1\n": "Misses the background.\n**Final Score:** 70",
    # MM-LiveBench: JSON rating 0-10, bare or fenced, Rating as number or numeric string
    "[Assistant Response]\n\nLIVE-0\n": '{"Explanation": "Correct.", "Rating": 8}',
    "[Assistant Response]\n\nLIVE-1\n": '```json\n{\n    "Explanation": "Partly right.",\n    "Rating": "6"\n}\n```',
    # WildVision: A = reference (claude-3-sonnet), B = our model
    "Assistant B's Answer|>\nWV-0\n": "B explains the chart better.\nMy final verdict is: [[B>>A]]",
    "Assistant B's Answer|>\nWV-1\n": "My final verdict is: [[B>A]]",
    "Assistant B's Answer|>\nWV-2\n": "My final verdict is tie: [[A=B]]",
    "Assistant B's Answer|>\nWV-3\n": "My final verdict is: [[A>B]]",
}
# Judgments that finally fail: excluded from the scores, counted in judge_failures.
ALWAYS = {
    "[Assistant 2]\nWILDER-3\n": Reply.server_error(500),  # 3 tries (OV_EVAL_JUDGE_MAX_TRIES=3)
    "Text Caption: CAPTION-2\n": "The caption looks fine.",  # no "Final Score:", twice
    "[Assistant Response]\n\nLIVE-3\n": "I cannot rate this answer.",  # no JSON rating, twice
    "Assistant B's Answer|>\nWV-4\n": "Both answers are fine.",  # no [[verdict]], twice
}
# Faults that happen once and are retried away.
TRANSIENT = {
    "[Assistant 2]\nWILDER-0\n": Reply.rate_limited(0.2),
    "Assistant B's Answer|>\nWV-0\n": Reply.malformed(),
}


class Judge:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, body: dict) -> Reply | str:
        text = last_user_text(body)
        for marker, reply in ALWAYS.items():
            if marker in text:
                return reply
        for marker, reply in TRANSIENT.items():
            if marker in text and marker not in self.seen:
                self.seen.add(marker)
                return reply
        for marker, verdict in VERDICTS.items():
            if marker in text:
                return verdict
        return "unexpected judge prompt"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("judged_vision")
    fixtures.build(tmp / "data")
    with FakeOpenAI(Judge(), api_key=KEY, lifetime=300) as server:
        cache = tmp / "judge_cache.sqlite"
        env = judge_env(server, cache, key=KEY, backoff=0.05, max_tries=3, model=JUDGE_MODEL)
        result = run_fixed_answers(ANSWERS, TASKS, tmp, env=env)
        requests = list(server.requests)
    return {"run": result, "requests": requests, "tmp": tmp}


def requests_for(run, marker: str) -> int:
    """Requests the judge server received for the sample whose prompt contains ``marker``."""
    return sum(marker in last_user_text(request["body"]) for request in run["requests"])


def failures(run, task: str) -> dict[int, dict]:
    """doc_id -> the samples log's ``judge_failures`` record, for the samples whose judgment failed."""
    return {
        s["doc_id"]: s["judge_failures"] for s in run["run"].samples[task] if s["judge_failures"]["failed"]
    }


def test_llava_wilder_relative_score(run):
    r = run["run"]
    # docs 0-2: reference 10, 10, 10; model 7, 9, 4 -> 100 * (20/3) / 10 = 66.67 -> 66.7
    # (doc 3, HTTP 500 x3, excluded; lmms-eval's [-1, -1] would give 100 * 4.75 / 7.25 = 65.5)
    assert r.metric("ov_llava_wilder_small", "gpt_eval_llava_all") == 66.7
    assert r.metric("ov_llava_wilder_small", "judge_failures") == 1
    (failed,) = failures(run, "ov_llava_wilder_small").values()
    assert (failed["sample"], failed["kind"]) == ("wilder_3", "http_500")
    assert "gave up after 3 tries" in failed["reason"]
    # doc 0: a 429 (Retry-After 0.2 s), then the answer; doc 3: three 500s
    assert requests_for(run, "[Assistant 2]\nWILDER-0\n") == 2
    assert requests_for(run, "[Assistant 2]\nWILDER-3\n") == 3
    assert "HTTP 429" in r.log


def test_imagedc_mean_rating(run):
    r = run["run"]
    # docs 0-1: 90 and 70 -> 80.0 (doc 2 has no "Final Score:" twice -> excluded; the paper-era code
    # would have scored it 0 -> 53.3)
    assert r.metric("ov_imagedc", "gpt_eval_avg_score") == 80.0
    assert r.metric("ov_imagedc", "judge_failures") == 1
    assert {k: v["kind"] for k, v in failures(run, "ov_imagedc").items()} == {2: "unparsable"}
    assert requests_for(run, "Text Caption: CAPTION-2\n") == 2  # asked once more
    scored = {
        s["doc_id"]: s["gpt_eval_avg_score"] for s in r.samples["ov_imagedc"] if "gpt_eval_avg_score" in s
    }
    assert scored[1]["score"] == 70 and "Misses the background" in scored[1]["explanation"]
    assert 2 not in scored


def test_mmlivebench_score(run):
    r = run["run"]
    # ratings: doc 0 -> 8, doc 1 -> "6" (fenced JSON, string) -> 6, doc 2 empty answer -> 0 without a
    # judge call (lmms-eval's rule), doc 3 unparsable twice -> excluded
    # -> (0.8 + 0.6 + 0.0) / 3 * 100 = 46.67
    assert r.metric("ov_mmlivebench", "gpt4_eval_score") == pytest.approx(140 / 3)
    assert r.metric("ov_mmlivebench", "judge_failures") == 1
    assert {k: v["kind"] for k, v in failures(run, "ov_mmlivebench").items()} == {3: "unparsable"}
    assert requests_for(run, "[Assistant Response]\n\n\n\n[Ground Truth") == 0  # doc 2 never judged
    records = {s["doc_id"]: s.get("gpt4_eval_score") for s in r.samples["ov_mmlivebench"]}
    assert records[1]["rating"] == 6 and records[1]["model_name"] == JUDGE_MODEL
    assert records[2]["rating"] == 0 and records[3] is None


def test_wildvision_metrics(run):
    r = run["run"]
    # verdicts B>>A (+2, model wins), B>A (+1, wins), A=B (0, tie), A>B (-1, reference wins);
    # doc 4 (no verdict twice) excluded (lmms-eval would count it as an "Unclear" tie)
    m = r.results["results"]["ov_wildvision"]
    assert r.metric("ov_wildvision", "raw_scores") == 0.5  # (2 + 1 + 0 - 1) / 4
    assert r.metric("ov_wildvision", "win_rates") == 50.0  # 2 outright wins of 4
    # Elo fit with a tie as half a win: expected win rate = (2 + 0.5) / 4 = 62.5 %
    assert r.metric("ov_wildvision", "elo_scores") == pytest.approx(62.5, abs=0.01)
    for name, value in {
        "judgements_better_plus": 25.0,
        "judgements_better": 25.0,
        "judgements_tie": 25.0,
        "judgements_worse": 25.0,
        "judgements_worse_plus": 0,
        "judgements_unclear": 0,
        "judge_failures": 1,
    }.items():
        assert m[f"{name},none"] == pytest.approx(value), name
    assert {k: v["kind"] for k, v in failures(run, "ov_wildvision").items()} == {4: "unparsable"}
    assert requests_for(run, "Assistant B's Answer|>\nWV-0\n") == 2  # a malformed body, then the answer


def test_judge_requests_are_lmms_evals_with_valid_image_parts(run):
    bodies = [request["body"] for request in run["requests"]]
    assert len(bodies) == 7 + 4 + 4 + 7
    assert all(request["authorized"] for request in run["requests"])
    assert {(b["model"], b["temperature"], b["max_tokens"]) for b in bodies} == {(JUDGE_MODEL, 0.0, 1024)}
    by_task = {
        "wilder": [b for b in bodies if "[Assistant 2]\nWILDER-" in last_user_text(b)],
        "dc": [b for b in bodies if "Text Caption: CAPTION-" in last_user_text(b)],
        "live": [b for b in bodies if "[Assistant Response]" in last_user_text(b)],
        "wv": [b for b in bodies if "Assistant B's Answer|>" in last_user_text(b)],
    }
    assert sum(len(v) for v in by_task.values()) == len(bodies)
    images = {"wilder": 1, "dc": 1, "live": 2, "wv": 1}  # LiveBench docs carry two images
    for name, group in by_task.items():
        for body in group:
            parts = [
                p for m in body["messages"] for p in (m["content"] if isinstance(m["content"], list) else [])
            ]
            urls = [p["image_url"] for p in parts if p.get("type") == "image_url"]
            assert len(urls) == images[name], name
            assert all(isinstance(u, dict) and u["url"].startswith("data:image/jpeg;base64,") for u in urls)
    # lmms-eval's judge prompts, verbatim pieces
    assert "Assume assistant 1 always receive a score of 10" in last_user_text(by_task["wilder"][0])
    assert "From 0 to 100, how much do you rate for this Text Caption" in last_user_text(by_task["dc"][0])
    assert "The rating should be 0-10" in last_user_text(by_task["live"][0])
    system = by_task["wv"][0]["messages"][0]
    assert system["role"] == "system" and "impartial judge" in system["content"][0]["text"]


def test_api_key_is_in_no_output_file(run):
    tmp = run["tmp"]
    files = [p for p in tmp.rglob("*") if p.is_file() and "hf_home" not in p.parts and "data" not in p.parts]
    assert any(p.name.endswith("_results.json") for p in files)
    assert [str(p) for p in files if KEY.encode() in p.read_bytes()] == []
    assert KEY not in run["run"].log


def test_parsers():
    from ov_eval.tasks import imagedc, llava_wilder, mmlivebench, wildvision
    from ov_eval.tasks.judged_vision import openai_image_parts

    assert llava_wilder.parse_scores("\n8 6\nfine") == [8.0, 6.0]
    assert llava_wilder.parse_scores("Scores: 8 6") is None  # lmms-eval's parser: exactly two numbers
    assert imagedc.parse_final_score("ok\nFinal Score: 85") == 85
    assert imagedc.parse_final_score("Final Score: 120") is None
    assert imagedc.parse_final_score("85/100") is None
    assert mmlivebench.parse_rating('{"Rating": 7.0, "Explanation": "x"}') == {
        "Rating": 7,
        "Explanation": "x",
    }
    assert mmlivebench.parse_rating('Here: {"Rating": 10}') == {"Rating": 10, "Explanation": ""}
    assert mmlivebench.parse_rating('{"Rating": 11}') is None
    assert mmlivebench.parse_rating('{"Rating": "high"}') is None
    assert wildvision.parse_verdict("... [[B>A]]") == "B>A"
    assert wildvision.parse_verdict("[[A>B]] or maybe [[B>A]]") is None  # two distinct verdicts
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": "data:x"}]}]
    assert openai_image_parts(messages)[0]["content"][0]["image_url"] == {"url": "data:x"}
    assert messages[0]["content"][0]["image_url"] == "data:x"  # a copy


def test_lmms_eval_wilder_transport_never_reaches_the_judge(monkeypatch):
    """Why ov_llava_wilder_small fixes the image part: lmms-eval 0.7.3's own request fails before sending."""
    from lmms_eval.llm_judge.protocol import ServerConfig
    from lmms_eval.llm_judge.providers.openai import OpenAIProvider
    from PIL import Image

    from ov_eval.tasks import llava_wilder
    from ov_eval.tasks.judged_common import rebind

    with FakeOpenAI(lambda body: "10 8\nok") as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_API_URL", server.url)
        provider = OpenAIProvider(ServerConfig(model_name="m", num_retries=1, retry_delay=0))
        original = rebind(llava_wilder._lmms.get_chat_response, server=provider)
        image = llava_wilder._lmms.image_to_base64(Image.new("RGB", (8, 8)))
        assert original(image, "prompt", max_retries=1, wait_time=0)[0] == ""
        assert server.count == 0
