"""The values the substitution steps pass along: sample mentions, candidate names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hilgen.data.types import Sentence, Span
from hilgen.kb.base import Concept


@dataclass(frozen=True)
class Candidate:
    """An accepted replacement name for one mention; `text` is its tokens joined by spaces."""

    text: str
    tokens: tuple[str, ...]
    concept_id: str
    relation: str
    # The label the name takes where the dataset's relation_labels relabel its relation.
    label: str = ""
    borrowed_from: str = ""
    borrowed_concept_ids: tuple[str, ...] = ()


@dataclass
class SampleMention:
    """A sample mention; with abbreviations on, `abbreviated` marks one written as a short form
    ("DM", "A-T"), `short_forms` the mentions that abbreviate it in its sentence ("Huntington
    disease (HD)") and `long_form` the reverse link."""

    sentence: Sentence
    span: Span
    text: str
    concept: Concept | None = None
    candidates: list[Candidate] = field(default_factory=list)
    abbreviated: bool = False
    short_forms: list[SampleMention] = field(default_factory=list)
    long_form: SampleMention | None = None


def interleave(lists: Sequence[Sequence[Candidate]]) -> list[Candidate]:
    """First items of each list, then second items, ...: every source is represented early."""
    out: list[Candidate] = []
    for index in range(max((len(items) for items in lists), default=0)):
        out += [items[index] for items in lists if index < len(items)]
    return out
