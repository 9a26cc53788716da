"""Errors raised by the corpus stage, written for the person who has to fix the input.

Also home of `read_text_lines`, the one way readers open a text file, so that every reader
reports an undecodable byte or an empty file the same way (file, line, what to do).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path

from hilgen.errors import UserError


class CorpusFormatError(UserError, ValueError):
    """A corpus file does not follow its format; names the file, the line and what was expected."""

    def __init__(self, path: str | Path, line_number: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line_number = line_number
        self.problem = problem
        where = f"{self.path}:{line_number}" if line_number is not None else str(self.path)
        super().__init__(f"{where}: {problem}")


class MissingCorpusError(UserError, FileNotFoundError):
    """A corpus file is not where it should be; the message says what to put where."""


class ChecksumError(UserError, ValueError):
    """A corpus file's SHA-256 differs from the verified one, so it is refused."""


def _numbered(stream: Iterable[bytes], path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        yield from enumerate(stream, start=1)
    except (gzip.BadGzipFile, EOFError) as error:
        raise CorpusFormatError(
            path, None, f"not a complete gzip file ({error}); download it again"
        ) from None


def read_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield `(line_number, line)` (1-based, line ending removed) of a UTF-8 file, `.gz` too.

    Decoding line by line lets a bad byte be reported with its line number; an empty file is
    an error because a corpus split with nothing in it is always a mistake upstream.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingCorpusError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    line_number = 0
    with opener(path, "rb") as stream:
        for line_number, raw_line in _numbered(stream, path):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CorpusFormatError(
                    path,
                    line_number,
                    f"byte 0x{raw_line[error.start]:02x} at column {error.start + 1} is not "
                    "valid UTF-8; re-save the file as UTF-8",
                ) from None
            yield line_number, line.rstrip("\r\n")
    if line_number == 0:
        raise CorpusFormatError(path, None, "the file is empty; expected corpus data")
