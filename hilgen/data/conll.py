"""Reader for CoNLL-style token-per-line files (the BioBERT/MTL IOB splits, user files).

One token per line, the token in the first column and its tag in the last, columns split by
tabs (or by spaces when a line has no tab); a blank line ends a sentence; `-DOCSTART-` lines
start a new document. IOB1, IOB2 and BIOES are all accepted and normalised to IOB2 with
`hilgen.data.iob`, then turned into spans, so the rest of the pipeline never sees tags.
"""

from __future__ import annotations

from pathlib import Path

from hilgen.data.errors import CorpusFormatError, read_text_lines
from hilgen.data.iob import normalise_tags, split_tag, tags_to_spans
from hilgen.data.types import Sentence

_DOCUMENT_START = "-DOCSTART-"


def read_conll(
    path: str | Path, id_prefix: str | None = None, tagged: bool = True
) -> list[Sentence]:
    """Read the sentences of a CoNLL file; `tagged=False` reads tokens alone (the first
    column of every line, any tags ignored), as text to tag.

    Sentence ids are `f"{id_prefix}:{i}"` (default prefix: the file name without suffix) so
    that sentences of different splits never share an id; `doc_id` is `f"{id_prefix}:d{n}"`
    for the n-th `-DOCSTART-` block (all sentences share `:d0` when there is none).
    """
    path = Path(path)
    prefix = path.stem if id_prefix is None else id_prefix
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    column_count: int | None = None
    document_index = 0

    def finish_sentence() -> None:
        if tokens:
            spans = tags_to_spans(normalise_tags(tags))
            sentence_id = f"{prefix}:{len(sentences)}"
            sentences.append(
                Sentence(sentence_id, list(tokens), spans, f"{prefix}:d{document_index}")
            )
            tokens.clear()
            tags.clear()

    for line_number, line in read_text_lines(path):
        if not line.strip():
            finish_sentence()
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if columns[0] == _DOCUMENT_START:
            finish_sentence()
            if sentences:
                document_index += 1
            continue
        if column_count is None:
            column_count = len(columns)
            if column_count < 2 and tagged:
                raise CorpusFormatError(
                    path,
                    line_number,
                    f"1 column in {line!r}; expected a token and its tag separated by a "
                    "tab or a space",
                )
        if len(columns) != column_count:
            raise CorpusFormatError(
                path,
                line_number,
                f"{len(columns)} columns; expected {column_count} like the first line "
                "(token first, tag last); a token with a space inside needs tab separators",
            )
        tag = columns[-1].strip() if tagged else "O"
        try:
            split_tag(tag)
        except ValueError as error:
            raise CorpusFormatError(path, line_number, str(error)) from None
        token = columns[0].strip()
        if not token:
            raise CorpusFormatError(path, line_number, "empty token; expected text before the tag")
        tokens.append(token)
        tags.append(tag)
    finish_sentence()
    if not sentences:
        raise CorpusFormatError(path, None, "no sentences found; expected token<TAB>tag lines")
    return sentences
