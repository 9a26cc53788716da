"""LLM text in, checked tagged sentences out: prompts, defensive parsing, entity location.

A small model answers in whatever shape it likes, so every parser here accepts several: a
sentence list may come as a JSON array, a numbered or bulleted list, or plain lines; entity
tags may come as inline tags (``<Disease>breast cancer</Disease>``, what the tagging prompt
asks for), as JSON (``[{"text": ..., "label": ...}]``, ``{"Disease": [...]}``) or as IOB
lines (``token TAG``). Whatever the shape, entities become (text, label) pairs that are
*located* in the sentence's own tokens (`hilgen.data.tokenize.tokenize`, case-insensitive):
the sentence text is the truth and the tagger's answer only says which of its words are
entities, so a tagger that rewrites or invents text cannot smuggle it into training data.

These are pure functions over strings and tokens; the augmenters and the LLM tagger do the
requests and keep the counts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hilgen.data.iob import normalise_tags, split_tag, tags_to_spans
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span

# <Label>text</Label>, tolerant of spaces inside the brackets; the closing tag must match.
_INLINE_TAG = re.compile(r"<\s*([A-Za-z][\w-]*)\s*>(.*?)<\s*/\s*\1\s*>", re.DOTALL)
_ANY_TAG = re.compile(r"</?\s*[A-Za-z][\w-]*\s*>")
_CODE_FENCE = re.compile(r"```[a-zA-Z]*")
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.):]|[-*•]|sentence\s+\d+\s*[:.)-])\s*", re.I)
# "1. First. 2. Second." on one line: split before every later list number.
_INLINE_NUMBER = re.compile(r"\s+(?=\d{1,3}[.)]\s+[A-Z\"'(<])")
_IOB_LINE = re.compile(r"^\s*(\S+)\s+((?:[BIES]-\S+)|O)\s*$")
_QUOTES = "\"'“”‘’`"
_TEXT_KEYS = ("text", "entity", "mention", "name", "span", "word")
_LABEL_KEYS = ("label", "type", "entity_type", "category", "tag", "class")


@dataclass(frozen=True)
class ParsedEntities:
    """Entities an answer named, as (text, label) pairs, and the shape they came in
    (``json``, ``inline``, ``iob`` or ``none``)."""

    entities: list[tuple[str, str]]
    answer_format: str


@dataclass
class LocatedEntities:
    """Spans found in a sentence's tokens, and what went wrong with the other entities.

    `problems` counts ``unknown_label`` and ``entity_not_in_text``; a strict caller rejects the
    sentence when there is any, a lenient one (the LLM tagger) keeps the spans it has.
    """

    spans: list[Span] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)


def strip_inline_tags(text: str) -> str:
    """`text` without any ``<Label>``/``</Label>`` tags."""
    return " ".join(_ANY_TAG.sub(" ", text).split())


def render_inline(sentence: Sentence) -> str:
    """The sentence's tokens joined by spaces, each entity wrapped in ``<Label>...</Label>``."""
    opening = {span.start: span for span in sentence.spans}
    closing = {span.end - 1: span for span in sentence.spans}
    words = []
    for index, token in enumerate(sentence.tokens):
        if index in opening:
            token = f"<{opening[index].label}>{token}"
        if index in closing:
            token = f"{token}</{closing[index].label}>"
        words.append(token)
    return " ".join(words)


def parse_sentence_list(answer: str) -> list[str]:
    """The sentences of a step-(a) answer, in order, as plain text (tags removed).

    Takes a JSON array of strings if the answer holds one; else one sentence per line, list
    numbers, bullets and surrounding quotes removed. Lines that introduce a list (ending in
    ``:``) and empty lines are skipped.
    """
    text = _CODE_FENCE.sub("", answer)
    array = _first_json(text)
    if isinstance(array, list) and array and all(isinstance(item, str) for item in array):
        candidates: Iterable[str] = array
    else:
        candidates = (
            piece for line in text.splitlines() for piece in _INLINE_NUMBER.split(line.strip())
        )
    sentences = []
    for candidate in candidates:
        line = strip_inline_tags(_LIST_MARKER.sub("", candidate.strip(), count=1))
        line = line.strip().strip(_QUOTES).strip()
        if line and not line.endswith(":"):
            sentences.append(line)
    return sentences


def parse_entities(answer: str) -> ParsedEntities:
    """The entities a tagging answer names, whatever its shape (JSON, inline tags, IOB lines).

    Inline tags are tried first (what the prompts ask for), then JSON, then IOB lines (at
    least two ``token TAG`` lines); an answer in none of these shapes names no entities.
    """
    text = _CODE_FENCE.sub("", answer)
    inline = [(strip_inline_tags(inner), label) for label, inner in _INLINE_TAG.findall(text)]
    if inline:
        return ParsedEntities(inline, "inline")
    entities = _json_entities(_first_json(text))
    if entities is not None:
        return ParsedEntities(entities, "json")
    iob = _iob_entities(text)
    if iob is not None:
        return ParsedEntities(iob, "iob")
    return ParsedEntities([], "none")


def canonical_labels(labels: Sequence[str]) -> dict[str, str]:
    """Case- and separator-insensitive label lookup ("specific disease" -> "SpecificDisease")."""
    return {_label_key(label): label for label in labels}


def locate_entities(
    tokens: Sequence[str],
    entities: Sequence[tuple[str, str]],
    labels: Sequence[str],
    *,
    require_all: bool = True,
) -> LocatedEntities:
    """Spans for `entities` in `tokens`: every whole-token, case-insensitive occurrence.

    Every occurrence is tagged, because an occurrence left untagged would teach a model that
    the same words are no entity. Overlaps go to the longer entity, then to the one named
    first. Entities with a label outside `labels` (after `canonical_labels`) or whose tokens
    do not occur are counted in `problems`; with `require_all=False` the rest are still
    located, with `require_all=True` the caller gets the problems and is expected to reject.
    """
    lookup = canonical_labels(labels)
    folded = [token.casefold() for token in tokens]
    located = LocatedEntities()
    occurrences: list[tuple[int, int, int, int, str]] = []  # (-length, order, start, end, label)
    for order, (text, raw_label) in enumerate(entities):
        entity_tokens = [token.casefold() for token in tokenize(text)]
        if not entity_tokens:
            continue
        label = lookup.get(_label_key(raw_label))
        if label is None:
            located.problems["unknown_label"] += 1
            continue
        width = len(entity_tokens)
        starts = [
            start
            for start in range(len(folded) - width + 1)
            if folded[start : start + width] == entity_tokens
        ]
        if not starts:
            located.problems["entity_not_in_text"] += 1
            continue
        occurrences += [(-width, order, start, start + width, label) for start in starts]
    if require_all and located.problems:
        return located
    taken = [False] * len(tokens)
    for _, _, start, end, label in sorted(occurrences):
        if not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            located.spans.append(Span(start, end, label))
    located.spans.sort(key=lambda span: span.start)
    return located


def merge_spans(preferred: Sequence[Span], others: Sequence[Span]) -> list[Span]:
    """`preferred` spans plus those of `others` that overlap none of them, sorted by start."""
    merged = list(preferred)
    for span in others:
        if all(span.end <= kept.start or span.start >= kept.end for kept in merged):
            merged.append(span)
    return sorted(merged, key=lambda span: span.start)


def _label_key(label: str) -> str:
    return re.sub(r"[\s_-]+", "", str(label)).casefold()


def _first_json(text: str) -> Any:
    """The first JSON array or object in `text` that parses (from its first bracket), else
    None; what is nested inside it is never tried on its own."""
    decoder = json.JSONDecoder()
    for position, character in enumerate(text):
        if character in "[{":
            try:
                value, _ = decoder.raw_decode(text, position)
                return value
            except json.JSONDecodeError:
                continue
    return None


def _json_entities(value: Any) -> list[tuple[str, str]] | None:
    """Entities from the JSON shapes small models produce; None when `value` is none of them."""
    if isinstance(value, dict):
        inner = next((value[key] for key in ("entities", "mentions") if key in value), None)
        if inner is not None:
            return _json_entities(inner)
        if value and all(isinstance(v, (list, str)) for v in value.values()):
            return [
                (str(text), str(label))
                for label, texts in value.items()
                for text in ([texts] if isinstance(texts, str) else texts)
                if isinstance(text, str)
            ]
        return None
    if not isinstance(value, list):
        return None
    entities = []
    for item in value:
        if isinstance(item, dict):
            text = next((item[k] for k in _TEXT_KEYS if isinstance(item.get(k), str)), None)
            label = next((item[k] for k in _LABEL_KEYS if isinstance(item.get(k), str)), None)
            if text is None or label is None:
                return None
            entities.append((text, label))
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item):
            entities.append((item[0], item[1]))
        else:
            return None
    return entities


def _iob_entities(text: str) -> list[tuple[str, str]] | None:
    rows = [match.groups() for line in text.splitlines() if (match := _IOB_LINE.match(line))]
    if len(rows) < 2:
        return None
    tokens = [token for token, _ in rows]
    try:
        tags = normalise_tags([tag for _, tag in rows])
    except ValueError:
        return None
    return [
        (" ".join(tokens[span.start : span.end]), split_tag(tags[span.start])[1])
        for span in tags_to_spans(tags)
    ]
