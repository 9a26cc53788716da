"""The augmenter interface and the synthetic data it produces, with provenance.

An augmenter turns a few-shot sample into a `SyntheticSet`: tagged sentences that each remember
their source sentence and what was replaced with what (and why), plus summary statistics. The
set is plain data that can be written to JSONL (lossless) or CoNLL (for other tools), so the
augment stage can be cached and inspected apart from training.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hilgen.data.types import Sentence, Span
from hilgen.errors import UserError
from hilgen.io import atomic_write_text
from hilgen.kb.base import KnowledgeBase, MentionLinker

JSONL_FORMAT = "hilgen.synthetic/1"

# The relation of a negative replacement: a mention replaced by a concept of another semantic
# group and tagged O (the same context with and without an entity, so that the context alone
# cannot predict the label); not a KB relation.
NEGATIVE = "negative"
# Which layer of the paper's UMLS hierarchy a relation belongs to; 0 = not from the KB (a
# mention borrowed from another sample sentence).
RELATION_LAYERS: dict[str, int] = {
    "synonym": 1,
    "same_type": 2,
    "parent": 3,
    "child": 3,
    "sibling": 3,
    "sample_mention": 0,
    NEGATIVE: 0,
}


@dataclass(frozen=True)
class Replacement:
    """One mention swapped for another name.

    `span_index` indexes the synthetic sentence's `spans` (sorted by start); a negative
    replacement has no span, and its index is where the span would be. Both texts are
    tokens joined by spaces, as `Sentence.span_text` gives them. `borrowed_from` is
    the sample sentence whose mention supplied the name when it came from another sentence
    (context diversity), else empty.
    """

    span_index: int
    original_text: str
    replacement_text: str
    label: str
    source_concept_id: str
    replacement_concept_id: str
    relation: str
    layer: int
    borrowed_from: str = ""

    @property
    def negative(self) -> bool:
        """Whether the name replaced an entity with a non-entity (no span, tagged O)."""
        return self.relation == NEGATIVE


@dataclass
class SyntheticSentence:
    """A synthetic tagged sentence and where it came from."""

    sentence: Sentence
    source_sentence_id: str
    augmenter: str
    replacements: list[Replacement] = field(default_factory=list)


@dataclass
class SyntheticSet:
    """The output of one augmenter on one sample: sentences plus summary statistics.

    `stats` is flat (`"relation/synonym": 12`, `"rejected/digits": 3`, ...) so it can be logged
    as metrics as is.
    """

    sentences: list[SyntheticSentence] = field(default_factory=list)
    stats: dict[str, float | int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sentences)

    def __iter__(self) -> Iterator[SyntheticSentence]:
        return iter(self.sentences)

    def to_sentences(self) -> list[Sentence]:
        """The bare tagged sentences, as a trainer consumes them."""
        return [synthetic.sentence for synthetic in self.sentences]

    def to_jsonl(self, path: str | Path) -> None:
        """Write a header line (format, stats, sentence count, checksum) then one sentence per
        line, atomically. The count and checksum let a reader refuse a damaged file (cut at
        a line boundary, edited) instead of using it as a smaller set."""
        records = [json.dumps(_synthetic_to_dict(s), ensure_ascii=False) for s in self.sentences]
        header = {
            "format": JSONL_FORMAT,
            "stats": self.stats,
            "sentences": len(records),
            "sha256": _records_digest(records),
        }
        atomic_write_text(path, "\n".join([json.dumps(header, sort_keys=True), *records]) + "\n")

    @classmethod
    def from_jsonl(cls, path: str | Path) -> SyntheticSet:
        """Read a file written by `to_jsonl`; errors name the file and line."""
        path = Path(path)
        with path.open(encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        if not lines:
            raise ValueError(f"{path}: empty file; expected a {JSONL_FORMAT} header line")
        header = _parse_line(path, 1, lines[0])
        if header.get("format") != JSONL_FORMAT:
            raise ValueError(
                f"{path}:1: expected a header with format {JSONL_FORMAT!r}, got "
                f"{header.get('format')!r}; regenerate the file with SyntheticSet.to_jsonl"
            )
        sentences = []
        records = []
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            records.append(line)
            record = _parse_line(path, number, line)
            try:
                sentences.append(_synthetic_from_dict(record))
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"{path}:{number}: not a synthetic sentence record ({error!r}); expected "
                    "keys sentence_id, doc_id, tokens, spans, source_sentence_id, augmenter, "
                    "replacements as written by SyntheticSet.to_jsonl"
                ) from error
        expected = (header.get("sentences"), header.get("sha256"))
        if expected != (len(records), _records_digest(records)):
            raise DamagedSyntheticFileError(
                f"{path}: damaged: its header promises {expected[0]} sentences with checksum "
                f"{expected[1]}, the file holds {len(records)} that do not match. Delete it "
                f"(rm '{path}') and run again to regenerate it."
            )
        return cls(sentences=sentences, stats=dict(header.get("stats", {})))

    def to_conll(self, path: str | Path) -> None:
        """Write `token<TAB>TAG` lines, a blank line between sentences, atomically."""
        blocks = [
            "\n".join(f"{token}\t{tag}" for token, tag in zip(s.tokens, s.tags, strict=True))
            for s in self.to_sentences()
        ]
        atomic_write_text(path, "".join(block + "\n\n" for block in blocks))


class AugmenterConfigError(UserError, ValueError):
    """An augmenter setting, or a dataset setting an augmenter reads, that cannot work; the
    message names the setting and the config file to fix."""


class DamagedSyntheticFileError(UserError, ValueError):
    """A synthetic-set file whose sentences do not match its header's count and checksum."""


class AugmenterFailedError(UserError, RuntimeError):
    """The augmenter's source failed (an LLM that errored or gave nothing usable): the set is
    incomplete, so it is neither cached nor trained on. `stats` are the set's counts so far."""

    def __init__(self, message: str, stats: dict[str, float | int]) -> None:
        super().__init__(message)
        self.stats = stats


def _records_digest(records: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(records).encode("utf-8")).hexdigest()


def sentence_key(tokens: Sequence[str]) -> tuple[str, ...]:
    """How sentences are compared for leakage and duplicates: tokens, case-insensitively."""
    return tuple(token.casefold() for token in tokens)


@dataclass
class AugmentContext:
    """Everything an augmenter may use besides the sample itself.

    `label_groups` maps each entity label to the UMLS semantic groups its replacements may come
    from (e.g. ``{"Disease": ["DISO"], "Chemical": ["CHEM"]}``). `label_relations` restricts,
    per label, the KB relations whose names keep that label: where labels encode specificity or
    form (NCBI-Disease's DiseaseClass, SpecificDisease, CompositeMention), a parent of a specific
    disease is a class and no single concept name is a composite mention; a label not listed
    keeps every relation. `relation_labels` gives, per label, relations whose names take
    another label (``{"SpecificDisease": {"parent": "DiseaseClass"}}``: a specific disease's
    parent becomes a class in the same context, so the name, not the context, tells the two
    apart). `test_sentences` are only
    compared against, never used as input: no synthetic sentence may equal one.
    `unlabelled_sentences` are in-domain sentences without entities (the train split less the
    sample, its spans removed, and the user's `unlabelled_text`), for augmenters that tag text
    themselves. `llm` is the
    client an LLM augmenter uses (any OpenAI-compatible client); KB augmenters ignore it.
    """

    kb: KnowledgeBase | None = None
    linker: MentionLinker | None = None
    labels: list[str] = field(default_factory=list)
    label_groups: dict[str, list[str]] = field(default_factory=dict)
    label_relations: dict[str, list[str]] = field(default_factory=dict)
    relation_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    test_sentences: Sequence[Sentence] = ()
    unlabelled_sentences: Sequence[Sentence] = ()
    seed: int = 0
    llm: Any = None

    @cached_property
    def test_sentence_keys(self) -> frozenset[tuple[str, ...]]:
        return frozenset(sentence_key(s.tokens) for s in self.test_sentences)

    def is_test_sentence(self, tokens: Sequence[str]) -> bool:
        return sentence_key(tokens) in self.test_sentence_keys


class Augmenter(ABC):
    """Turns a few-shot sample into synthetic tagged sentences."""

    name: str
    # Tags `AugmentContext.unlabelled_sentences` itself (distant supervision): only such an
    # augmenter reads the user's `unlabelled_text`.
    tags_unlabelled_text: bool = False

    @abstractmethod
    def generate(self, sample: list[Sentence], context: AugmentContext) -> SyntheticSet:
        """Synthetic sentences for `sample`; none of them equals a sentence of
        `context.test_sentences` (those are dropped and counted in `stats["leaked_dropped"]`)."""


def describe_sentences(sentences: Iterable[SyntheticSentence]) -> dict[str, int]:
    """Statistics every augmenter reports: counts per layer, relation and label, new names."""
    stats: Counter[str] = Counter()
    new_surface_forms: set[str] = set()
    for synthetic in sentences:
        stats["sentences"] += 1
        for span in synthetic.sentence.spans:
            stats[f"label/{span.label}"] += 1
        for replacement in synthetic.replacements:
            stats[f"relation/{replacement.relation}"] += 1
            stats[f"layer/{replacement.layer}"] += 1
            new_surface_forms.add(replacement.replacement_text.casefold())
    stats["distinct_new_surface_forms"] = len(new_surface_forms)
    stats.setdefault("sentences", 0)
    return dict(stats)


def _synthetic_to_dict(synthetic: SyntheticSentence) -> dict[str, Any]:
    sentence = synthetic.sentence
    return {
        "sentence_id": sentence.sentence_id,
        "doc_id": sentence.doc_id,
        "tokens": sentence.tokens,
        "spans": [
            {
                "start": span.start,
                "end": span.end,
                "label": span.label,
                "concept_ids": list(span.concept_ids),
            }
            for span in sentence.spans
        ],
        "source_sentence_id": synthetic.source_sentence_id,
        "augmenter": synthetic.augmenter,
        "replacements": [asdict(replacement) for replacement in synthetic.replacements],
    }


def _synthetic_from_dict(record: dict[str, Any]) -> SyntheticSentence:
    spans = [
        Span(s["start"], s["end"], s["label"], tuple(s.get("concept_ids", ())))
        for s in record["spans"]
    ]
    sentence = Sentence(
        sentence_id=record["sentence_id"],
        tokens=list(record["tokens"]),
        spans=spans,
        doc_id=record.get("doc_id", ""),
    )
    return SyntheticSentence(
        sentence=sentence,
        source_sentence_id=record["source_sentence_id"],
        augmenter=record["augmenter"],
        replacements=[Replacement(**r) for r in record["replacements"]],
    )


def _parse_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}:{number}: invalid JSON ({error.msg}); expected one JSON object per line"
        ) from error
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    return record
