from __future__ import annotations

import pytest

from hilgen.data.sampling import label_counts, sample_kshot
from hilgen.data.types import Sentence, Span


def corpus(n: int = 60) -> list[Sentence]:
    sentences = []
    for i in range(n):
        spans = [Span(0, 1, "A")]
        if i % 3 == 0:
            spans.append(Span(2, 3, "B"))
        if i % 10 == 0:
            spans.append(Span(4, 5, "C"))
        sentences.append(Sentence(f"s{i}", ["w"] * 6, spans))
    return sentences


def test_every_label_reaches_k_and_sample_is_deterministic() -> None:
    first = sample_kshot(corpus(), ["A", "B", "C"], shots=5, seed=7)
    second = sample_kshot(corpus(), ["A", "B", "C"], shots=5, seed=7)
    assert [s.sentence_id for s in first.sentences] == [s.sentence_id for s in second.sentences]
    assert all(first.mention_counts[label] >= 5 for label in "ABC")
    assert first.mention_counts == dict(label_counts(first.sentences))


def test_other_seed_other_sample() -> None:
    ids = {
        tuple(s.sentence_id for s in sample_kshot(corpus(), ["A", "B"], 5, seed).sentences)
        for seed in range(1, 6)
    }
    assert len(ids) > 1


def test_overshoot_is_bounded_when_avoidable() -> None:
    sample = sample_kshot(corpus(), ["A", "B", "C"], shots=2, seed=1, max_overshoot=2.0)
    # C is rarest and drawn first; each C sentence also has A and B, so A must stay within 2K.
    assert sample.mention_counts["A"] <= 4


def test_too_few_mentions_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="labels \\['C'\\] have fewer than 10"):
        sample_kshot(corpus(), ["A", "C"], shots=10, seed=1)
