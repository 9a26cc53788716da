"""Sentence splitting and tokenisation of documents, keeping character offsets.

The one tokeniser of the project. It follows the style of the BioBERT/MTL CoNLL files: runs
of letters and digits are tokens and every other visible character is a token of its own
("beta-catenin" -> beta - catenin, "Parkinson's" -> Parkinson ' s, "0.06" -> 0 . 06).

Entities win over heuristics: a sentence boundary inside a mention is dropped (the two
sentences are merged) and a token that a mention starts or ends inside is split there, so
every mention becomes a whole number of tokens. Both events are counted in `SplitStats`,
never hidden; nested or overlapping mentions, which flat IOB2 tags cannot hold, are counted
too, and the longest mention starting first is kept.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable
from dataclasses import dataclass, fields

from hilgen.data.pubtator import PubTatorDocument
from hilgen.data.types import Document, Mention, Sentence, Span

TOKEN_PATTERN = re.compile(r"[^\W_]+|\S")

# Sentence-final punctuation, closing brackets/quotes, whitespace, then something that can
# start a sentence: an upper-case letter or digit, possibly after an opening bracket/quote.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# Two or more line breaks (a blank line) always end a sentence, e.g. in clinical notes.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n\s*")
_ABBREVIATIONS = frozenset(
    [
        "al.",
        "ca.",
        "cf.",
        "co.",
        "dr.",
        "e.g.",
        "eq.",
        "fig.",
        "figs.",
        "i.e.",
        "inc.",
        "jr.",
        "ltd.",
        "mr.",
        "mrs.",
        "ms.",
        "no.",
        "nos.",
        "pp.",
        "prof.",
        "ref.",
        "refs.",
        "sp.",
        "spp.",
        "st.",
        "vol.",
        "vs.",
        "v.",
    ]
)


@dataclass
class SplitStats:
    """What sentence splitting and tokenisation did to a set of documents."""

    documents: int = 0
    sentences: int = 0
    tokens: int = 0
    mentions: int = 0
    # Mentions that a sentence boundary would have cut; the boundary was dropped instead.
    boundary_crossing_mentions: int = 0
    # Nested/overlapping mentions dropped because flat IOB2 tags cannot represent them.
    overlapping_mentions_dropped: int = 0
    # Mentions that cover no token (only whitespace); dropped.
    empty_mentions_dropped: int = 0
    # Regex tokens split in two because a mention started or ended inside them.
    tokens_split_at_mentions: int = 0

    def add(self, other: SplitStats) -> None:
        for stat in fields(self):
            setattr(self, stat.name, getattr(self, stat.name) + getattr(other, stat.name))


def token_offsets(
    text: str, start: int = 0, end: int | None = None, cuts: Collection[int] = ()
) -> tuple[list[tuple[int, int]], int]:
    """Character spans of the tokens of `text[start:end]`, split at every offset in `cuts`.

    Returns the spans and how many regex tokens had to be split at a cut.
    """
    end = len(text) if end is None else end
    sorted_cuts = sorted(cuts)
    offsets: list[tuple[int, int]] = []
    split_count = 0
    next_cut = 0  # index of the first cut after the current token's start
    for match in TOKEN_PATTERN.finditer(text, start, end):
        token_start, token_end = match.span()
        while next_cut < len(sorted_cuts) and sorted_cuts[next_cut] <= token_start:
            next_cut += 1
        if next_cut < len(sorted_cuts) and sorted_cuts[next_cut] < token_end:
            split_count += 1
            while next_cut < len(sorted_cuts) and sorted_cuts[next_cut] < token_end:
                offsets.append((token_start, sorted_cuts[next_cut]))
                token_start = sorted_cuts[next_cut]
                next_cut += 1
        offsets.append((token_start, token_end))
    return offsets, split_count


def tokenize(text: str) -> list[str]:
    """The tokens of `text`, as the corpus readers would produce them."""
    return [text[start:end] for start, end in token_offsets(text)[0]]


def _is_abbreviation(text: str, punctuation_start: int) -> bool:
    word_start = punctuation_start
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : punctuation_start + 1].lstrip("([\"'").lower()
    if word in _ABBREVIATIONS:
        return True
    # An initial such as "J. Smith"; costs a boundary after e.g. "vitamin D." (rare).
    return len(word) == 2 and text[punctuation_start - 1].isupper()


def sentence_breaks(text: str, hard_breaks: Iterable[int] = ()) -> list[int]:
    """Offsets where a new sentence may start (mention-unaware), sorted, within the text."""
    breaks = set()
    for match in _SENTENCE_END.finditer(text):
        if text[match.start()] == "." and _is_abbreviation(text, match.start()):
            continue
        # "EC 1. 1. 1. 49": a number, a period, then another number is not a sentence end.
        if text[match.start() - 1 : match.start()].isdigit() and text[match.end()].isdigit():
            continue
        breaks.add(match.end())
    breaks.update(match.end() for match in _PARAGRAPH_BREAK.finditer(text))
    for offset in hard_breaks:
        while offset < len(text) and text[offset].isspace():
            offset += 1
        breaks.add(offset)
    return sorted(offset for offset in breaks if 0 < offset < len(text))


def _non_overlapping(mentions: Iterable[Mention]) -> tuple[list[Mention], int]:
    """Keep the longest mention among those starting first; count what had to go."""
    kept: list[Mention] = []
    dropped = 0
    for mention in sorted(mentions, key=lambda m: (m.start, -(m.end - m.start))):
        if kept and mention.start < kept[-1].end:
            dropped += 1
        else:
            kept.append(mention)
    return kept, dropped


def document_to_sentences(
    document: Document, hard_breaks: Iterable[int] = ()
) -> tuple[list[Sentence], SplitStats]:
    """Split a document into tokenised sentences whose spans carry the mentions' concept ids.

    `hard_breaks` are offsets where a sentence must end (e.g. the end of a title) unless a
    mention crosses them. Sentence ids are `f"{doc_id}:{i}"`.
    """
    text = document.text
    mentions, overlapping = _non_overlapping(document.mentions)
    stats = SplitStats(documents=1, overlapping_mentions_dropped=overlapping)

    crossing: set[Mention] = set()
    starts = [0]
    for offset in sentence_breaks(text, hard_breaks):
        cut = [m for m in mentions if m.start < offset < m.end]
        if cut:
            crossing.update(cut)
        else:
            starts.append(offset)
    stats.boundary_crossing_mentions = len(crossing)

    sentences: list[Sentence] = []
    mention_index = 0
    for sentence_start, sentence_end in zip(starts, [*starts[1:], len(text)], strict=True):
        sentence_mentions = []
        while mention_index < len(mentions) and mentions[mention_index].start < sentence_end:
            sentence_mentions.append(mentions[mention_index])
            mention_index += 1
        cuts = {offset for m in sentence_mentions for offset in (m.start, m.end)}
        offsets, split_count = token_offsets(text, sentence_start, sentence_end, cuts)
        if not offsets:
            continue
        stats.tokens_split_at_mentions += split_count
        token_starts = [start for start, _ in offsets]
        token_ends = [end for _, end in offsets]
        spans = []
        for mention in sentence_mentions:
            first = bisect_left(token_starts, mention.start)
            last = bisect_right(token_ends, mention.end)
            if last <= first:
                stats.empty_mentions_dropped += 1
                continue
            spans.append(Span(first, last, mention.label, mention.concept_ids))
        tokens = [text[start:end] for start, end in offsets]
        sentence_id = f"{document.doc_id}:{len(sentences)}"
        sentences.append(Sentence(sentence_id, tokens, spans, document.doc_id))
        stats.tokens += len(tokens)
        stats.mentions += len(spans)
    stats.sentences = len(sentences)
    return sentences, stats


def documents_to_sentences(documents: Iterable[Document]) -> tuple[list[Sentence], SplitStats]:
    """Sentences of many documents; a PubTator title always ends its own sentence."""
    sentences: list[Sentence] = []
    total = SplitStats()
    for document in documents:
        hard_breaks = [document.title_end] if isinstance(document, PubTatorDocument) else []
        document_sentences, stats = document_to_sentences(document, hard_breaks)
        sentences.extend(document_sentences)
        total.add(stats)
    return sentences, total
