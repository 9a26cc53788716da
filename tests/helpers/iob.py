"""IOB checks shared by the decoding and CRF tests."""

from __future__ import annotations


def is_valid_iob2(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True
