"""Reader throughput on NCBI-Disease and BC5CDR: PubTator + split/tokenise, and CoNLL.

Usage (from the checkout):
    PYTHONPATH=. .venv/bin/python bench/bench_readers.py [--mirror-dir ../shared/data] [--repeats 3]
Prints the best of `repeats` runs per file (docs/s, sentences/s, tokens/s) as a table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from hilgen.data.conll import read_conll
from hilgen.data.pubtator import read_pubtator
from hilgen.data.tokenize import documents_to_sentences
from hilgen.data.types import Sentence

PUBTATOR_FILES = (
    "ncbi_disease/NCBItrainset_corpus.txt",
    "ncbi_disease/NCBIdevelopset_corpus.txt",
    "ncbi_disease/NCBItestset_corpus.txt",
    "bc5cdr/CDR_TrainingSet.PubTator.txt",
    "bc5cdr/CDR_DevelopmentSet.PubTator.txt",
    "bc5cdr/CDR_TestSet.PubTator.txt",
)
CONLL_FILES = (
    "ncbi_disease/conll/train.tsv",
    "ncbi_disease/conll/devel.tsv",
    "ncbi_disease/conll/test.tsv",
    "bc5cdr/conll/train.tsv",
    "bc5cdr/conll/devel.tsv",
    "bc5cdr/conll/test.tsv",
)


def _pubtator(path: Path) -> tuple[int | None, list[Sentence]]:
    documents = read_pubtator(path)
    sentences, _ = documents_to_sentences(documents)
    return len(documents), sentences


def _conll(path: Path) -> tuple[int | None, list[Sentence]]:
    return None, read_conll(path)  # the CoNLL files have no document boundaries


def _best_time(
    read: Callable[[Path], tuple[int | None, list[Sentence]]], path: Path, repeats: int
) -> tuple[float, int | None, list[Sentence]]:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        documents, sentences = read(path)
        best = min(best, time.perf_counter() - started)
    return best, documents, sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror-dir", type=Path, default=Path("..") / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    header = (
        f"{'reader':24s} {'file':40s} {'docs':>5s} {'sents':>6s} {'tokens':>7s} "
        f"{'s':>6s} {'docs/s':>8s} {'sents/s':>8s} {'tokens/s':>9s}"
    )
    print(header)
    print("-" * len(header))
    jobs = [("pubtator+split+tokenise", _pubtator, name) for name in PUBTATOR_FILES]
    jobs += [("conll", _conll, name) for name in CONLL_FILES]
    for label, read, name in jobs:
        seconds, documents, sentences = _best_time(read, args.mirror_dir / name, args.repeats)
        tokens = sum(len(sentence.tokens) for sentence in sentences)
        docs = "-" if documents is None else str(documents)
        docs_per_s = "-" if documents is None else f"{documents / seconds:.0f}"
        print(
            f"{label:24s} {name:40s} {docs:>5s} {len(sentences):6d} {tokens:7d} "
            f"{seconds:6.3f} {docs_per_s:>8s} {len(sentences) / seconds:8.0f} "
            f"{tokens / seconds:9.0f}"
        )


if __name__ == "__main__":
    main()
