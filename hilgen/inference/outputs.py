"""Writing tagged documents: JSONL (default), CoNLL, BRAT standoff or PubTator.

Documents are streamed into a temporary file (a temporary directory for BRAT) beside the
output, which takes the output's name only once every document is written: a failure part way
leaves nothing half-written at `output`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from hilgen.data.iob import OUTSIDE
from hilgen.errors import UserError
from hilgen.inference.documents import TaggedDocument
from hilgen.io import atomic_path

OUTPUT_FORMATS = ("jsonl", "conll", "brat", "pubtator")


def _one_line(text: str) -> str:
    """`text` with line breaks as spaces (same length, so offsets still hold)."""
    return text.replace("\r", " ").replace("\n", " ")


def write_jsonl_record(out: TextIO, tagged: TaggedDocument) -> None:
    out.write(json.dumps(tagged.as_record(), ensure_ascii=False) + "\n")


def write_conll_document(out: TextIO, tagged: TaggedDocument) -> None:
    """`-DOCSTART-`, then `token<TAB>tag` lines, a blank line after each sentence."""
    out.write(f"-DOCSTART-\t{OUTSIDE}\n\n")
    for sentence, tags in zip(tagged.document.sentences, tagged.tags, strict=True):
        pairs = zip(sentence.tokens, tags, strict=True)
        out.writelines(f"{token}\t{tag}\n" for token, tag in pairs)
        out.write("\n")


def write_pubtator_document(out: TextIO, tagged: TaggedDocument) -> None:
    """Title and abstract lines (a PubTator input's own; otherwise the whole text as the
    title), then one line per entity with its offsets, label and linked concept."""
    document = tagged.document
    doc_id = document.doc_id
    text = _one_line(document.text)
    title_end = document.title_end if document.title_end is not None else len(text)
    out.write(f"{doc_id}|t|{text[:title_end]}\n")
    if title_end < len(text):
        out.write(f"{doc_id}|a|{text[title_end + 1 :]}\n")
    for entity in tagged.entities:
        concept = entity.concept_id or ""
        out.write(
            f"{doc_id}\t{entity.start}\t{entity.end}\t{_one_line(entity.text)}\t"
            f"{entity.label}\t{concept}\n"
        )
    out.write("\n")


STREAM_WRITERS: dict[str, Callable[[TextIO, TaggedDocument], None]] = {
    "jsonl": write_jsonl_record,
    "conll": write_conll_document,
    "pubtator": write_pubtator_document,
}


def write_brat_document(directory: Path, tagged: TaggedDocument) -> None:
    """`<id>.txt` (the text) and `<id>.ann` (`T` lines, and `N` lines for linked concepts)."""
    stem = directory / tagged.document.doc_id
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.txt").write_text(tagged.document.text, encoding="utf-8")
    lines = []
    for i, entity in enumerate(tagged.entities, start=1):
        where = f"{entity.label} {entity.start} {entity.end}"
        lines.append(f"T{i}\t{where}\t{_one_line(entity.text)}\n")
        if entity.concept_id:
            lines.append(f"N{i}\tReference T{i} {entity.concept_id}\t{entity.concept_name}\n")
    Path(f"{stem}.ann").write_text("".join(lines), encoding="utf-8")


class OutputExistsError(UserError, FileExistsError):
    """An output path that holds something this run would overwrite."""


def write_output(documents: Iterable[TaggedDocument], output: Path, output_format: str) -> int:
    """Write every document to `output`; return how many were written."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format={output_format!r}: expected one of {OUTPUT_FORMATS}")
    count = 0
    if output_format == "brat":
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise OutputExistsError(
                f"{output}: exists and is not an empty directory; BRAT output needs a new "
                "directory (choose another output= or remove it)"
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
        try:
            for tagged in documents:
                write_brat_document(temp, tagged)
                count += 1
            if output.exists():
                output.rmdir()
            temp.rename(output)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        return count
    writer = STREAM_WRITERS[output_format]
    with atomic_path(output) as temp, open(temp, "w", encoding="utf-8") as out:
        for tagged in documents:
            writer(out, tagged)
            count += 1
    return count
