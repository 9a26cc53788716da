"""What `predict.py` reads: plain text, a directory of text files, PubTator or CoNLL.

- a `.txt` file (any file that is not one of the others): each non-empty line a document,
  with id `<file stem>:<line number>`;
- a directory: each `*.txt` file below it one document, with id its path without `.txt`;
- a PubTator file (its first line `PMID|t|title`): title + " " + abstract per document;
- a CoNLL file (`.conll`, `.iob`, `.bio`, `.tsv`): already tokenised, one token a line (the
  first column; tags, if any, are ignored), a blank line between sentences.

Every problem is an `InputError` naming the file, the line where there is one, and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

from hilgen.data.conll import read_conll
from hilgen.data.errors import CorpusFormatError, read_text_lines
from hilgen.data.pubtator import read_pubtator
from hilgen.data.types import Document
from hilgen.errors import UserError
from hilgen.inference.documents import TokenisedDocument, from_sentences, tokenise

INPUT_FORMATS = ("auto", "text", "directory", "pubtator", "conll")
CONLL_SUFFIXES = (".conll", ".iob", ".bio", ".tsv", ".iob2")
_PUBTATOR_TITLE = re.compile(r"^[^|\t]+\|t\|")
# Bytes read to tell a binary file from text (a NUL byte never occurs in UTF-8 text).
_SNIFF_BYTES = 8192


class InputError(UserError, ValueError):
    """The input cannot be tagged; the message names the file (and line) and what to do."""


def detect_format(path: Path) -> str:
    """The input format of `path` (`INPUT_FORMATS` without `auto`)."""
    if path.is_dir():
        return "directory"
    if path.suffix.lower() in CONLL_SUFFIXES:
        return "conll"
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    first_line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return "pubtator" if _PUBTATOR_TITLE.match(first_line) else "text"


def check_text_file(path: Path, setting: str = "input") -> None:
    """A readable, non-empty, non-binary file, or an `InputError` saying which it is not
    (`setting`: the config key that named the file)."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory; check the {setting}= path")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give a file or a directory of .txt files")
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise InputError(
            f"{path}: cannot be read ({error.strerror}); check its permissions"
        ) from None
    if not head:
        raise InputError(f"{path}: the file is empty; expected text to tag")
    if b"\0" in head:
        raise InputError(
            f"{path}: a binary file, not text; give a UTF-8 .txt, PubTator or CoNLL file"
        )


def read_text_documents(path: Path) -> list[Document]:
    """Each non-empty line of a text file, as a document."""
    return [
        Document(f"{path.stem}:{number}", line)
        for number, line in read_text_lines(path)
        if line.strip()
    ]


def read_directory(path: Path) -> list[Document]:
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    if not files:
        raise InputError(f"{path}: no .txt files in this directory; put one document per file")
    documents = []
    for file in files:
        check_text_file(file)
        lines = [line for _, line in read_text_lines(file)]
        documents.append(Document(str(file.relative_to(path).with_suffix("")), "\n".join(lines)))
    return documents


def read_conll_documents(path: Path) -> list[TokenisedDocument]:
    """CoNLL sentences grouped into documents by their `-DOCSTART-` blocks."""
    by_document: dict[str, list] = {}
    for sentence in read_conll(path, tagged=False):
        by_document.setdefault(sentence.doc_id, []).append(sentence)
    return [from_sentences(doc_id, sentences) for doc_id, sentences in by_document.items()]


def read_input(
    path: str | Path, input_format: str = "auto", setting: str = "input"
) -> list[TokenisedDocument]:
    """The documents of `path`, split into sentences and tokens with character offsets
    (`setting`: the config key that named the path, for the messages)."""
    path = Path(path)
    if input_format not in INPUT_FORMATS:
        raise InputError(f"input_format={input_format!r}: expected one of {INPUT_FORMATS}")
    if not path.exists():
        raise InputError(f"{path}: no such file or directory; check the {setting}= path")
    if not path.is_dir():
        check_text_file(path, setting)
    kind = detect_format(path) if input_format == "auto" else input_format
    try:
        if kind == "conll":
            documents = read_conll_documents(path)
        elif kind == "directory":
            documents = [tokenise(d) for d in read_directory(path)]
        elif kind == "pubtator":
            documents = [tokenise(d) for d in read_pubtator(path)]
        else:
            documents = [tokenise(d) for d in read_text_documents(path)]
    except CorpusFormatError as error:
        raise InputError(str(error)) from None
    if not any(d.sentences for d in documents):
        raise InputError(f"{path}: no text to tag (only blank lines); expected at least one word")
    return documents
