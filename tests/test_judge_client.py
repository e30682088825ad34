"""The judge client against a real HTTP server on 127.0.0.1, through the real ``openai`` SDK.

Each test scripts the fake server (support.fake_openai) and checks what
the client did: the parsed value, how many requests the server counted, the
delays it chose (an injected ``sleep`` records them; a seeded RNG fixes the
jitter), and the accounting.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from support.fake_openai import FakeOpenAI, Reply

from ov_eval.judge.accounting import TaskAccounting
from ov_eval.judge.cache import JudgeCache
from ov_eval.judge.client import JudgeClient, retry_after_seconds
from ov_eval.judge.config import load_config

KEY = "sk-test-judge-client-0001"
MESSAGES = [{"role": "user", "content": "Rate: 2 + 2 = 4"}]


def digits(text: str) -> str | None:
    """Test parser: accepts answers that start with a digit."""
    return text if text[:1].isdigit() else None


@pytest.fixture()
def server():
    with FakeOpenAI(api_key=KEY, lifetime=60) as srv:
        yield srv


def make_client(url: str, tmp_path=None, **settings: str) -> tuple[JudgeClient, list[float]]:
    env = {
        "OV_EVAL_JUDGE_BASE_URL": url,
        "OV_EVAL_JUDGE_API_KEY": KEY,
        "OV_EVAL_JUDGE_CACHE": str(tmp_path / "cache.sqlite") if tmp_path else "off",
        **{f"OV_EVAL_JUDGE_{k.upper()}": v for k, v in settings.items()},
    }
    config = load_config(env)
    sleeps: list[float] = []
    cache = JudgeCache(config.cache_path) if config.cache_path else None
    return JudgeClient(config, cache, sleep=sleeps.append, rng=random.Random(0)), sleeps


def judge(client: JudgeClient, accounting: TaskAccounting | None = None, messages=MESSAGES, **kw):
    accounting = accounting or TaskAccounting("t", client.config.model)
    return client.judge(messages, digits, sample="s1", accounting=accounting, **kw), accounting


def test_good_answer_is_parsed_sent_with_key_and_accounted(server):
    server.script(Reply(content="7 8", prompt_tokens=30, completion_tokens=4))
    client, sleeps = make_client(server.url)
    result, acc = judge(client, temperature=0.0, max_tokens=64)
    assert result.ok and result.value == "7 8" and not result.cache_hit
    assert server.count == 1 and server.requests[0]["authorized"]
    body = server.requests[0]["body"]
    assert body["messages"] == MESSAGES
    assert (body["temperature"], body["max_tokens"], body["model"]) == (0.0, 64, "gpt-4o-2024-11-20")
    stats = acc.as_dict()
    assert (stats["calls"], stats["prompt_tokens"], stats["completion_tokens"], stats["failures"]) == (
        1,
        30,
        4,
        0,
    )
    assert sleeps == []


def test_config_overrides_task_sampling_parameters(server):
    server.script("5")
    client, _ = make_client(server.url, temperature="0.7", max_tokens="9")
    judge(client, temperature=0.0, max_tokens=64)
    assert (server.requests[0]["body"]["temperature"], server.requests[0]["body"]["max_tokens"]) == (0.7, 9)


def test_429_waits_at_least_retry_after_then_succeeds(server):
    server.script(Reply.rate_limited(retry_after=7), "6")
    client, sleeps = make_client(server.url, backoff="0.5")
    result, acc = judge(client)
    assert result.value == "6" and server.count == 2
    # first-retry backoff is 0.5/2 + U(0, 0.5/2) <= 0.5 s, so the 7 s Retry-After must win
    assert sleeps == [7.0]
    assert acc.as_dict()["retries"] == 1 and acc.as_dict()["calls"] == 2


def test_5xx_backoff_is_exponential_with_jitter_and_tries_are_bounded(server):
    server.script(*[Reply.server_error(500)] * 3, Reply.server_error(503), Reply.server_error(502))
    client, sleeps = make_client(server.url, backoff="1", backoff_max="5", max_tries="5")
    result, acc = judge(client)
    assert not result.ok and result.failure == "http_502"
    assert "gave up after 5 tries" in result.reason
    assert server.count == 5  # bounded: exactly MAX_TRIES requests
    # retry n sleeps in [d/2, d] with d = min(5, 1 * 2**(n-1)): d = 1, 2, 4, 5 (capped)
    assert len(sleeps) == 4
    for delay, d in zip(sleeps, [1, 2, 4, 5], strict=True):
        assert d / 2 <= delay <= d
    assert len(set(sleeps)) == 4  # jitter: no two equal
    stats = acc.as_dict()
    assert stats["failures"] == 1 and stats["failures_by_reason"] == {"http_502": 1}
    assert stats["failed_samples"][0]["sample"] == "s1"


def test_client_error_is_not_retried_and_an_echoed_key_is_scrubbed(server):
    server.script(Reply.server_error(401, message=f"Incorrect API key provided: {KEY}"))
    client, sleeps = make_client(server.url)
    result, acc = judge(client)
    assert result.failure == "http_401" and "not retryable" in result.reason
    assert server.count == 1 and sleeps == []
    assert "Incorrect API key provided: ***" in result.reason
    assert KEY not in json.dumps(acc.as_dict())


def test_malformed_json_body_is_retried(server):
    server.script(Reply.malformed(), "9")
    client, sleeps = make_client(server.url)
    result, acc = judge(client)
    assert result.value == "9" and server.count == 2 and len(sleeps) == 1


def test_timeout_is_retried_then_reported(server):
    server.script(Reply.answer("1", delay=1.5), Reply.answer("1", delay=1.5))
    client, sleeps = make_client(server.url, timeout="0.3", max_tries="2")
    result, _ = judge(client)
    assert result.failure == "timeout" and "0.3 s" in result.reason and len(sleeps) == 1


def test_connection_error_is_retried_then_reported():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, sleeps = make_client(f"http://127.0.0.1:{port}/v1", max_tries="3")
    result, acc = judge(client)
    assert result.failure == "connection" and len(sleeps) == 2 and acc.as_dict()["calls"] == 3


def test_unparsable_answer_is_retried_once_with_the_same_prompt(server):
    server.script("I think they are both good", "4 5")
    client, _ = make_client(server.url)
    result, _ = judge(client)
    assert result.value == "4 5" and server.count == 2
    assert server.requests[0]["body"] == server.requests[1]["body"]


def test_twice_unparsable_is_a_recorded_failure_and_not_cached(server, tmp_path):
    server.script("no score here", "still none")
    client, _ = make_client(server.url, tmp_path)
    result, acc = judge(client)
    assert result.failure == "unparsable" and "still none" in result.reason and server.count == 2
    assert acc.as_dict()["failures_by_reason"] == {"unparsable": 1}
    server.script("3")
    again, _ = judge(client)  # the failure was not cached: the judge is asked again
    assert again.value == "3" and server.count == 3


def test_cache_hit_makes_no_request_and_key_includes_params_and_model(server, tmp_path):
    server.script("8", "2", "5")
    client, _ = make_client(server.url, tmp_path)
    first, acc = judge(client)
    second, _ = judge(client, acc)
    assert (first.value, second.value, second.cache_hit, server.count) == ("8", "8", True, 1)
    assert acc.as_dict()["cache_hits"] == 1 and acc.as_dict()["calls"] == 1
    other_params, _ = judge(client, acc, temperature=0.5)
    assert other_params.value == "2" and not other_params.cache_hit and server.count == 2
    other_model, _ = make_client(server.url, tmp_path, model="judge-b")
    assert judge(other_model)[0].value == "5" and server.count == 3
    # a new client on the same file (a rerun) still hits
    rerun, _ = make_client(server.url, tmp_path)
    assert judge(rerun)[0].cache_hit and server.count == 3


def test_concurrency_limit_bounds_requests_in_flight(server):
    server.responder = lambda body: Reply.answer("1", delay=0.3)
    client, _ = make_client(server.url, concurrency="2")
    acc = TaskAccounting("t", client.config.model)
    threads = [
        threading.Thread(target=judge, args=(client, acc, [{"role": "user", "content": f"q{i}"}]))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.count == 6 and server.max_in_flight == 2


def test_azure_provider_uses_deployment_url_and_api_key_header(server):
    root = server.url.removesuffix("/v1")
    env = {
        "OV_EVAL_JUDGE_PROVIDER": "azure",
        "OV_EVAL_JUDGE_AZURE_ENDPOINT": root,
        "AZURE_OPENAI_API_KEY": KEY,
        "OV_EVAL_JUDGE_MODEL": "my-gpt4o-deployment",
        "OV_EVAL_JUDGE_CACHE": "off",
    }
    server.script("3")
    client = JudgeClient(load_config(env))
    result, _ = judge(client)
    assert result.value == "3"
    assert server.requests[0]["path"] == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert server.requests[0]["authorized"]


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": date}) <= 30
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_fake_server_is_bounded_and_stops_itself():
    import urllib.error
    import urllib.request

    def post(url: str) -> int:
        request = urllib.request.Request(url + "/chat/completions", data=b"{}", method="POST")
        try:
            return urllib.request.urlopen(request, timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:  # refused or reset: nobody serving any more
            return -1

    server = FakeOpenAI(max_requests=2, lifetime=60).start()
    assert [post(server.url), post(server.url), post(server.url)] == [200, 200, 503]
    server._thread.join(timeout=5)  # the 503 made it shut itself down
    assert not server._thread.is_alive() and post(server.url) == -1 and server.count == 2
