"""A scriptable fake OpenAI-compatible chat server on 127.0.0.1, for tests of LLM callers.

A test gives `FakeOpenAIServer` a responder: a function from the request body (and how many
times this exact body has been seen) to a `FakeReply` (an answer, an HTTP error with an optional
Retry-After, a broken body or a delay). A responder may also block, to hold a request open while
the test acts. The server records every request (bodies, Authorization headers, arrival times)
and the most requests it was handling at once, so tests can count and time what reached it.
Swap `responder` on a running server to change its script. Use it through the `serve` helper.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class FakeReply:
    """What the fake answers: `content` as a chat completion, or an error `status` (with a
    Retry-After header of `retry_after_s` if set), or a raw `body`; after `delay_s` seconds
    (longer than the client's timeout makes a timeout)."""

    content: str = ""
    status: int = 200
    body: bytes | None = None
    delay_s: float = 0.0
    retry_after_s: float | None = None


Responder = Callable[[dict[str, Any], int], FakeReply]


def user_text(body: dict[str, Any]) -> str:
    """The last user message of a chat request body."""
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


class FakeOpenAIServer(ThreadingHTTPServer):
    """Answers ``POST .../chat/completions`` with whatever `responder` says."""

    daemon_threads = True

    def __init__(self, responder: Responder) -> None:
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.responder = responder
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.received_at: list[float] = []  # time.monotonic() on arrival, one per request
        self.seen: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    @property
    def request_count(self) -> int:
        with self.lock:
            return len(self.bodies)

    def prompt_counts(self) -> Counter[str]:
        """How many requests arrived for each last user message (retries included)."""
        with self.lock:
            return Counter(user_text(body) for body in self.bodies)

    def arrival_times(self, prompt: str) -> list[float]:
        """When each request whose last user message is `prompt` arrived (monotonic clock)."""
        with self.lock:
            pairs = zip(self.bodies, self.received_at, strict=True)
            return [at for body, at in pairs if user_text(body) == prompt]

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out closed its socket; that is the point, not an error."""


class _ChatHandler(BaseHTTPRequestHandler):
    server: FakeOpenAIServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fake = self.server
        canonical = json.dumps(body, sort_keys=True)
        with fake.lock:
            fake.bodies.append(body)
            fake.authorizations.append(self.headers.get("Authorization", ""))
            fake.received_at.append(time.monotonic())
            fake.seen[canonical] += 1
            attempt = fake.seen[canonical]
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            self._reply(body, fake.responder(body, attempt))
        finally:
            with fake.lock:
                fake.in_flight -= 1

    def _reply(self, body: dict[str, Any], reply: FakeReply) -> None:
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.body is not None:
            return self._send(reply.status, reply.body)
        if reply.status != 200:
            error = {"error": {"message": f"fake {reply.status}", "type": "fake_error"}}
            return self._send(reply.status, json.dumps(error).encode(), reply.retry_after_s)
        completion = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        self._send(200, json.dumps(completion).encode())

    def _send(self, status: int, data: bytes, retry_after_s: float | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if retry_after_s is not None:
                self.send_header("Retry-After", f"{retry_after_s:g}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read the recorded requests, not an access log."""


@contextmanager
def serve(responder: Responder) -> Iterator[FakeOpenAIServer]:
    """A running fake server, shut down on exit."""
    server = FakeOpenAIServer(responder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
