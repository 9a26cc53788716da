"""Reader for ADE-Corpus-V2 (Gurulingappa et al., J Biomed Inform 2012): drugs and adverse effects.

`DRUG-AE.rel` has one line per drug/adverse-effect relation,
`PMID|sentence|effect|begin|end|drug|begin|end`, so a sentence with several relations comes
several times; here each sentence appears once, with every distinct span of its lines. The
offsets are document-level (into "PMID\\n\\nTitle\\n\\nAbstract", which is not distributed), so
a sentence's own start is recovered as the one offset at which all of its mentions sit at
their text; a line that no such offset explains is an error naming the line.

Only `DRUG-AE.rel` is read. `ADE-NEG.txt` is not: its sentences have no adverse effect and
their drugs are not annotated, so they would teach the tagger that drugs are not entities.
`DRUG-DOSE.rel` is not either: every drug of its 279 lines is already a drug of `DRUG-AE.rel`
(measured on the verified copy), and doses are not a label. A drug in no relation is not
annotated in the corpus at all.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hilgen.data.errors import CorpusFormatError, read_text_lines
from hilgen.data.types import Document, Mention

DRUG = "Drug"
ADVERSE_EFFECT = "AdverseEffect"
_COLUMNS = 8


@dataclass
class _Sentence:
    """One corpus sentence: its possible document-level starts and its mentions there."""

    text: str
    starts: set[int]
    mentions: set[tuple[int, int, str, str]] = field(default_factory=set)


def _starts_of(sentence: str, text: str, begin: int) -> set[int]:
    """Document offsets at which `sentence` could start if `text` is at `begin` in it."""
    starts = set()
    at = sentence.find(text)
    while at >= 0:
        starts.add(begin - at)
        at = sentence.find(text, at + 1)
    return starts


def _read_relations(path: Path) -> list[tuple[int, str, str, list[tuple[int, int, str, str]]]]:
    """`(line_number, pmid, sentence, [(begin, end, text, label), ...])` per relation line."""
    relations = []
    for line_number, line in read_text_lines(path):
        if not line.strip():
            continue
        columns = line.split("|")
        if len(columns) != _COLUMNS:
            raise CorpusFormatError(
                path,
                line_number,
                f"expected {_COLUMNS} '|'-separated columns "
                "(PMID|sentence|effect|begin|end|drug|begin|end), "
                f"got {len(columns)}",
            )
        pmid, sentence, effect, effect_begin, effect_end, drug, drug_begin, drug_end = columns
        try:
            mentions = [
                (int(effect_begin), int(effect_end), effect, ADVERSE_EFFECT),
                (int(drug_begin), int(drug_end), drug, DRUG),
            ]
        except ValueError:
            raise CorpusFormatError(path, line_number, "an offset is not a number") from None
        relations.append((line_number, pmid, sentence, mentions))
    return relations


def _add_line(
    sentences: dict[tuple[str, str], _Sentence],
    path: Path,
    line_number: int,
    pmid: str,
    text: str,
    mentions: list[tuple[int, int, str, str]],
) -> None:
    starts = set.intersection(*(_starts_of(text, m[2], m[0]) for m in mentions))
    key = (pmid, text)
    if key in sentences:
        starts &= sentences[key].starts
    if not starts or any(end - begin != len(mention) for begin, end, mention, _ in mentions):
        raise CorpusFormatError(
            path,
            line_number,
            "the mentions' document offsets do not fit the sentence (or the sentence's other "
            "lines); is this the original ADE-Corpus-V2 file?",
        )
    sentence = sentences.setdefault(key, _Sentence(text, starts))
    sentence.starts = starts
    sentence.mentions.update(mentions)


def read_ade(drug_ae: str | Path) -> list[Document]:
    """One `Document` per PMID: its annotated sentences in document order, separated by blank
    lines (always a sentence break), with `Drug` and `AdverseEffect` mentions."""
    sentences: dict[tuple[str, str], _Sentence] = {}
    for line_number, pmid, text, mentions in _read_relations(Path(drug_ae)):
        _add_line(sentences, Path(drug_ae), line_number, pmid, text, mentions)

    by_pmid: dict[str, list[_Sentence]] = defaultdict(list)
    for (pmid, _), sentence in sentences.items():
        by_pmid[pmid].append(sentence)
    documents = []
    for pmid, pmid_sentences in by_pmid.items():
        pmid_sentences.sort(key=lambda s: min(s.starts))
        text_parts: list[str] = []
        mentions: list[Mention] = []
        offset = 0
        for sentence in pmid_sentences:
            start = min(sentence.starts)
            for begin, end, mention, label in sorted(sentence.mentions):
                shift = offset - start
                mentions.append(Mention(begin + shift, end + shift, mention, label))
            text_parts.append(sentence.text)
            offset += len(sentence.text) + 2
        documents.append(Document(pmid, "\n\n".join(text_parts), mentions))
    return documents


def pmid_split(pmid: str, fractions: Mapping[str, float]) -> str:
    """The split of a document by a stable hash of its PMID: the same on every machine and
    Python version, and unchanged for a document when others are added or removed."""
    position = int(hashlib.sha256(pmid.encode("utf-8")).hexdigest()[:12], 16) / 16**12
    cumulative = 0.0
    for split, fraction in fractions.items():
        cumulative += fraction
        if position < cumulative:
            return split
    return list(fractions)[-1]
