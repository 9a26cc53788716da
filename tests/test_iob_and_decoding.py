from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hilgen.data.iob import labels_to_tagset, normalise_tags, spans_to_tags, tags_to_spans
from hilgen.data.types import Span
from hilgen.models.decoding import IOB2Decoder

TAGSET = labels_to_tagset(["Disease", "Chemical"])


def is_valid_iob2(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


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


@given(st.lists(st.lists(st.floats(-20, 0), min_size=5, max_size=5), min_size=1, max_size=30))
def test_viterbi_always_yields_valid_iob2(rows: list[list[float]]) -> None:
    decoder = IOB2Decoder(TAGSET)
    tags = decoder.decode(torch.tensor(rows))
    assert len(tags) == len(rows)
    assert is_valid_iob2(tags)


def test_viterbi_repairs_i_without_b_that_argmax_emits() -> None:
    probs = torch.tensor([[0.2, 0.3, 0.5, 0.0, 0.0], [0.1, 0.1, 0.8, 0.0, 0.0]]) + 1e-6
    log_probs = probs.log()
    assert IOB2Decoder(TAGSET, "argmax").decode(log_probs) == ["I-Disease", "I-Disease"]
    assert IOB2Decoder(TAGSET).decode(log_probs) == ["B-Disease", "I-Disease"]
