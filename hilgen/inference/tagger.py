"""The one way a trained model tags text: `DocumentTagger`.

`predict.py`, the MLflow pyfunc model (and so `mlflow models serve`) and `hilgen.load_tagger`
all call it: documents are split and tokenised as the corpus was, their sentences tagged in
chunks (the tagger sorts a chunk by length and batches it; a long sentence goes through the
encoder's overlapping windows, nothing is cut), and the tags become character-offset entities,
linked to KB concepts on request. `precision="bf16"` runs the encoder in bfloat16 (about 1.4x
faster on a CPU with AVX-512 BF16; tags then differ slightly from the run's own, see
docs/predict.md#precision).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch
from tqdm import tqdm

from hilgen.data.types import Document
from hilgen.errors import UserError
from hilgen.inference.documents import (
    Entity,
    TaggedDocument,
    TokenisedDocument,
    entities_from_tags,
    tokenise,
)
from hilgen.inference.export import ModelCard, load_exported
from hilgen.kb.linker import Link, Linker
from hilgen.models.base import Tagger

# Sentences tagged per call of the tagger: large enough that a corpus split is one chunk (its
# batches, and so its predictions, are then exactly a training run's), small enough to stream.
CHUNK_SENTENCES = 20_000
# fp32: exactly the training run's own predictions; bf16: autocast to bfloat16 (faster).
PRECISIONS = ("fp32", "bf16")


class PrecisionError(UserError, ValueError):
    """A precision that is not one of PRECISIONS."""


def checked_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision={precision}: expected one of {list(PRECISIONS)}")
    return precision


@contextmanager
def autocast(precision: str) -> Iterator[None]:
    """Matrix products in `precision` on the CPU and, if there is one, the GPU."""
    with ExitStack() as stack:
        if precision == "bf16":
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
            if torch.cuda.is_available():
                stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        yield


class DocumentTagger:
    """A fitted tagger and its model card: documents in, entities out."""

    def __init__(
        self,
        tagger: Tagger,
        card: ModelCard,
        chunk_sentences: int = CHUNK_SENTENCES,
        precision: str = "fp32",
    ) -> None:
        self.tagger = tagger
        self.card = card
        self.chunk_sentences = chunk_sentences
        self.precision = precision

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, precision: str) -> None:
        self._precision = checked_precision(precision)

    @classmethod
    def load(cls, directory: str | Path, precision: str = "fp32") -> DocumentTagger:
        """The tagger exported into `directory` (see `hilgen.inference.export`)."""
        tagger, card = load_exported(Path(directory))
        return cls(tagger, card, precision=precision)

    @property
    def labels(self) -> list[str]:
        return self.card.labels

    def tag(self, texts: Sequence[str], linker: Linker | None = None) -> list[dict[str, object]]:
        """One record per text, `{"id", "text", "entities": [{"start", "end", "text",
        "label"}]}`, ids "0", "1", ...; with a `linker`, each entity also gets `concept_id`,
        `concept_name` and `score`."""
        documents = [tokenise(Document(str(i), text)) for i, text in enumerate(texts)]
        return [tagged.as_record() for tagged in self.tag_documents(documents, linker)]

    def tag_documents(
        self,
        documents: Iterable[TokenisedDocument],
        linker: Linker | None = None,
        progress: bool = False,
    ) -> Iterator[TaggedDocument]:
        """The documents with their tags and entities, in input order."""
        total = len(documents) if isinstance(documents, Sequence) else None
        bar = tqdm(total=total, desc="tagging", unit="doc", disable=not progress)
        chunk: list[TokenisedDocument] = []
        chunk_sentences = 0
        with bar:
            for document in documents:
                chunk.append(document)
                chunk_sentences += len(document.sentences)
                if chunk_sentences >= self.chunk_sentences:
                    yield from self._tag_chunk(chunk, linker)
                    bar.update(len(chunk))
                    chunk, chunk_sentences = [], 0
            yield from self._tag_chunk(chunk, linker)
            bar.update(len(chunk))

    def _tag_chunk(
        self, documents: list[TokenisedDocument], linker: Linker | None
    ) -> Iterator[TaggedDocument]:
        sentences = [s for d in documents for s in d.sentences]
        with autocast(self.precision):
            predicted = self.tagger.predict(sentences) if sentences else []
        position = 0
        links: dict[tuple[str, str], Link | None] = {}  # a name is looked up once a chunk
        for document in documents:
            tags = predicted[position : position + len(document.sentences)]
            position += len(document.sentences)
            entities = entities_from_tags(document, tags)
            if linker is not None:
                entities = [self._linked(entity, linker, links) for entity in entities]
            yield TaggedDocument(document, tags, entities)

    def _linked(
        self, entity: Entity, linker: Linker, links: dict[tuple[str, str], Link | None]
    ) -> Entity:
        """The entity with the KB concept its text links to within its label's groups."""
        key = (entity.text, entity.label)
        if key not in links:
            groups = self.card.label_groups.get(entity.label) or None
            links[key] = next(iter(linker.link(entity.text, groups=groups)), None)
        best = links[key]
        if best is None:
            return entity
        return Entity(
            entity.start,
            entity.end,
            entity.text,
            entity.label,
            best.concept.concept_id,
            best.concept.preferred_name,
            round(best.score, 4),
        )
