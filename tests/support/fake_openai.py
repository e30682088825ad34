"""A real, scriptable OpenAI-compatible chat-completions server on 127.0.0.1 for judge tests.

Why a real HTTP server and not a mocked client: the judge must be proven with the
real ``openai`` SDK (its error classes, header parsing, timeouts, JSON decoding)
and from inside a separate ``python -m lmms_eval`` process.

Each request gets the next scripted ``Reply`` if any are left, else the
``responder``'s reply for the request body. Replies can answer, delay, return 429
with Retry-After, return 5xx, send a malformed JSON body, or answer text the task
cannot parse (which is just ``Reply.answer("...")``). The server counts requests and
records each body (plus the path and whether the bearer/api-key matched
``api_key``: the key itself is never stored). It is bounded: after ``max_requests``
requests or ``lifetime`` seconds it answers 503 and shuts itself down.

Any path ending in ``/chat/completions`` is served, so Azure deployment URLs work too.
Command line (for demos): (from tests/) ``python -m support.fake_openai --port 8000 --answer "8 9"``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    kind: str = "answer"  # answer | status | malformed
    content: str = ""
    status: int = 200
    delay: float = 0.0
    retry_after: float | None = None
    prompt_tokens: int = 11
    completion_tokens: int = 3

    @staticmethod
    def answer(content: str, delay: float = 0.0) -> Reply:
        return Reply(content=content, delay=delay)

    @staticmethod
    def rate_limited(retry_after: float | None = 1.0) -> Reply:
        return Reply(kind="status", status=429, retry_after=retry_after)

    @staticmethod
    def server_error(status: int = 500, message: str = "") -> Reply:
        return Reply(kind="status", status=status, content=message)

    @staticmethod
    def malformed() -> Reply:
        return Reply(kind="malformed")


Responder = Callable[[dict[str, Any]], "Reply | str"]


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat-completions body (for responders)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return ""


class FakeOpenAI:
    def __init__(
        self,
        responder: Responder | None = None,
        *,
        script: Sequence[Reply | str] = (),
        api_key: str | None = None,
        max_requests: int = 1000,
        lifetime: float = 600.0,
        port: int = 0,
    ) -> None:
        self.responder = responder or (lambda body: Reply.answer("ok"))
        self._script = [Reply.answer(r) if isinstance(r, str) else r for r in script]
        self.api_key = api_key
        self.max_requests = max_requests
        self.lifetime = lifetime
        self.requests: list[dict[str, Any]] = []  # {"path", "body", "authorized", "time"}
        self.in_flight = 0
        self.max_in_flight = 0  # most requests being answered at once (concurrency-limit tests)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        """Base URL to give the openai client (``.../v1``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def script(self, *replies: Reply | str) -> None:
        """Queue replies for the next requests (before the responder is consulted)."""
        with self._lock:
            self._script += [Reply.answer(r) if isinstance(r, str) else r for r in replies]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.max_in_flight = 0

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        # shutdown() waits for serve_forever; run it off the request thread that may call us.
        threading.Thread(target=self._server.shutdown, daemon=True).start()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, path: str, body: dict[str, Any], authorized: bool) -> Reply | None:
        with self._lock:
            if len(self.requests) >= self.max_requests:
                return None
            self.requests.append({"path": path, "body": body, "authorized": authorized, "time": time.time()})
            if self._script:
                return self._script.pop(0)
        reply = self.responder(body)
        return Reply.answer(reply) if isinstance(reply, str) else reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                if not path.endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, b'{"error": {"message": "request body is not JSON"}}')
                    return
                presented = self.headers.get("api-key") or self.headers.get("Authorization", "").removeprefix(
                    "Bearer "
                )
                authorized = fake.api_key is None or presented == fake.api_key
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._answer(path, body, authorized)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _answer(self, path: str, body: dict[str, Any], authorized: bool) -> None:
                reply = fake._next_reply(path, body, authorized)
                if reply is None:
                    self._send(503, b'{"error": {"message": "fake server request budget exhausted"}}')
                    threading.Thread(target=fake.stop, daemon=True).start()
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.kind == "malformed":
                    self._send(200, b'{"id": "x", "choices": [{"message": ')  # truncated JSON
                elif reply.kind == "status":
                    headers = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
                    message = json.dumps(
                        {"error": {"message": reply.content or f"scripted {reply.status}"}}
                    ).encode()
                    self._send(reply.status, message, headers)
                else:
                    self._send(200, json.dumps(_completion(body, reply)).encode())

        return Handler


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply.content}}
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fake OpenAI-compatible judge server (tests, demos)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--answer", default="ok", help="answer to every request")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop after this many seconds")
    args = parser.parse_args(argv)
    server = FakeOpenAI(lambda body: Reply.answer(args.answer), port=args.port, lifetime=args.lifetime)
    server.start()
    print(f"fake OpenAI server at {server.url} (stops after {args.lifetime:g} s)", flush=True)
    server._thread.join()  # type: ignore[union-attr]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def judge_env(
    server: FakeOpenAI | None, cache: Path | str, *, key: str = "", **settings: object
) -> dict[str, str]:
    """Environment for an lmms-eval subprocess whose judge is ``server`` (``None``: no judge at all).

    The developer's own keys and judge variables are blanked, so a test can never reach a real
    API or a real key; ``settings`` are ``OV_EVAL_JUDGE_<NAME>`` values (``max_tries=2``).
    """
    env = {
        "OPENAI_API_KEY": "",
        "OV_EVAL_JUDGE_API_KEY_ENV": "",
        "OV_EVAL_JUDGE_API_KEY": key,
        "OV_EVAL_JUDGE_BASE_URL": server.url if server else "",
        "OV_EVAL_JUDGE_CACHE": str(cache),
    }
    env |= {f"OV_EVAL_JUDGE_{name.upper()}": str(value) for name, value in settings.items()}
    return env
