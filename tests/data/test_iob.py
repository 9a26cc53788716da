from __future__ import annotations

import pytest

from hilgen.data.iob import normalise_tags, spans_to_tags, tags_to_spans
from hilgen.data.types import Span


def test_spans_round_trip() -> None:
    spans = [Span(0, 2, "Disease"), Span(3, 4, "Chemical")]
    tags = spans_to_tags(5, spans)
    assert tags == ["B-Disease", "I-Disease", "O", "B-Chemical", "O"]
    assert tags_to_spans(tags) == spans


def test_overlapping_spans_are_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags(4, [Span(0, 2, "A"), Span(1, 3, "A")])


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["I-A", "I-A", "O", "I-A"], ["B-A", "I-A", "O", "B-A"]),  # IOB1
        (["S-A", "B-A", "E-A", "I-A"], ["B-A", "B-A", "I-A", "B-A"]),  # BIOES (+ stray I)
        (["B-A", "I-B"], ["B-A", "B-B"]),
    ],
)
def test_normalise_to_iob2(tags: list[str], expected: list[str]) -> None:
    assert normalise_tags(tags) == expected


def test_malformed_tag() -> None:
    with pytest.raises(ValueError, match="malformed tag"):
        normalise_tags(["X-Disease"])
