"""The LLM tagger against a scripted fake OpenAI server on 127.0.0.1
(tests/helpers/fake_openai.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hilgen.data.iob import normalise_tags, tags_to_spans
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from hilgen.evaluate.prediction_files import read_predictions_jsonl
from hilgen.llm.client import LLMClient
from hilgen.llm.endpoints import OpenAIEndpoint
from hilgen.llm.parsing import locate_entities, render_inline
from hilgen.llm.sensitive import SensitiveDataError
from hilgen.models.base import TrainingData
from hilgen.models.llm_tagger import LLMTagger
from hilgen.pipeline import predict
from tests.helpers.fake_openai import FakeOpenAIServer, FakeReply, serve, user_text

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["Disease", "Chemical"]
VOCABULARY = {"breast cancer": "Disease", "hypotension": "Disease", "lithium": "Chemical",
              "selegiline": "Chemical", "sodium": "Chemical"}  # fmt: skip


def sentence(sentence_id: str, text: str) -> Sentence:
    """A sentence with its vocabulary words as gold entities."""
    tokens = tokenize(text)
    spans = locate_entities(tokens, list(VOCABULARY.items()), LABELS, require_all=False).spans
    return Sentence(sentence_id, tokens, spans)


GOLD = [
    sentence("g:0", "No entity is named here at all ."),
    sentence("g:1", "Women with breast cancer were treated with lithium ."),
    sentence("g:2", "Selegiline induced hypotension ."),
]
TEST = [
    sentence("t:0", "Lithium caused hypotension in breast cancer patients ."),
    sentence("t:1", "Sodium lowered hypotension risk ."),  # JSON answer
    sentence("t:2", "Lithium with invented entity ."),  # hallucinated + unknown label
    sentence("t:3", "Selegiline and server errors ."),  # 500 every time
    sentence("t:4", "Sodium and a slow answer ."),  # timeout every time
    sentence("t:5", "Breast cancer past the limit ."),
]


def tagged(text: str) -> str:
    tokens = tokenize(text)
    spans = locate_entities(tokens, list(VOCABULARY.items()), LABELS, require_all=False).spans
    return render_inline(Sentence("x", tokens, spans))


def answers(body: dict[str, Any], attempt: int) -> FakeReply:
    text = user_text(body).rsplit("Sentence: ", 1)[1].split("\n")[0]
    if "Sodium lowered" in text:
        return FakeReply(json.dumps({"Chemical": ["Sodium"], "disease": ["hypotension"]}))
    if "invented" in text:
        return FakeReply(tagged(text) + " <Disease>unicorn fever</Disease> <Gene>entity</Gene>")
    if "server errors" in text:
        return FakeReply(status=500)
    if "slow answer" in text:
        return FakeReply("too late", delay_s=1.0)
    return FakeReply(tagged(text))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with serve(answers) as fake:
        yield fake


def tagging_prompt() -> Any:
    return instantiate(OmegaConf.load(ROOT / "conf" / "augmenter" / "prompts" / "tagging.yaml"))


def client(server: FakeOpenAIServer, cache_dir: Path) -> LLMClient:
    return LLMClient(
        OpenAIEndpoint(base_url=server.base_url),
        "fake-model",
        cache_dir,
        max_retries=1,
        timeout_s=0.3,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        show_progress=False,
    )


def test_predictions_are_valid_iob2_and_failures_become_all_o(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    with client(server, tmp_path / "cache") as llm:
        tagger = LLMTagger(LABELS, llm, tagging_prompt(), max_examples=2, limit=5)
        assert tagger.fit(TrainingData(GOLD), make_trainer=None) == {"few_shot_examples": 2}
        scores, _ = predict(tagger, TEST, tmp_path, "test")
        requests = server.request_count

        prompt = user_text(server.bodies[0])
        assert f"Tagged: {render_inline(GOLD[1])}" in prompt and GOLD[0].text not in prompt
        assert "past the limit" not in "".join(user_text(b) for b in server.bodies)

        saved = read_predictions_jsonl(tmp_path / "predictions" / "test.jsonl")
        predicted = {p.sentence_id: p.predicted for p in saved}
        for tags in predicted.values():
            assert normalise_tags(tags) == tags, "valid IOB2 needs no repair"
        assert predicted["t:0"] == TEST[0].tags and predicted["t:1"] == TEST[1].tags
        assert tags_to_spans(predicted["t:2"]) == [Span(0, 1, "Chemical")]
        assert set(predicted["t:3"]) == set(predicted["t:4"]) == set(predicted["t:5"]) == {"O"}
        stats = tagger.prediction_stats
        assert (stats["failed"], stats["beyond_limit"], stats["sentences"]) == (2, 1, 6)
        assert stats["dropped/entity_not_in_text"] == stats["dropped/unknown_label"] == 1
        assert stats["format/json"] == 1
        assert (scores.n_gold, scores.n_predicted, scores.precision) == (9, 6, 100.0)

        tagger.predict(TEST)  # answers come from the cache; only the failures are retried
        assert server.request_count - requests == 2 * 2


def compose_model(overrides: list[str], tmp_path: Path) -> Any:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            "train", overrides=["model=llm_tagger", f"paths.cache_dir={tmp_path}", *overrides]
        )


def test_config_instantiates_the_client_lazily_and_tags(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    cfg = compose_model(
        [
            "llm=openai_compatible",
            f"llm.endpoint.base_url={server.base_url}",
            "llm.model=fake-model",
            "llm.show_progress=false",
            "model.limit=2",
        ],
        tmp_path,
    )
    tagger = instantiate(cfg.model, labels=LABELS)
    assert isinstance(tagger, LLMTagger) and tagger.limit == 2
    assert not (tmp_path / "llm").exists(), "no client (nor its cache) before the first predict"
    tagger.fit(TrainingData(GOLD), make_trainer=None)
    assert tagger.predict(TEST[:2]) == [TEST[0].tags, TEST[1].tags]
    assert (tmp_path / "llm" / "responses.sqlite").exists()
    tagger.close()


def test_sensitive_dataset_refuses_a_remote_endpoint_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    monkeypatch.setattr(openai, "OpenAI", lambda *a, **k: opened.append(k))
    cfg = compose_model(["dataset=mimic3", "llm=openai"], tmp_path)
    tagger = instantiate(cfg.model, labels=LABELS)
    tagger.fit(TrainingData(GOLD), make_trainer=None)
    with pytest.raises(Exception, match="sensitive: true") as refused:
        tagger.predict(TEST[:1])
    assert isinstance(refused.value.__cause__ or refused.value, SensitiveDataError)
    assert opened == [], "no HTTP client may be created, let alone a request sent"
