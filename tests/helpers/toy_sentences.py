"""Toy Chemical/Disease sentences shared by the tagger tests (gold, synthetic, dev)."""

from __future__ import annotations

from hilgen.data.types import Sentence, Span


def sentence(sentence_id: str, text: str, spans: list[tuple[int, int, str]]) -> Sentence:
    return Sentence(sentence_id, text.split(), [Span(s, e, label) for s, e, label in spans])


GOLD = [
    sentence(
        "g1",
        "Patients with breast cancer received tamoxifen daily .",
        [(2, 4, "Disease"), (5, 6, "Chemical")],
    ),
    sentence(
        "g2",
        "Aspirin may cause severe gastric bleeding in adults .",
        [(0, 1, "Chemical"), (4, 6, "Disease")],
    ),
    sentence(
        "g3",
        "Familial hypercholesterolemia is treated with statins .",
        [(0, 2, "Disease"), (5, 6, "Chemical")],
    ),
]
SYNTHETIC = [
    sentence(
        "s1",
        "Patients with lung cancer received cisplatin daily .",
        [(2, 4, "Disease"), (5, 6, "Chemical")],
    ),
]
DEV = [
    sentence(
        "d1",
        "Ibuprofen can worsen chronic kidney disease .",
        [(0, 1, "Chemical"), (3, 6, "Disease")],
    ),
    sentence("d2", "No adverse events were seen .", []),
]
