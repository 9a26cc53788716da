"""Reader for the PubTator format (NCBI-Disease, BC5CDR, MedMentions).

A document is a title line `PMID|t|text`, an abstract line `PMID|a|text`, then one line per
mention `PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>ids[<TAB>...]]` with character offsets
into title + " " + abstract; relation lines `PMID<TAB>CID<TAB>id<TAB>id` are skipped; a blank
line ends the document. Every mention is checked against the text, so a shifted offset is
caught here and not as a silently wrong entity later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hilgen.data.errors import CorpusFormatError, read_text_lines
from hilgen.data.types import Document, Mention

_TEXT_LINE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")
# `|` separates the concepts of a composite mention, `+` the parts of a combined concept (NCBI).
_CONCEPT_SEPARATOR = re.compile(r"[|+]")
_NO_CONCEPT = {"", "-", "-1"}


@dataclass
class PubTatorDocument(Document):
    """A PubTator document; `title_end` is where the title stops, a sentence break for sure."""

    title_end: int = 0


def parse_concept_ids(field: str) -> tuple[str, ...]:
    """`"D001|D002"` -> `("D001", "D002")`; `"-1"` (no concept) -> `()`."""
    parts = (part.strip() for part in _CONCEPT_SEPARATOR.split(field))
    return tuple(part for part in parts if part not in _NO_CONCEPT)


class _DocumentBuilder:
    """Collects the lines of one document and checks that they belong together."""

    def __init__(self, doc_id: str, title: str) -> None:
        self.doc_id = doc_id
        self.title = title
        self.abstract: str | None = None
        self.mentions: list[Mention] = []

    @property
    def text(self) -> str:
        return self.title if self.abstract is None else f"{self.title} {self.abstract}"

    def build(self) -> PubTatorDocument:
        return PubTatorDocument(self.doc_id, self.text, self.mentions, title_end=len(self.title))


def _parse_mention(
    path: Path, line_number: int, columns: list[str], document: _DocumentBuilder
) -> Mention:
    try:
        start, end = int(columns[1]), int(columns[2])
    except ValueError:
        raise CorpusFormatError(
            path,
            line_number,
            f"offsets {columns[1]!r}, {columns[2]!r} are not integers; expected "
            "PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>ids]",
        ) from None
    text = document.text
    if not 0 <= start < end <= len(text):
        raise CorpusFormatError(
            path,
            line_number,
            f"offsets [{start}, {end}) are outside document {document.doc_id}'s "
            f"{len(text)} characters (title + ' ' + abstract); fix the offsets",
        )
    # The text column may carry trailing blanks (one NCBI-Disease line does); the slice may not.
    if columns[3].strip() != text[start:end]:
        raise CorpusFormatError(
            path,
            line_number,
            f"mention text {columns[3]!r} differs from the document text at "
            f"[{start}, {end}): {text[start:end]!r}; the offsets or the text are wrong",
        )
    concept_ids = parse_concept_ids(columns[5]) if len(columns) > 5 else ()
    return Mention(start, end, text[start:end], columns[4].strip(), concept_ids)


def read_pubtator(path: str | Path) -> list[PubTatorDocument]:
    """Read every document of a PubTator file (plain or `.gz`), in file order."""
    path = Path(path)
    documents: list[PubTatorDocument] = []
    current: _DocumentBuilder | None = None
    for line_number, line in read_text_lines(path):
        if not line.strip():
            if current is not None:
                documents.append(current.build())
                current = None
            continue
        text_line = _TEXT_LINE.match(line)
        if text_line:
            doc_id, kind, text = text_line.groups()
            if kind == "t":
                if current is not None:
                    documents.append(current.build())
                current = _DocumentBuilder(doc_id, text)
                continue
            if current is None or current.doc_id != doc_id or current.abstract is not None:
                raise CorpusFormatError(
                    path,
                    line_number,
                    f"abstract line for {doc_id} does not follow its title line; expected "
                    f"{doc_id}|t|title just before {doc_id}|a|abstract",
                )
            current.abstract = text
            continue
        columns = line.split("\t")
        if current is None or columns[0] != current.doc_id:
            raise CorpusFormatError(
                path,
                line_number,
                f"annotation for {columns[0]!r} outside its document; expected it after "
                f"the lines {columns[0]}|t|... and {columns[0]}|a|...",
            )
        if len(columns) == 4 and not columns[1].isdigit():
            continue  # a relation such as CID: not an entity
        if len(columns) < 5:
            raise CorpusFormatError(
                path,
                line_number,
                f"{len(columns)} tab-separated columns; expected at least 5: "
                "PMID, start, end, text, type (then concept ids)",
            )
        current.mentions.append(_parse_mention(path, line_number, columns, current))
    if current is not None:
        documents.append(current.build())
    if not documents:
        raise CorpusFormatError(path, None, "no PubTator documents found (no PMID|t| line)")
    return documents
