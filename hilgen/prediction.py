"""The job behind `predict.py`: a logged model tags a file or a directory of documents.

Load the model (`runs:/<run_id>/model`, `models:/<name>/<version>` or a directory), read and
tokenise the input, tag it chunk by chunk, link the entities to KB concepts with `link=true`,
and write one record per document; the output appears only once complete.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from hilgen.evaluate.tables import format_table
from hilgen.inference.documents import TaggedDocument
from hilgen.inference.inputs import InputError, read_input
from hilgen.inference.outputs import OUTPUT_FORMATS, write_output
from hilgen.kb.linker import Linker
from hilgen.tracking.tagger_model import load_tagger

log = logging.getLogger(__name__)


@dataclass
class PredictionCounts:
    documents: int = 0
    words: int = 0
    entities: Counter[str] = field(default_factory=Counter)
    linked: int = 0

    def counted(self, documents: Iterator[TaggedDocument]) -> Iterator[TaggedDocument]:
        for tagged in documents:
            self.documents += 1
            self.words += tagged.document.n_words
            self.entities.update(e.label for e in tagged.entities)
            self.linked += sum(e.concept_id is not None for e in tagged.entities)
            yield tagged


def predict(cfg: DictConfig) -> dict[str, float]:
    """Tag `cfg.input` with `cfg.model_uri` into `cfg.output`; return counts and speed."""
    if cfg.output_format not in OUTPUT_FORMATS:
        raise InputError(f"output_format={cfg.output_format}: expected one of {OUTPUT_FORMATS}")
    if not cfg.model_uri or not cfg.input or not cfg.output:
        raise InputError(
            "predict.py needs model_uri=runs:/<run_id>/model input=<file or directory> "
            "output=<file>"
        )
    # Lightning announces the accelerator it predicts on; a user tagging a file needs no news
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    tagger = load_tagger(cfg.model_uri, cfg.tracking.tracking_uri, cfg.precision)
    documents = read_input(Path(cfg.input), cfg.input_format)
    linker: Linker | None = None
    if cfg.link:
        linker = instantiate(cfg.linker, kb=instantiate(cfg.kb))
    counts = PredictionCounts()
    started = time.perf_counter()
    tagged = tagger.tag_documents(documents, linker, progress=cfg.progress)
    try:
        write_output(counts.counted(tagged), Path(cfg.output), cfg.output_format)
    finally:
        tagger.tagger.close()
    seconds = time.perf_counter() - started
    rows = [[label, n] for label, n in sorted(counts.entities.items())]
    rows.append(["all", sum(counts.entities.values())])
    print(format_table(["label", "entities"], rows))
    linked = f", {counts.linked} linked to a KB concept" if cfg.link else ""
    print(
        f"\n{counts.documents} documents, {counts.words} words in {seconds:.1f} s "
        f"({counts.words / max(seconds, 1e-9):.0f} words/s){linked} -> {cfg.output}"
    )
    return {
        "documents": counts.documents,
        "words": counts.words,
        "entities": sum(counts.entities.values()),
        "seconds": seconds,
    }
