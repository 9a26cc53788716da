"""Which lines of an LLM's sentence list are not sentences to train on.

A small model (the embedded SmolLM2-135M) asked for "N sentences, one per line" answers with
much besides: the prompt echoed back (``replace "x" with "y" (Disease)``, ``Sentence i must
make replacement ...``), text about the sentences (``This is a continuation of the previous
sentence.``, ``The second sentence says : ...``, ``I'm ready to assist.``), degenerate
repetition (one name 30 times, a phrase looping) and list items (bare names, ``(ii) Copper
toxicity disorder (DiseaseClass)``). Such a line can still contain a known name and pass
every other check, so it is caught here by its form alone. The rules were written against
recorded SmolLM2 answers (tests/llm/fixtures/llm/smollm2_answers.jsonl); docs/failures.md
gives the share of junk that still passes on a fresh sample.

Pure functions over one line of text: no model, no request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

JUNK_KINDS = ("echoed_instruction", "meta_text", "repetition", "list_item")

_ECHOED_INSTRUCTION = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\breplace\b.{0,80}\bwith\b",
        r"\breplacements?\b",
        r"\b(?:write|writes|wrote|written)\s+(?:\d+|one|two|three|four|five)\b",
        r"\bnumbered\b",
        r"\bper line\b",
        r"\bkeeps? the meaning\b",
        r"\bexactly as written\b",
        r"\bnew names?\b",
        r"^\s*(?:original|new|rewritten)?\s*(?:sentence|entities|entity|output|answer)\s*:",
    )
]
_META_TEXT = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bsentences?\b",  # research text does not talk about its sentences
        r"^\s*(?:i'm|i am|i will|i'll|i can|i cannot|i can't|here is|here are|sure\b|"
        r"certainly|of course|let me|as an ai)",
        r"\byour (?:request|question)\b",
        r"\bsays\s*:",
    )
]
_ENUMERATOR = re.compile(r"^\s*\(?(?:[ivxlc]+|[a-h])\)\s", re.IGNORECASE)
_TERMINAL = re.compile(r"[.!?][\"'”’)\]]*\s*$")
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    {"the", "a", "an", "of", "in", "on", "and", "or", "with", "to", "for", "by", "is", "was"}
    | {"are", "were", "be", "been", "that", "this", "as", "at", "from", "its", "their", "which"}
)


def junk_kind(text: str, labels: Sequence[str] = ()) -> str | None:
    """The kind of junk `text` is (one of `JUNK_KINDS`), or None for a plausible sentence.

    `labels` are the task's label names: one written in brackets after a name
    (``(DiseaseClass)``) is the prompt's entity format echoed back.
    """
    if any(pattern.search(text) for pattern in _ECHOED_INSTRUCTION) or _labels_echoed(text, labels):
        return "echoed_instruction"
    if any(pattern.search(text) for pattern in _META_TEXT):
        return "meta_text"
    if _repetitive(text):
        return "repetition"
    if _list_item(text):
        return "list_item"
    return None


def _labels_echoed(text: str, labels: Sequence[str]) -> bool:
    return any(re.search(rf"\(\s*{re.escape(label)}\s*\)", text, re.IGNORECASE) for label in labels)


def _repetitive(text: str) -> bool:
    """A content word 4 times or more, a 4-word run 3 times or a 5-word run twice: a loop,
    not a sentence."""
    words = text.casefold().split()
    content = Counter(w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS)
    if any(count >= 4 and len(word) > 2 for word, count in content.items()):
        return True
    for size, limit in ((4, 3), (5, 2)):
        grams = Counter(tuple(words[i : i + size]) for i in range(len(words) - size + 1))
        if grams and max(grams.values()) >= limit:
            return True
    return False


def _list_item(text: str) -> bool:
    """An enumerated item, a heading in capitals, or a line that does not end as a sentence
    does (a bare name, a noun phrase)."""
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) > 12 and sum(c.isupper() for c in letters) > 0.8 * len(letters)
    return bool(_ENUMERATOR.match(text)) or shouting or not _TERMINAL.search(text)
