"""The `none` augmenter: the original-data baseline, with no synthetic sentences."""

from __future__ import annotations

from hilgen.augment.base import AugmentContext, Augmenter, SyntheticSet, describe_sentences
from hilgen.data.types import Sentence


class NoAugmenter(Augmenter):
    """Returns an empty synthetic set, so "no augmentation" runs through the same pipeline."""

    def __init__(self, name: str = "none") -> None:
        self.name = name

    def generate(self, sample: list[Sentence], context: AugmentContext) -> SyntheticSet:
        stats = describe_sentences([])
        stats["source_sentences"] = len(sample)
        stats["leaked_dropped"] = 0
        return SyntheticSet(sentences=[], stats=stats)
