"""Throughput of the LLM client: the local SmolLM2 model (uncached) and cache-hit replay.

Usage: .venv/bin/python bench/bench_llm.py [--prompts 8] [--max-tokens 32] [--concurrency 1 2]

For each concurrency level a fresh local llama.cpp server (n_parallel = concurrency) answers
the same short biomedical prompts with an empty cache; then each prompt is asked again
`--replay-rounds` times with `chat`, all served from the cache. Prints one row per run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hilgen.llm.client import LLMClient  # noqa: E402
from hilgen.llm.local_server import LocalLlamaEndpoint  # noqa: E402
from hilgen.llm.results import LLMResponse  # noqa: E402

PROMPTS = [
    "Name one disease caused by a virus.",
    "Write a sentence that mentions the drug aspirin.",
    "List two symptoms of diabetes.",
    "Give a synonym for myocardial infarction.",
    "Write a sentence about a patient with asthma.",
    "Name a chemical used to treat hypertension.",
    "What organ does hepatitis affect?",
    "Write a sentence that mentions breast cancer and tamoxifen.",
]


def run(
    prompts: list[str], max_tokens: int, concurrency: int, replay_rounds: int, cache_dir: Path
) -> list[str]:
    conversations = [[{"role": "user", "content": prompt}] for prompt in prompts]
    endpoint = LocalLlamaEndpoint(n_ctx=1024 * concurrency, n_parallel=concurrency)
    with LLMClient(
        endpoint,
        "SmolLM2-135M-Instruct",
        cache_dir,
        temperature=0.0,
        max_tokens=max_tokens,
        seed=1,
        max_concurrency=concurrency,
        show_progress=False,
    ) as client:
        started = time.perf_counter()
        client.endpoint.server.start()
        startup_s = time.perf_counter() - started

        started = time.perf_counter()
        fresh = client.chat_many(conversations)
        fresh_s = time.perf_counter() - started
        usage = client.usage

        started = time.perf_counter()
        replay = [client.chat(messages) for _ in range(replay_rounds) for messages in conversations]
        replay_s = time.perf_counter() - started

    failures = sum(not isinstance(result, LLMResponse) for result in fresh)
    assert all(isinstance(result, LLMResponse) and result.cached for result in replay)
    return [
        f"{concurrency:>11}",
        f"{startup_s:>9.2f}",
        f"{len(prompts) / fresh_s * 60:>12.1f}",
        f"{usage.request_seconds / max(usage.requests, 1):>13.2f}",
        f"{usage.completion_tokens / fresh_s:>11.1f}",
        f"{usage.completion_tokens / max(usage.requests, 1):>14.1f}",
        f"{failures:>8}",
        f"{len(replay) / replay_s:>16.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8, help="how many prompts (cycled)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--replay-rounds", type=int, default=100, help="cache replays per prompt")
    args = parser.parse_args()
    prompts = [f"{PROMPTS[i % len(PROMPTS)]} ({i})" for i in range(args.prompts)]

    header = [
        "concurrency",
        "startup_s",
        "requests/min",
        "s/request(avg)",
        "gen_tok/s",
        "gen_tok/request",
        "failures",
        "cache_hits/s",
    ]
    print(f"local SmolLM2-135M-Instruct Q4_1, {len(prompts)} prompts, max_tokens={args.max_tokens}")
    print(" | ".join(header))
    for concurrency in args.concurrency:
        with tempfile.TemporaryDirectory() as cache_dir:
            row = run(prompts, args.max_tokens, concurrency, args.replay_rounds, Path(cache_dir))
        print(" | ".join(cell.rjust(len(name)) for cell, name in zip(row, header, strict=True)))


if __name__ == "__main__":
    main()
