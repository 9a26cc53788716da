"""Short forms ("DM", "Huntington disease (HD)") that keep their shape when renamed."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

from hilgen.augment.substitution.candidates import Candidate, SampleMention
from hilgen.data.tokenize import tokenize
from hilgen.kb.names import SHORT_FORM_JOINERS, looks_like_abbreviation, starts_a_word

# Words an abbreviation's letters skip ("tumour of the kidney" -> "TK").
_INITIALS_SKIP = frozenset({"of", "the", "and", "or", "in", "with", "to", "for", "on", "by", "a"})


def initials_of(tokens: Sequence[str]) -> str:
    """The abbreviation a name would get: first letters of its words (numbers kept whole),
    function words and joiners skipped: "Prader-Willi syndrome" -> "PWS"."""
    letters = ""
    for token in tokens:
        if token in SHORT_FORM_JOINERS or token.casefold() in _INITIALS_SKIP:
            continue
        letters += token if token[0].isdigit() else token[0].upper()
    return letters


def in_shape(mention: SampleMention, queue: list[Candidate]) -> list[Candidate]:
    """The names a mention takes, in its written shape: a lone short form takes them as
    initials, a long form only those of 2+ initials (its short forms follow it), and a defined
    short form none of its own. Without abbreviations no mention is marked: all unchanged."""
    if mention.long_form is not None:
        return []
    if mention.short_forms:
        return [c for c in queue if len(initials_of(c.tokens)) > 1]
    if mention.abbreviated:
        return _abbreviated(queue, mention.text)
    return queue


def _abbreviated(candidates: Sequence[Candidate], original: str) -> list[Candidate]:
    """Each candidate as its initials, for a short-form mention; names with fewer than two
    initials, the mention's own letters and repeats are left out."""
    seen = {"".join(tokenize(original))}
    out: list[Candidate] = []
    for candidate in map(as_initials, candidates):
        if len(candidate.text) < 2 or candidate.text in seen:
            continue
        seen.add(candidate.text)
        out.append(candidate)
    return out


def as_initials(candidate: Candidate) -> Candidate:
    initials = initials_of(candidate.tokens)
    return replace(candidate, text=initials, tokens=(initials,))


def mark_short_forms(mentions: Sequence[SampleMention], counts: Counter[str]) -> None:
    """Marks short-form mentions and links each "long form ( SF )" pair of a sentence; every
    other mention of the sentence with the defined short form's text and label is that long
    form's too (the same letters under another label are another entity)."""
    same_text: defaultdict[tuple[int, str, str], list[SampleMention]] = defaultdict(list)
    for mention in mentions:
        tokens = mention.sentence.tokens[mention.span.start : mention.span.end]
        mention.abbreviated = looks_like_abbreviation(tokens)
        same_text[id(mention.sentence), mention.text, mention.span.label].append(mention)
    for previous, mention in zip(mentions, mentions[1:], strict=False):
        tokens = mention.sentence.tokens
        start, end = mention.span.start, mention.span.end
        defines = (
            mention.abbreviated
            and previous.sentence is mention.sentence
            and not previous.abbreviated
            and previous.span.end == start - 1
            and tokens[start - 1] == "("
            and end < len(tokens)
            and tokens[end] == ")"
            and starts_a_word(mention.text, previous.text)
        )
        if not defines:
            continue
        for short_form in same_text[id(mention.sentence), mention.text, mention.span.label]:
            if short_form.long_form is None:
                short_form.long_form = previous
                previous.short_forms.append(short_form)
                counts["abbreviations/defined_short_forms"] += 1
    counts["abbreviations/lone_short_forms"] += sum(
        m.abbreviated and m.long_form is None for m in mentions
    )


def with_short_forms(
    swaps: list[tuple[SampleMention, Candidate]],
) -> list[tuple[SampleMention, Candidate]]:
    """The swaps plus, for each swapped long form, its short forms renamed to the new name's
    initials (a negative's initials are a negative too)."""
    return swaps + [
        (short_form, as_initials(candidate))
        for mention, candidate in swaps
        for short_form in mention.short_forms
    ]
