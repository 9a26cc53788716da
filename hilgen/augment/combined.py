"""Several augmenters' synthetic sets as one: e.g. KB substitution plus distant supervision."""

from __future__ import annotations

from collections.abc import Mapping

from hilgen.augment.base import (
    AugmentContext,
    Augmenter,
    SyntheticSentence,
    SyntheticSet,
    describe_sentences,
)
from hilgen.data.types import Sentence


class CombinedAugmenter(Augmenter):
    """Runs each part on the same sample and context and pools their sentences.

    Each part's own statistics are kept under ``<part>/...``; the pooled set is described
    again at the top level, and ``leaked_dropped`` is the parts' sum.
    """

    def __init__(self, parts: Mapping[str, Augmenter], name: str = "combined") -> None:
        if not parts:
            raise ValueError(f"augmenter {name} combines no parts; list them under `parts`")
        self.name = name
        self.parts = dict(parts)
        self.uses_llm = any(getattr(part, "uses_llm", False) for part in self.parts.values())
        self.tags_unlabelled_text = any(p.tags_unlabelled_text for p in self.parts.values())

    def generate(self, sample: list[Sentence], context: AugmentContext) -> SyntheticSet:
        sentences: list[SyntheticSentence] = []
        stats: dict[str, float | int] = {"leaked_dropped": 0}
        for key, part in self.parts.items():
            produced = part.generate(sample, context)
            sentences += produced.sentences
            stats |= {f"{key}/{name}": value for name, value in produced.stats.items()}
            stats["leaked_dropped"] += produced.stats.get("leaked_dropped", 0)
        return SyntheticSet(sentences=sentences, stats=describe_sentences(sentences) | stats)
