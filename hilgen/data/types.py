"""The typed data that passes between pipeline stages.

Everything downstream of the readers works on `Sentence` objects: whitespace-free tokens plus
entity spans over token indices. IOB2 tags are derived from spans (one implementation, in
`hilgen.data.iob`), so a sentence can never carry spans and tags that disagree.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from hilgen.data.iob import spans_to_tags
from hilgen.data.span import Span


@dataclass(frozen=True)
class Mention:
    """An entity mention in a document, by character offsets (as PubTator and BRAT give them)."""

    start: int
    end: int
    text: str
    label: str
    concept_ids: tuple[str, ...] = ()


@dataclass
class Document:
    """A document with its full text and character-offset mentions."""

    doc_id: str
    text: str
    mentions: list[Mention] = field(default_factory=list)


@dataclass
class Sentence:
    """A tokenised sentence with its entities.

    `sentence_id` is unique within a corpus (e.g. ``"10192393:3"`` for the fourth sentence of
    a PubMed abstract); `doc_id` groups sentences of one document.
    """

    sentence_id: str
    tokens: list[str]
    spans: list[Span] = field(default_factory=list)
    doc_id: str = ""

    def __post_init__(self) -> None:
        for span in self.spans:
            if span.end > len(self.tokens):
                raise ValueError(
                    f"sentence {self.sentence_id}: span {span} ends past its "
                    f"{len(self.tokens)} tokens"
                )

    @property
    def tags(self) -> list[str]:
        return spans_to_tags(len(self.tokens), self.spans)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def span_text(self, span: Span) -> str:
        return " ".join(self.tokens[span.start : span.end])


@dataclass
class Corpus:
    """A corpus split into train/dev/test sentences, with its entity label set."""

    name: str
    labels: list[str]
    train: list[Sentence]
    dev: list[Sentence]
    test: list[Sentence]
    sensitive: bool = False
    _fingerprint: str = field(default="", init=False, repr=False, compare=False)

    def split(self, name: str) -> list[Sentence]:
        if name not in ("train", "dev", "test"):
            raise ValueError(f"unknown split {name!r}; expected train, dev or test")
        return getattr(self, name)

    def fingerprint(self) -> str:
        """A digest of the train and test sentences (ids, tokens, spans), so that what is
        cached from them (synthetic sets read the train split and check leaks against the test
        split) follows any edit to the corpus files, not only a new corpus name; the dev split,
        which no augmenter reads, is not in it. It also names the corpus logged with a run.
        Computed once per corpus."""
        if self._fingerprint:
            return self._fingerprint
        digest = hashlib.sha256()
        for name in ("train", "test"):
            for sentence in self.split(name):
                spans = [(s.start, s.end, s.label, s.concept_ids) for s in sentence.spans]
                record = [name, sentence.sentence_id, sentence.doc_id, sentence.tokens, spans]
                digest.update(json.dumps(record).encode("utf-8"))
        self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint


@dataclass
class TaggedPrediction:
    """A model's IOB2 tags for one sentence, next to the gold tags (the unit every model writes
    and every ensemble and evaluation reads)."""

    sentence_id: str
    tokens: list[str]
    gold: list[str]
    predicted: list[str]
