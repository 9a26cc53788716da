"""Reader for BRAT standoff annotations (a `.txt` file and its `.ann` file per document).

Only text-bound annotations (`T` lines) become mentions; `N` lines (normalisations) give
their concept ids; attributes, relations, events and notes are not entities and are skipped.
A discontinuous annotation (`Label 0 5;9 14`) cannot be one flat span: it is skipped and
reported with its id, never merged into a span that would cover the words in its gap.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hilgen.data.errors import CorpusFormatError, read_text_lines
from hilgen.data.types import Document, Mention

log = logging.getLogger(__name__)

_IGNORED_KINDS = {"A", "M", "R", "E", "*", "#"}


@dataclass(frozen=True)
class DiscontinuousAnnotation:
    """A `T` annotation with several fragments, skipped because flat NER cannot hold it."""

    doc_id: str
    annotation_id: str
    label: str
    fragments: tuple[tuple[int, int], ...]
    text: str


@dataclass
class BratReading:
    """Documents read from a BRAT directory, plus what could not become a mention."""

    documents: list[Document] = field(default_factory=list)
    discontinuous: list[DiscontinuousAnnotation] = field(default_factory=list)


def _read_text(path: Path) -> str:
    try:
        # newline="" keeps \r\n as two characters, as BRAT counts them in its offsets.
        with open(path, encoding="utf-8", newline="") as stream:
            return stream.read()
    except UnicodeDecodeError as error:
        line_number = error.object[: error.start].count(b"\n") + 1
        raise CorpusFormatError(
            path, line_number, "not valid UTF-8; re-save the file as UTF-8"
        ) from None


def _parse_fragments(path: Path, line_number: int, offsets: str) -> tuple[tuple[int, int], ...]:
    fragments = []
    for fragment in offsets.split(";"):
        parts = fragment.split()
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            raise CorpusFormatError(
                path,
                line_number,
                f"offsets {offsets!r}; expected 'start end' or 'start end;start end'",
            )
        fragments.append((int(parts[0]), int(parts[1])))
    return tuple(fragments)


def read_brat_document(text_path: str | Path) -> tuple[Document, list[DiscontinuousAnnotation]]:
    """Read one `.txt` file and the `.ann` beside it (a missing or empty `.ann`: no mentions)."""
    text_path = Path(text_path)
    doc_id = text_path.stem
    text = _read_text(text_path)
    ann_path = text_path.with_suffix(".ann")
    if not ann_path.is_file() or ann_path.stat().st_size == 0:
        return Document(doc_id, text), []
    contiguous: dict[str, tuple[int, int, str]] = {}
    discontinuous: list[DiscontinuousAnnotation] = []
    concept_ids: dict[str, list[str]] = defaultdict(list)
    for line_number, line in read_text_lines(ann_path):
        if not line.strip():
            continue
        columns = line.split("\t")
        kind = columns[0][:1]
        if kind in _IGNORED_KINDS:
            continue
        if kind == "N":
            # N1<TAB>Reference T1 UMLS:C0001<TAB>name
            parts = columns[1].split() if len(columns) > 1 else []
            if len(parts) != 3:
                raise CorpusFormatError(
                    ann_path, line_number, "expected N<id><TAB>Reference T<id> DB:ID<TAB>name"
                )
            concept_ids[parts[1]].append(parts[2])
            continue
        if kind != "T" or len(columns) != 3:
            raise CorpusFormatError(
                ann_path,
                line_number,
                f"cannot read {line!r}; expected T<id><TAB>Label start end<TAB>text "
                "(or an A/R/E/N/# line)",
            )
        annotation_id, (label, _, offsets), mention_text = (
            columns[0],
            columns[1].partition(" "),
            columns[2],
        )
        fragments = _parse_fragments(ann_path, line_number, offsets)
        for start, end in fragments:
            if not 0 <= start < end <= len(text):
                raise CorpusFormatError(
                    ann_path,
                    line_number,
                    f"offsets [{start}, {end}) are outside {text_path.name}'s "
                    f"{len(text)} characters; fix the offsets",
                )
        covered = " ".join(text[start:end] for start, end in fragments)
        if covered != mention_text:
            raise CorpusFormatError(
                ann_path,
                line_number,
                f"annotation text {mention_text!r} differs from {text_path.name} at "
                f"{offsets}: {covered!r}; the .ann file does not belong to this .txt",
            )
        if len(fragments) > 1:
            discontinuous.append(
                DiscontinuousAnnotation(doc_id, annotation_id, label, fragments, mention_text)
            )
        else:
            contiguous[annotation_id] = (fragments[0][0], fragments[0][1], label)
    mentions = [
        Mention(start, end, text[start:end], label, tuple(concept_ids.get(annotation_id, ())))
        for annotation_id, (start, end, label) in contiguous.items()
    ]
    mentions.sort(key=lambda mention: (mention.start, mention.end))
    return Document(doc_id, text, mentions), discontinuous


def read_brat_annotations(directory: str | Path) -> BratReading:
    """Read every `*.txt` document under `directory` (sorted by name) with its report."""
    directory = Path(directory)
    text_paths = sorted(directory.rglob("*.txt"))
    if not text_paths:
        raise CorpusFormatError(
            directory, None, "no .txt files found; expected BRAT .txt/.ann pairs in this folder"
        )
    reading = BratReading()
    for text_path in text_paths:
        document, discontinuous = read_brat_document(text_path)
        reading.documents.append(document)
        reading.discontinuous.extend(discontinuous)
    if reading.discontinuous:
        log.warning(
            "%s: skipped %d discontinuous annotations (flat NER cannot hold them): %s",
            directory,
            len(reading.discontinuous),
            ", ".join(f"{a.doc_id}/{a.annotation_id}" for a in reading.discontinuous),
        )
    return reading


def read_brat(directory: str | Path) -> list[Document]:
    """The documents of a BRAT directory; discontinuous annotations are logged and skipped.

    Use `read_brat_annotations` to get the skipped annotations as data.
    """
    return read_brat_annotations(directory).documents
