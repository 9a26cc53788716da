"""The junk filter on recorded answers of the embedded SmolLM2-135M (tests/llm/fixtures/llm/), each
sentence labelled by hand: junk it must catch, sentences it must let through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hilgen.llm.junk_filter import JUNK_KINDS, junk_kind
from hilgen.llm.parsing import parse_sentence_list

FIXTURE = Path(__file__).parent / "fixtures" / "llm" / "smollm2_answers.jsonl"
NCBI_LABELS = ["CompositeMention", "DiseaseClass", "Modifier", "SpecificDisease"]


def labelled_sentences() -> list[tuple[str, str | None]]:
    pairs = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        sentences = parse_sentence_list(record["answer"])
        assert len(sentences) == len(record["junk"]), record["answer"][:80]
        pairs += list(zip(sentences, record["junk"], strict=True))
    return pairs


def test_recorded_smollm2_junk_is_caught_and_sentences_pass() -> None:
    pairs = labelled_sentences()
    junk = [(text, kind) for text, kind in pairs if kind]
    clean = [text for text, kind in pairs if not kind]
    assert {kind for _, kind in junk} == set(JUNK_KINDS), "every kind is in the recording"
    passed_clean = [text for text in clean if junk_kind(text, NCBI_LABELS) is None]
    assert passed_clean == clean, "a real sentence was taken for junk"
    caught = [(text, kind) for text, kind in junk if junk_kind(text, NCBI_LABELS) == kind]
    assert len(caught) / len(junk) >= 0.95, set(junk) - set(caught)


@pytest.mark.parametrize(
    ("text", "kind"),
    [  # the lines the issue quotes, from a run with grounding=kb tagging=names
        ('replace " gastric cancer " with " cancer of stomach " ( Disease )', "echoed_instruction"),
        ("The second sentence says : The disease is Malignant Gastric Neoplasm .", "meta_text"),
        ("Gastric cancer " * 30 + ".", "repetition"),
        ("(iii) Familial benign copper deficiency", "list_item"),
        ("Mutations in the ATP7B gene lead to Wilson disease .", None),
    ],
)
def test_the_issues_examples(text: str, kind: str | None) -> None:
    assert junk_kind(text, ["Disease"]) == kind
