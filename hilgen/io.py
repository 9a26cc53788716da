"""Atomic file writes: a crash or a parallel job never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` only if the block ends
    without an error, and is removed otherwise (a failed write never replaces a good file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as temp, open(temp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


#: Exit status of a command whose reader went away (`... | head`): 128 + SIGPIPE, as a shell
#: reports a process killed by the signal.
BROKEN_PIPE_EXIT = 141


def silence_broken_stdout() -> None:
    """Point stdout at /dev/null after its reader went away (BrokenPipeError), so that the
    interpreter's last flush at exit does not raise and print a traceback again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


#: The suffix of every CoNLL file a run writes: `.txt` at the end makes the MLflow UI preview
#: it as text (it previews by extension, and knows no `.conll`); every CoNLL reader takes it.
CONLL_SUFFIX = ".conll.txt"
