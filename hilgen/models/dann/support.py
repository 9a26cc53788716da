"""The support set: the sentences whose words the nearest-neighbour search runs over, and
their word vectors by IO tag (or one prototype per type)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hilgen.data.iob import OUTSIDE, io_tags
from hilgen.data.types import Sentence
from hilgen.models.dann.decoder import SYNTHETIC_TYPINGS
from hilgen.models.dann.embedding import embed_words
from hilgen.models.encoder import WordEncoder
from hilgen.models.nn_index import as_normalised_float32

# Which sentences' words the nearest-neighbour search runs over: gold + synthetic, gold only
# (the synthetic sentences then only fine-tune the encoder), or gold + the entity words of the
# synthetic sentences (their O words are copies of gold contexts and KB negatives: names of
# other concepts tagged O, which pull real mentions to O).
SUPPORT_SETS = ("all", "gold", "synthetic_entities")


@dataclass(frozen=True)
class SupportSet:
    """The sentences a fitted DANN searches: the words of `sentences` (from index
    `entities_only_from` on only their entity words; None: all of them), and the
    `typing_sentences` whose entity words only the typing adds (`SYNTHETIC_TYPINGS`)."""

    sentences: list[Sentence] = field(default_factory=list)
    typing_sentences: list[Sentence] = field(default_factory=list)
    entities_only_from: int | None = None

    @classmethod
    def choose(
        cls, gold: Sequence[Sentence], synthetic: Sequence[Sentence], support: str, typing: str
    ) -> SupportSet:
        """The support set of `SUPPORT_SETS` named by `support`, for the typing `typing`."""
        sentences = list(gold) if support == "gold" else [*gold, *synthetic]
        entities_only_from = len(gold) if support == "synthetic_entities" else None
        # typing by the synthetic entity words adds those that the support lacks
        typing_sentences = (
            list(synthetic) if typing in SYNTHETIC_TYPINGS and support == "gold" else []
        )
        return cls(sentences, typing_sentences, entities_only_from)

    @property
    def whole_sentences(self) -> list[Sentence]:
        """The sentences all of whose words are support words (what the transitions count)."""
        return self.sentences[: self.entities_only_from]


def support_vectors(
    encoder: WordEncoder,
    support: Sequence[Sentence],
    batch_size: int,
    entities_only_from: int | None = None,
) -> dict[str, np.ndarray]:
    """Word vectors of the support sentences grouped by IO tag, filled into preallocated arrays
    (a synthetic support set can hold hundreds of thousands of words). Sentences from index
    `entities_only_from` on give only their entity words (embedded in their whole sentence)."""
    tags_per_sentence = [np.array(io_tags(s.tags)) for s in support]
    if entities_only_from is not None:
        for tags in tags_per_sentence[entities_only_from:]:
            tags[tags == OUTSIDE] = ""
    counts = Counter(tag for tags in tags_per_sentence for tag in tags.tolist() if tag)
    arrays = {tag: np.empty((n, encoder.hidden_size), np.float32) for tag, n in counts.items()}
    filled: Counter[str] = Counter()
    tokens = [s.tokens for s in support]
    for indices, vectors in embed_words(encoder, tokens, batch_size, "embedding support words"):
        for index, sentence_vectors in zip(indices, vectors, strict=True):
            tags = tags_per_sentence[index]
            for tag in set(tags.tolist()) - {""}:
                rows = sentence_vectors[tags == tag]
                arrays[tag][filled[tag] : filled[tag] + len(rows)] = rows
                filled[tag] += len(rows)
    return arrays


def type_prototypes(support: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each entity tag's prototype, [1, dim]: the mean of its unit-length support word vectors
    (the index normalises it again, so it is scored by cosine)."""
    return {
        tag: as_normalised_float32(words).mean(axis=0, keepdims=True)
        for tag, words in support.items()
        if tag != OUTSIDE and len(words)
    }
