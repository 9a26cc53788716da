"""Documents to tag and the entities found in them, by character offsets into their own text.

A document is split and tokenised by the corpus tokeniser (`hilgen.data.tokenize`), so a
tagger sees the same sentences at prediction time as in training; each token keeps its
character span, so that every entity's `text` is exactly `document.text[start:end]`. An
already tokenised document (a CoNLL file) gets a text made of its tokens: one sentence a
line, tokens separated by a space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from hilgen.data.iob import tags_to_spans
from hilgen.data.pubtator import PubTatorDocument
from hilgen.data.tokenize import document_to_sentences
from hilgen.data.types import Document, Sentence

Offsets = list[tuple[int, int]]


@dataclass
class TokenisedDocument:
    """A document's text, its sentences and each token's `(start, end)` in the text.
    `title_end` is where a PubTator title stops (None for other documents)."""

    doc_id: str
    text: str
    sentences: list[Sentence]
    offsets: list[Offsets]
    title_end: int | None = None

    @property
    def n_words(self) -> int:
        return sum(len(s.tokens) for s in self.sentences)


@dataclass
class Entity:
    """A tagged mention; `concept_id`, `concept_name` and `score` are filled by linking."""

    start: int
    end: int
    text: str
    label: str
    concept_id: str | None = None
    concept_name: str | None = None
    score: float | None = None

    def as_record(self) -> dict[str, object]:
        record = asdict(self)
        if self.concept_id is None and self.score is None:
            for key in ("concept_id", "concept_name", "score"):
                del record[key]
        return record


@dataclass
class TaggedDocument:
    """A document with its predicted IOB2 tags (per sentence) and entities."""

    document: TokenisedDocument
    tags: list[list[str]]
    entities: list[Entity] = field(default_factory=list)

    def as_record(self) -> dict[str, object]:
        """The output record: `{"id", "text", "entities": [{"start", "end", "text", "label"}]}`."""
        return {
            "id": self.document.doc_id,
            "text": self.document.text,
            "entities": [entity.as_record() for entity in self.entities],
        }


def align_tokens(text: str, sentences: Sequence[Sentence]) -> list[Offsets]:
    """Each token's span in `text`, for sentences whose tokens are consecutive pieces of
    `text` with only whitespace between them (what the tokeniser makes)."""
    position = 0
    offsets: list[Offsets] = []
    for sentence in sentences:
        spans: Offsets = []
        for token in sentence.tokens:
            start = text.index(token, position)
            position = start + len(token)
            spans.append((start, position))
        offsets.append(spans)
    return offsets


def tokenise(document: Document) -> TokenisedDocument:
    """Sentences and token offsets of a document, as the corpus readers make them: a PubTator
    title ends its own sentence, and a document's own mentions (a PubTator file's annotations)
    place boundaries as they do in a corpus split, so tagging a split repeats a run's
    sentences exactly; the mentions are not otherwise used."""
    title_end = document.title_end if isinstance(document, PubTatorDocument) else None
    sentences, _ = document_to_sentences(document, [] if title_end is None else [title_end])
    sentences = [Sentence(s.sentence_id, s.tokens, [], s.doc_id) for s in sentences]
    return TokenisedDocument(
        document.doc_id, document.text, sentences, align_tokens(document.text, sentences), title_end
    )


def from_sentences(doc_id: str, sentences: Sequence[Sentence]) -> TokenisedDocument:
    """An already tokenised document: one sentence a line, tokens joined by a space."""
    text = "\n".join(" ".join(s.tokens) for s in sentences)
    unlabelled = [Sentence(s.sentence_id, list(s.tokens), [], doc_id) for s in sentences]
    return TokenisedDocument(doc_id, text, unlabelled, align_tokens(text, unlabelled))


def entities_from_tags(document: TokenisedDocument, tags: Sequence[Sequence[str]]) -> list[Entity]:
    """The entities of IOB2 tags (one list per sentence), by character offsets."""
    entities: list[Entity] = []
    for offsets, sentence_tags in zip(document.offsets, tags, strict=True):
        for span in tags_to_spans(list(sentence_tags)):
            start, end = offsets[span.start][0], offsets[span.end - 1][1]
            entities.append(Entity(start, end, document.text[start:end], span.label))
    return entities
