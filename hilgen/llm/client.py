"""`LLMClient`: chat completions with a persistent cache, retries, pacing and usage accounting.

Every LLM call in the toolkit goes through here, whatever the endpoint (local llama.cpp,
OpenAI, Azure OpenAI, vLLM), so caching, retry policy, rate limits, secrets handling and the
sensitive-data guard exist once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import openai
from tqdm.auto import tqdm

from hilgen.llm.cache import ResponseCache, cache_key
from hilgen.llm.endpoints import Endpoint
from hilgen.llm.prompts import Messages
from hilgen.llm.results import LLMError, LLMFailure, LLMResponse, LLMUsage
from hilgen.llm.sensitive import check_sensitive_endpoint
from hilgen.llm.throttle import RateLimiter, backoff_delay

logger = logging.getLogger(__name__)


#: Status codes worth another try: request timeout, rate limit, and every server error.
RETRYABLE_STATUS = frozenset({408, 429})


class MalformedResponseError(ValueError):
    """The server answered 2xx with a body that is not a chat completion."""


def parse_chat_completion(body: str) -> LLMResponse:
    """The answer in an OpenAI chat.completion JSON body, checked field by field."""
    try:
        completion = json.loads(body)
        choice = completion["choices"][0]
        content = choice["message"]["content"]
        if not isinstance(content, str):
            raise TypeError(f"message content is {type(content).__name__}, not a string")
        usage = completion.get("usage") or {}
        return LLMResponse(
            content=content,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=str(choice.get("finish_reason") or ""),
            model=str(completion.get("model") or ""),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise MalformedResponseError(
            f"malformed chat completion ({type(error).__name__}: {error}); "
            f"body starts {body[:200]!r}"
        ) from error


def is_retryable(error: Exception) -> bool:
    """Timeouts, dropped connections, 408/429 and 5xx are transient; anything else is not."""
    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in RETRYABLE_STATUS or error.status_code >= 500
    return False


def retry_after_seconds(error: Exception) -> float | None:
    """A numeric Retry-After header on an HTTP error, if the server sent one."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    """Chat completions against one endpoint and model, safe to share between threads.

    - Answers are cached on disk (`ResponseCache`) by endpoint, model, messages and sampling
      parameters, and stored as soon as they arrive: a repeated or resumed run sends only
      what it has not had answered. Failures are never cached. To draw several different
      samples for one prompt, vary `seed`.
    - Timeouts, 429 and 5xx are retried up to `max_retries` times with jittered exponential
      backoff; a malformed 2xx body is a server bug, reported and not retried.
    - After `give_up_after_failures` chats in a row failed after their retries, the endpoint
      counts as down: every later chat fails at once, unsent, so a dead endpoint costs one
      chat's retries rather than every chat's. A success in between resets the count.
    - Retries and failures are logged at DEBUG; `close` logs one warning with the counts.
    - At most `max_concurrency` requests are in flight and at most `requests_per_minute`
      start per minute, across `chat` and `chat_many` and all threads.
    - The endpoint opens lazily (a local server starts on the first request) and closes with
      the client; use it as a context manager.
    - `sensitive_data=True` refuses a non-loopback endpoint unless `allow_sensitive_endpoint`
      names it (see `check_sensitive_endpoint`); this is checked here, before any request.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        model: str,
        cache_dir: str | Path,
        *,
        temperature: float = 0.7,
        max_tokens: int = 256,
        seed: int | None = None,
        max_concurrency: int = 4,
        requests_per_minute: float | None = None,
        max_retries: int = 4,
        give_up_after_failures: int = 4,
        timeout_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        price_prompt_per_1k: float = 0.0,
        price_completion_per_1k: float = 0.0,
        sensitive_data: bool = False,
        allow_sensitive_endpoint: str | None = None,
        show_progress: bool = True,
    ) -> None:
        check_sensitive_endpoint(
            endpoint.base_url,
            sensitive_data=sensitive_data,
            allow_sensitive_endpoint=allow_sensitive_endpoint,
        )
        if max_concurrency < 1 or max_retries < 0 or timeout_s <= 0 or give_up_after_failures < 1:
            raise ValueError(
                f"LLMClient needs max_concurrency >= 1, max_retries >= 0, timeout_s > 0 and "
                f"give_up_after_failures >= 1; got {max_concurrency}, {max_retries}, "
                f"{timeout_s}, {give_up_after_failures}. Fix the llm config."
            )
        self.endpoint = endpoint
        self.model = model
        self.default_sampling: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
        }
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.give_up_after_failures = give_up_after_failures
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.price_prompt_per_1k = price_prompt_per_1k
        self.price_completion_per_1k = price_completion_per_1k
        self.show_progress = show_progress
        self.cache = ResponseCache(cache_dir)
        self._rate_limiter = RateLimiter(requests_per_minute)
        self._in_flight = threading.BoundedSemaphore(max_concurrency)
        self._usage = LLMUsage()
        self._usage_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._openai: openai.OpenAI | None = None
        self._rng = random.Random()
        self._failures_in_a_row = 0
        self._last_failure = ""

    # -- public API -------------------------------------------------------------------------

    def chat(self, messages: Messages, **sampling: Any) -> LLMResponse:
        """One answer for `messages`; `sampling` overrides the configured temperature,
        max_tokens and seed, and may add other chat.completions parameters (top_p, stop...).

        Raises `LLMError` when the request fails after its retries.
        """
        outcome = self._complete(messages, self._sampling(sampling))
        if isinstance(outcome, LLMFailure):
            raise LLMError(outcome)
        return outcome

    def chat_many(
        self, conversations: Sequence[Messages], *, desc: str = "LLM", **sampling: Any
    ) -> list[LLMResponse | LLMFailure]:
        """Answers for many conversations, concurrently, in input order, with a progress bar.

        Never raises for one conversation: a failure after retries comes back as an
        `LLMFailure` in its place. Identical conversations are requested once.
        """
        merged = self._sampling(sampling)
        unique: dict[str, Messages] = {}
        keys = []
        for messages in conversations:
            key = self._key(messages, merged)
            unique.setdefault(key, messages)
            keys.append(key)
        outcomes: dict[str, LLMResponse | LLMFailure] = {}
        # Not a `with` block: leaving one waits for every chat in flight, and on Ctrl-C or
        # SIGTERM nothing should wait (`close` ends them).
        pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="llm")
        try:
            with tqdm(
                total=len(unique), desc=desc, unit="chat", disable=not self.show_progress
            ) as bar:
                futures = {
                    key: pool.submit(self._complete, messages, merged, key)
                    for key, messages in unique.items()
                }
                for key, future in futures.items():
                    outcomes[key] = future.result()
                    bar.update()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return [outcomes[key] for key in keys]

    @property
    def last_failure(self) -> str:
        """Why the latest failed chat failed (empty when none has)."""
        with self._usage_lock:
            return self._last_failure

    @property
    def gave_up(self) -> bool:
        """True once the endpoint counts as down (see `give_up_after_failures`)."""
        with self._usage_lock:
            return self._failures_in_a_row >= self.give_up_after_failures

    @property
    def usage(self) -> LLMUsage:
        """A snapshot of the totals so far (safe to read while requests run)."""
        with self._usage_lock:
            return dataclasses.replace(self._usage)

    def close(self) -> None:
        """Close the HTTP client, stop a local server, close the cache; warn once about
        failed chats."""
        usage = self.usage
        if usage.failures:
            logger.warning(
                "LLM endpoint %s (model %s): %d of %d chats failed (%d requests, %d retries%s); "
                "last error: %s",
                self.endpoint.base_url,
                self.model,
                usage.failures,
                usage.calls,
                usage.requests,
                usage.retries,
                f", {usage.not_sent} not sent after {self.give_up_after_failures} failed in a row"
                if usage.not_sent
                else "",
                self.last_failure,
            )
        with self._open_lock:
            if self._openai is not None:
                self._openai.close()
                self._openai = None
            self.endpoint.close()
        self.cache.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LLMClient(endpoint={self.endpoint!r}, model={self.model!r}, "
            f"cache={str(self.cache.path)!r}, sampling={self.default_sampling!r})"
        )

    # -- internals --------------------------------------------------------------------------

    def _sampling(self, overrides: dict[str, Any]) -> dict[str, Any]:
        merged = {**self.default_sampling, **overrides}
        return {name: value for name, value in merged.items() if value is not None}

    def _key(self, messages: Messages, sampling: dict[str, Any]) -> str:
        return cache_key(self.endpoint.cache_identity, self.model, messages, sampling)

    def _client(self) -> openai.OpenAI:
        with self._open_lock:
            if self._openai is None:
                self._openai = self.endpoint.open(self.timeout_s)
            return self._openai

    def _count(self, **increments: float) -> None:
        with self._usage_lock:
            for name, increment in increments.items():
                setattr(self._usage, name, getattr(self._usage, name) + increment)

    def _complete(
        self, messages: Messages, sampling: dict[str, Any], key: str | None = None
    ) -> LLMResponse | LLMFailure:
        """Cache, else request with retries; count everything; store only successes."""
        key = key or self._key(messages, sampling)
        cached = self.cache.get(key)
        if cached is not None:
            self._count(calls=1, cache_hits=1)
            return dataclasses.replace(LLMResponse(**cached), cached=True)
        if self.gave_up:
            self._count(calls=1, failures=1, not_sent=1)
            return LLMFailure(reason=f"not sent, endpoint down: {self.last_failure}", attempts=0)
        outcome = self._request_with_retries(messages, sampling)
        if isinstance(outcome, LLMFailure):
            self._count(calls=1, failures=1)
            with self._usage_lock:
                self._failures_in_a_row += 1
                self._last_failure = outcome.reason
            logger.debug(
                "LLM chat failed after %d attempt(s): %s", outcome.attempts, outcome.reason
            )
            return outcome
        with self._usage_lock:
            self._failures_in_a_row = 0
        request = {"model": self.model, "messages": messages, "sampling": sampling}
        self.cache.put(key, request, dataclasses.asdict(outcome))
        cost = (
            outcome.prompt_tokens * self.price_prompt_per_1k
            + outcome.completion_tokens * self.price_completion_per_1k
        ) / 1000.0
        self._count(
            calls=1,
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            estimated_cost_usd=cost,
        )
        return outcome

    def _request_with_retries(
        self, messages: Messages, sampling: dict[str, Any]
    ) -> LLMResponse | LLMFailure:
        for attempt in range(1, self.max_retries + 2):
            if attempt > 1 and self.gave_up:  # other chats found the endpoint down meanwhile
                return LLMFailure(reason=self.last_failure, attempts=attempt - 1)
            try:
                return self._request(messages, sampling)
            except MalformedResponseError as error:
                return LLMFailure(reason=self.endpoint.redact(str(error)), attempts=attempt)
            except openai.OpenAIError as error:
                reason = self.endpoint.redact(f"{type(error).__name__}: {error}")
                if not is_retryable(error) or attempt > self.max_retries or self.gave_up:
                    return LLMFailure(reason=reason, attempts=attempt)
                delay = backoff_delay(
                    attempt,
                    self.backoff_base_s,
                    self.backoff_max_s,
                    retry_after_seconds(error),
                    self._rng,
                )
                logger.debug("LLM request retry %d in %.2f s after %s", attempt, delay, reason)
                self._count(retries=1)
                time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns")

    def _request(self, messages: Messages, sampling: dict[str, Any]) -> LLMResponse:
        """One HTTP request, paced and bounded; the body is parsed here, not by `openai`,
        because its models accept malformed bodies silently (e.g. ``choices: null``)."""
        client = self._client()
        self._rate_limiter.wait()
        with self._in_flight:
            self._count(requests=1)
            started = time.monotonic()
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model=self.model, messages=messages, **sampling
                )
                body = raw.http_response.text
            finally:
                self._count(request_seconds=time.monotonic() - started)
        return parse_chat_completion(body)
