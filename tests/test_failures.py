"""Failures look failed: a dead or failing LLM fails the augmenter (nothing cached, the run
FAILED in MLflow with its reason) and a rerun resumes; a dead endpoint is given up on quickly
with one warning; a damaged synthetic cache file is refused."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient

from hilgen import pipeline
from hilgen.augment.base import (
    AugmentContext,
    AugmenterFailedError,
    DamagedSyntheticFileError,
    SyntheticSet,
)
from hilgen.augment.generation import GenerationKey, generate_cached
from hilgen.augment.llm_generation import GPTAugmenter
from hilgen.augment.substitution import KBSubstitutionAugmenter
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from hilgen.llm.client import LLMClient
from hilgen.llm.endpoints import OpenAIEndpoint
from hilgen.llm.prompts import ChatPrompt
from tests.conftest import CONF, ROOT
from tests.helpers.fake_openai import FakeOpenAIServer, FakeReply, serve, user_text
from tests.helpers.kb_fixture import LABEL_GROUPS, FixtureLinker, demo_kb

GENERATE = ChatPrompt(user="GEN n={n} | {sentence}", name="gen")
TAG = ChatPrompt(user="TAG {sentence}", name="tag")
SOURCES = [
    Sentence(f"d{i}:0", tokenize(text), [Span(0, 1, "Chemical")], f"d{i}")
    for i, text in enumerate(
        [
            "Aspirin caused ulcers in rats .",
            "Lithium worsened tremor in adults .",
            "Heparin prevented thrombosis after surgery .",
            "Cisplatin causes nephrotoxicity in children .",
        ]
    )
]
REWRITE = {
    "Aspirin": "Ibuprofen caused ulcers in older rats .",
    "Lithium": "Valproate worsened tremor in young adults .",
    "Heparin": "Warfarin prevented thrombosis after hip surgery .",
    "Cisplatin": "Carboplatin causes nephrotoxicity in young children .",
}


def answer(body: dict[str, Any], attempt: int) -> FakeReply:
    """A rewrite for a generation chat; the first word tagged as a Chemical for tagging."""
    prompt = user_text(body)
    sentence = prompt.split("| ", 1)[1] if prompt.startswith("GEN") else prompt[4:]
    if prompt.startswith("GEN"):
        return FakeReply(f"1. {REWRITE[sentence.split()[0]]}")
    first, rest = sentence.split(" ", 1)
    return FakeReply(f"<Chemical>{first}</Chemical> {rest}")


def client(server: FakeOpenAIServer, cache_dir: Path, **overrides: Any) -> LLMClient:
    settings: dict[str, Any] = {
        "endpoint": OpenAIEndpoint(base_url=server.base_url),
        "model": "fake-model",
        "cache_dir": cache_dir,
        "max_retries": 2,
        "timeout_s": 2.0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.02,
        "max_concurrency": 2,
        "show_progress": False,
    }
    return LLMClient(**(settings | overrides))


def augmenter() -> GPTAugmenter:
    return GPTAugmenter(
        name="gpt_test",
        control=KBSubstitutionAugmenter(["synonym"], name="control"),
        generation_prompt=GENERATE,
        grounded_generation_prompt=GENERATE,
        tagging_prompt=TAG,
        count="fixed",
        sentences_per_source=1,
    )


def generate(llm: LLMClient, cache_dir: Path) -> tuple[SyntheticSet, Path, bool]:
    kb = demo_kb()
    context = AugmentContext(
        kb=kb,
        linker=FixtureLinker(kb),
        labels=["Disease", "Chemical"],
        label_groups=LABEL_GROUPS,
        seed=1,
        llm=llm,
    )
    key = GenerationKey("toy", 1, 1, {"name": "gpt_test"}, "v1", ("d0:0",), {})
    with llm:
        return generate_cached(augmenter(), SOURCES, context, key, cache_dir)


def test_a_dead_endpoint_is_given_up_on_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with serve(lambda body, attempt: FakeReply(status=503)) as server:
        llm = client(server, tmp_path, give_up_after_failures=2)
        with llm:
            outcomes = llm.chat_many([[{"role": "user", "content": f"q{i}"}] for i in range(30)])
        usage = llm.usage
    assert usage.failures == 30 and usage.not_sent >= 26
    # two chats in flight at once, three attempts each: a few more than 2 x 3, never 30 x 3
    assert server.request_count <= 4 * 3
    assert all(not hasattr(outcome, "content") for outcome in outcomes)
    records = [r for r in caplog.records if r.name == "hilgen.llm.client"]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "30 of 30 chats failed" in records[0].getMessage()
    assert "not sent" in records[0].getMessage()


def test_a_failing_source_fails_the_augmenter_caches_nothing_and_the_rerun_resumes(
    tmp_path: Path,
) -> None:
    def half_dead(body: dict[str, Any], attempt: int) -> FakeReply:
        prompt = user_text(body)
        if prompt.startswith("GEN") and ("Heparin" in prompt or "Cisplatin" in prompt):
            return FakeReply(status=500)
        return answer(body, attempt)

    with serve(half_dead) as server:
        with pytest.raises(AugmenterFailedError, match=r"2 of 6 LLM chats failed.*rerun"):
            generate(client(server, tmp_path / "llm"), tmp_path)
        assert not list((tmp_path / "synthetic").rglob("*.jsonl")), "no cache entry"

        server.responder = answer  # the endpoint is back
        before = server.request_count
        synthetic, path, hit = generate(client(server, tmp_path / "llm"), tmp_path)
        # only what failed is asked again: 2 generation chats and their 2 tagging chats
        assert server.request_count - before == 4
    assert not hit and path.is_file() and len(synthetic) == 4


def test_nothing_accepted_fails_the_augmenter(tmp_path: Path) -> None:
    with (
        serve(lambda body, attempt: FakeReply("I'm ready to assist.")) as server,
        pytest.raises(AugmenterFailedError, match="none of the 4 requested sentences"),
    ):
        generate(client(server, tmp_path / "llm"), tmp_path)


def test_a_truncated_synthetic_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with serve(answer) as server:
        synthetic, path, _ = generate(client(server, tmp_path / "llm"), tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert json.loads(lines[0])["sentences"] == len(synthetic) == len(lines) - 1
    path.write_text("".join(lines[:-1]), encoding="utf-8")  # cut at a line boundary
    with pytest.raises(DamagedSyntheticFileError, match=r"damaged.*holds 3.*Delete it"):
        SyntheticSet.from_jsonl(path)


def compose_run(overrides: list[str], config_name: str = "train"):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name, overrides=overrides)


def test_a_dead_endpoint_fails_the_mlflow_run_and_a_rerun_sends_requests(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path
) -> None:
    def overrides(server: FakeOpenAIServer, out: str) -> list[str]:
        return [
            "dataset=ncbi_disease_1type",
            "augmenter=gpt_related",
            "augmenter.count=fixed",
            "augmenter.sentences_per_source=1",
            "llm=openai_compatible",
            f"llm.endpoint.base_url={server.base_url}",
            "llm.model=fake-model",
            "llm.max_retries=1",
            "llm.backoff_base_s=0.01",
            "llm.show_progress=false",
            f"paths.cache_dir={tmp_path}/cache",
            f"paths.output_dir={tmp_path}/{out}",
            f"paths.data_dir={ROOT / 'data'}",
            *tmp_tracking,
        ]

    def tag_first_word(body: dict[str, Any], attempt: int) -> FakeReply:
        prompt = user_text(body)
        if "Tagged:" in prompt:
            words = prompt.rsplit("Sentence:", 1)[1].split("Tagged:")[0].split()
            return FakeReply(f"<Disease>{words[0]}</Disease> {' '.join(words[1:])}")
        return FakeReply("1. Colorectal cancer was found in the two families studied here .")

    # One endpoint, dead then back: the rerun has the same generation key, so only an
    # incomplete set cached by the failed run could stop it from asking again.
    with serve(lambda body, attempt: FakeReply(status=500)) as endpoint:
        cfg = compose_run(overrides(endpoint, "dead"))
        with pytest.raises(AugmenterFailedError, match="LLM chats failed"):
            pipeline.train(cfg)
        tracking = MlflowClient(cfg.tracking.tracking_uri)
        experiment = tracking.get_experiment_by_name(cfg.tracking.experiment)
        (run,) = tracking.search_runs([experiment.experiment_id])
        assert run.info.status == "FAILED"
        assert "LLM chats failed" in run.data.tags["failure"]
        assert run.data.metrics["synthetic/llm/failures"] > 0
        assert not list((tmp_path / "cache" / "synthetic").rglob("*.jsonl"))

        endpoint.responder = tag_first_word
        asked_while_dead = endpoint.request_count
        synthetic = pipeline.generate(compose_run(overrides(endpoint, "back"), "generate"))
        assert endpoint.request_count > asked_while_dead, "the rerun sent no request"
    assert synthetic.stats["cache_hit"] == 0
    assert len(synthetic) > 0
