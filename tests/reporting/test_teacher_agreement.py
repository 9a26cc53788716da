"""Counting where a gold-trained model agrees with synthetic tags (what consistency filtering
would act on)."""

from __future__ import annotations

import pytest

from hilgen.augment.base import Replacement, SyntheticSentence, SyntheticSet
from hilgen.data.types import Sentence, Span
from hilgen.reporting.teacher_agreement import agreement_table, teacher_agreement

TOKENS = ["patients", "with", "breast", "cancer", "and", "fever"]


def synthetic_sentence(index: int, spans: list[Span], relation: str) -> SyntheticSentence:
    replacement = Replacement(0, "x", "y", "Disease", "C1", "C2", relation, 1)
    return SyntheticSentence(
        Sentence(f"s{index}", TOKENS, spans), f"source{index}", "hilgen", [replacement]
    )


def test_agreement_is_counted_per_kind_of_synthetic_sentence() -> None:
    cancer = Span(2, 4, "Disease")
    synthetic = SyntheticSet(
        [
            synthetic_sentence(0, [cancer], "synonym"),  # teacher agrees
            synthetic_sentence(1, [cancer], "sibling"),  # teacher finds only "fever"
            synthetic_sentence(2, [], "negative"),  # teacher tags the negative's slot
        ]
    )
    teacher_tags = [
        ["O", "O", "B-Disease", "I-Disease", "O", "O"],
        ["O", "O", "O", "O", "O", "B-Disease"],
        ["O", "O", "B-Disease", "I-Disease", "O", "O"],
    ]
    agreement = teacher_agreement(synthetic, teacher_tags)
    positive, negative = agreement["positive"], agreement["negative"]
    assert (positive.sentences, positive.agree, positive.extra_entity, positive.all_missed) == (
        2,
        1,
        1,
        1,
    )
    assert (positive.synthetic_entities, positive.teacher_entities, positive.exact_entities) == (
        2,
        2,
        1,
    )
    assert (negative.sentences, negative.agree, negative.extra_entity, negative.all_missed) == (
        1,
        0,
        1,
        0,
    )
    assert negative.as_metrics("negative")["teacher/negative/extra_entity"] == 1.0
    table = agreement_table(agreement)
    assert "| positive | 2         | 1 (50%)" in table
    assert "1 of 2" in table


def test_one_tag_sequence_per_synthetic_sentence_is_required() -> None:
    synthetic = SyntheticSet([synthetic_sentence(0, [], "negative")])
    with pytest.raises(ValueError, match="2 tag sequences for 1 synthetic sentences"):
        teacher_agreement(synthetic, [["O"] * 6, ["O"] * 6])
