"""Datasets: a corpus on disk -> a `Corpus` of tokenised train/dev/test sentences.

Each dataset is built from `conf/dataset/<name>.yaml` by `hydra.utils.instantiate` and does
the whole corpus stage in `load()`: make sure the files are there (`CorpusPreparer`), read
them, split and tokenise documents, map entity types with `label_map`, and log what happened
(documents, sentences, tokens, mentions per type, mentions that crossed a sentence boundary,
overlapping and dropped mentions), so that nothing is lost without a line in the log.

`label_map` maps a corpus type to a label, or to null to drop that type; the key `"*"`
maps every type not listed (MedMentions collapses its semantic types to `Entity` this way).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hilgen.data.ade import pmid_split, read_ade
from hilgen.data.brat import read_brat_annotations
from hilgen.data.conll import read_conll
from hilgen.data.errors import MissingCorpusError
from hilgen.data.prepare import CorpusPreparer
from hilgen.data.pubtator import read_pubtator
from hilgen.data.tokenize import SplitStats, documents_to_sentences
from hilgen.data.types import Corpus, Document, Sentence

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
ANY_LABEL = "*"


class LabelMapper:
    """Applies a `label_map` and counts what it dropped."""

    def __init__(self, label_map: Mapping[str, str | None] | None) -> None:
        self.label_map = dict(label_map or {})
        self.dropped: Counter[str] = Counter()

    def __call__(self, label: str) -> str | None:
        mapped = self.label_map.get(label, self.label_map.get(ANY_LABEL, label))
        if mapped is None:
            self.dropped[label] += 1
        return mapped


def _split_paths(train: str, dev: str, test: str) -> dict[str, Path]:
    return {"train": Path(train), "dev": Path(dev), "test": Path(test)}


class NerDataset(ABC):
    """A named NER corpus with a fixed label set that can be loaded as a `Corpus`.

    `labels` fixes the label order (and so the tag set); when it is None the labels are
    inferred from the data (sorted). `sensitive` marks data that must not leave the machine
    (e.g. sent to a remote LLM) without the user's explicit opt-in. `label_groups`,
    `label_relations` and `relation_labels` say how a label may be augmented from a knowledge
    base (see `AugmentContext`).
    """

    def __init__(
        self,
        name: str,
        labels: Sequence[str] | None = None,
        label_map: Mapping[str, str | None] | None = None,
        sensitive: bool = False,
        preparer: CorpusPreparer | None = None,
        label_groups: Mapping[str, Sequence[str] | str] | str | None = None,
        label_relations: Mapping[str, Sequence[str]] | None = None,
        relation_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.name = name
        # UMLS semantic groups or types each label's synthetic replacements may come from, or
        # "auto" (for all labels or one): hilgen.kb.label_groups resolves them for a run.
        self.label_groups: dict[str, list[str] | str] | str = (
            label_groups
            if isinstance(label_groups, str)
            else {k: v if isinstance(v, str) else list(v) for k, v in (label_groups or {}).items()}
        )
        # KB relations that keep a label (a label not listed keeps every relation).
        self.label_relations = {k: list(v) for k, v in (label_relations or {}).items()}
        # KB relations whose names take another label ({"SpecificDisease": {"parent": ...}}).
        self.relation_labels = {k: dict(v) for k, v in (relation_labels or {}).items()}
        self._labels = list(labels) if labels is not None else None
        self.label_map = dict(label_map or {})
        self.sensitive = sensitive
        self.preparer = preparer

    @property
    def labels(self) -> list[str]:
        if self._labels is None:
            self._labels = self.load().labels
        return self._labels

    @abstractmethod
    def _read_split(self, split: str, mapper: LabelMapper) -> tuple[list[Sentence], SplitStats]:
        """Sentences of one split with mapped labels, and what tokenisation did."""

    def load(self) -> Corpus:
        """Prepare the files if needed, read every split and log the counts."""
        if self.preparer is not None:
            self.preparer()
        splits: dict[str, list[Sentence]] = {}
        for split in SPLITS:
            mapper = LabelMapper(self.label_map)
            sentences, stats = self._read_split(split, mapper)
            self._check_labels(split, sentences)
            splits[split] = sentences
            self._log_split(split, sentences, stats, mapper)
        if self._labels is None:
            labels = {span.label for sents in splits.values() for s in sents for span in s.spans}
            self._labels = sorted(labels)
        return Corpus(self.name, list(self._labels), sensitive=self.sensitive, **splits)

    def _check_labels(self, split: str, sentences: list[Sentence]) -> None:
        """Fail on the first split that has a type outside a given label set."""
        if self._labels is None:
            return
        unknown = Counter(
            span.label for s in sentences for span in s.spans if span.label not in self._labels
        )
        if unknown:
            raise ValueError(
                f"dataset {self.name}/{split}: entity types {sorted(unknown)} are not in labels "
                f"{self._labels}; add them to `labels`, or map them with `label_map` (to null "
                "to drop them)"
            )

    def _log_split(
        self, split: str, sentences: list[Sentence], stats: SplitStats, mapper: LabelMapper
    ) -> None:
        per_label = Counter(span.label for sentence in sentences for span in sentence.spans)
        log.info(
            "%s/%s: %d documents, %d sentences, %d tokens, mentions %s",
            self.name,
            split,
            stats.documents,
            len(sentences),
            sum(len(sentence.tokens) for sentence in sentences),
            dict(sorted(per_label.items())) or "none",
        )
        problems = {
            "mentions crossing a sentence boundary (sentences merged)": (
                stats.boundary_crossing_mentions
            ),
            "overlapping mentions dropped (flat NER)": stats.overlapping_mentions_dropped,
            "whitespace-only mentions dropped": stats.empty_mentions_dropped,
            "tokens split at a mention boundary": stats.tokens_split_at_mentions,
        }
        for what, count in problems.items():
            if count:
                log.info("%s/%s: %d %s", self.name, split, count, what)
        if mapper.dropped:
            log.info("%s/%s: dropped by label_map: %s", self.name, split, dict(mapper.dropped))


class DocumentDataset(NerDataset):
    """A dataset whose files hold documents with character-offset mentions."""

    @abstractmethod
    def _read_documents(self, split: str) -> list[Document]:
        """The documents of one split, as the reader returns them."""

    def _read_split(self, split: str, mapper: LabelMapper) -> tuple[list[Sentence], SplitStats]:
        documents = _unique_documents(self._read_documents(split), f"{self.name}/{split}")
        for document in documents:
            labels = [mapper(mention.label) for mention in document.mentions]
            document.mentions = [
                mention if label == mention.label else replace(mention, label=label)
                for mention, label in zip(document.mentions, labels, strict=True)
                if label is not None
            ]
        return documents_to_sentences(documents)


def _unique_documents(documents: list[Document], where: str) -> list[Document]:
    """Drop repeated documents (NCBI-Disease train has PMID 8528200 twice): ids must be unique."""
    seen: dict[str, Document] = {}
    for document in documents:
        if document.doc_id in seen:
            same = seen[document.doc_id].text == document.text
            log.warning(
                "%s: document %s appears again (%s text); keeping the first",
                where,
                document.doc_id,
                "same" if same else "different",
            )
            continue
        seen[document.doc_id] = document
    return list(seen.values())


class PubTatorDataset(DocumentDataset):
    """One PubTator file per split (NCBI-Disease, BC5CDR); `options` go to `NerDataset`."""

    def __init__(self, name: str, train: str, dev: str, test: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.paths = _split_paths(train, dev, test)

    def _read_documents(self, split: str) -> list[Document]:
        return list(read_pubtator(self.paths[split]))


class OneFileDataset(DocumentDataset):
    """Every split in one corpus file: the file is read once per `load()`, not once per split."""

    _all: list[Document] | None = None

    @abstractmethod
    def _read_all(self) -> list[Document]:
        """Every document of the corpus file."""

    def _documents(self) -> list[Document]:
        if self._all is None:
            self._all = self._read_all()
        return self._all

    def load(self) -> Corpus:
        self._all = None
        try:
            return super().load()
        finally:
            self._all = None


class MedMentionsDataset(OneFileDataset):
    """MedMentions: one PubTator file for all documents, split by the official PMID lists.

    `subset` is `st21pv` or `full`; types are UMLS semantic type ids as in the file (several,
    comma-separated, in `full`), which `label_map` maps.
    """

    def __init__(
        self,
        name: str,
        subset: str,
        corpus_file: str,
        pmid_lists: Mapping[str, str],
        **options: Any,
    ) -> None:
        super().__init__(name, **options)
        if subset not in ("st21pv", "full"):
            raise ValueError(f"MedMentions subset {subset!r}; expected st21pv or full")
        self.subset = subset
        self.corpus_file = Path(corpus_file)
        self.pmid_lists = {split: Path(pmid_lists[split]) for split in SPLITS}

    def _read_all(self) -> list[Document]:
        return list(read_pubtator(self.corpus_file))

    def _read_documents(self, split: str) -> list[Document]:
        by_id = {doc.doc_id: doc for doc in self._documents()}
        pmids = self.pmid_lists[split].read_text("utf-8").split()
        missing = [pmid for pmid in pmids if pmid not in by_id]
        if missing:
            raise MissingCorpusError(
                f"{self.corpus_file} lacks {len(missing)} of the {len(pmids)} documents listed "
                f"in {self.pmid_lists[split]} (e.g. {missing[0]}); is it the right MedMentions "
                "corpus_pubtator.txt.gz?"
            )
        return [by_id[pmid] for pmid in pmids]


class AdeDataset(OneFileDataset):
    """ADE-Corpus-V2 (`hilgen.data.ade`), which has no official split: each PMID goes to the
    split its stable hash falls in, `split_fractions` (train, dev, test) of the documents."""

    def __init__(
        self,
        name: str,
        drug_ae: str,
        split_fractions: Mapping[str, float],
        **options: Any,
    ) -> None:
        super().__init__(name, **options)
        if list(split_fractions) != list(SPLITS) or abs(sum(split_fractions.values()) - 1) > 1e-9:
            raise ValueError(
                f"dataset {name}: split_fractions must give train, dev and test (in that order) "
                f"fractions that sum to 1, got {dict(split_fractions)}"
            )
        self.drug_ae = drug_ae
        self.split_fractions = dict(split_fractions)

    def _read_all(self) -> list[Document]:
        return read_ade(self.drug_ae)

    def _read_documents(self, split: str) -> list[Document]:
        return [d for d in self._documents() if pmid_split(d.doc_id, self.split_fractions) == split]


class BratDataset(DocumentDataset):
    """One folder of BRAT `.txt`/`.ann` pairs per split (e.g. annotated MIMIC-III notes)."""

    def __init__(self, name: str, train: str, dev: str, test: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.paths = _split_paths(train, dev, test)

    def _read_documents(self, split: str) -> list[Document]:
        reading = read_brat_annotations(self.paths[split])
        if reading.discontinuous:
            log.info(
                "%s/%s: %d discontinuous annotations skipped",
                self.name,
                split,
                len(reading.discontinuous),
            )
        return reading.documents


class ConllDataset(NerDataset):
    """One CoNLL token/tag file per split (the BioBERT-style splits or any user files)."""

    def __init__(self, name: str, train: str, dev: str, test: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.paths = _split_paths(train, dev, test)

    def _read_split(self, split: str, mapper: LabelMapper) -> tuple[list[Sentence], SplitStats]:
        sentences = read_conll(self.paths[split], id_prefix=split)
        for sentence in sentences:
            labels = [mapper(span.label) for span in sentence.spans]
            sentence.spans = [
                span if label == span.label else replace(span, label=label)
                for span, label in zip(sentence.spans, labels, strict=True)
                if label is not None
            ]
        stats = SplitStats(
            documents=len({sentence.doc_id for sentence in sentences}),
            sentences=len(sentences),
            tokens=sum(len(sentence.tokens) for sentence in sentences),
            mentions=sum(len(sentence.spans) for sentence in sentences),
        )
        return sentences, stats
