"""Distant supervision: the corpus's own unlabelled sentences, tagged where a KB name occurs.

Substitution keeps the few contexts of the sample, so the context itself becomes the label
signal, and a tagger trained on such copies tags entities wherever those words recur. This
augmenter takes its contexts from in-domain text instead:
the sentences of the train split, whose gold spans are removed before they reach it
(`AugmentContext.unlabelled_sentences`), tagged by the name dictionary the KB and the sample
make (`hilgen.kb.name_dictionary`: what is matched, which label a name takes). It uses more
than the paper does, unlabelled in-domain text besides the K-shot sample and the KB, and says
so in its name.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hilgen.augment.base import (
    AugmentContext,
    Augmenter,
    AugmenterConfigError,
    SyntheticSentence,
    SyntheticSet,
    describe_sentences,
)
from hilgen.data.types import Sentence
from hilgen.kb.name_dictionary import DictionarySettings, LabelScopes, NameDictionary

log = logging.getLogger(__name__)


class KBDictionaryAugmenter(Augmenter):
    """Unlabelled in-domain sentences tagged with KB names (distant supervision).

    `max_sentences` caps how many tagged sentences are kept (a seeded sample of those with at
    least one name; None keeps all); `seed=None` follows the run's seed; `keep_unmatched` keeps
    the sentences no name matched too, all O. Every other argument is a `DictionarySettings`
    field: which names the dictionary holds and how it matches them.
    """

    tags_unlabelled_text = True

    def __init__(
        self,
        name: str = "kb_dictionary",
        max_sentences: int | None = None,
        seed: int | None = None,
        keep_unmatched: bool = False,
        **dictionary: Any,
    ) -> None:
        if max_sentences is not None and max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1 or null, got {max_sentences}")
        self.name = name
        self.max_sentences = max_sentences
        self.seed = seed
        self.keep_unmatched = keep_unmatched
        self.settings = DictionarySettings(**dictionary)

    def generate(self, sample: list[Sentence], context: AugmentContext) -> SyntheticSet:
        if not context.unlabelled_sentences:
            raise AugmenterConfigError(
                f"augmenter {self.name} tags unlabelled sentences and got none: the pipeline "
                "passes the train split's sentences without their labels"
            )
        if context.kb is None:
            raise AugmenterConfigError(f"augmenter {self.name} needs a knowledge base (conf/kb)")
        seed = context.seed if self.seed is None else self.seed
        counts: Counter[str] = Counter()
        pool = [s for s in context.unlabelled_sentences if not context.is_test_sentence(s.tokens)]
        counts["leaked_dropped"] = len(context.unlabelled_sentences) - len(pool)
        scopes = LabelScopes(context.labels, context.label_groups, context.label_relations)
        dictionary = NameDictionary.build(
            self.settings, context.kb, context.linker, sample, scopes, seed, counts
        )
        tagged = [
            SyntheticSentence(
                sentence=Sentence(
                    f"{sentence.sentence_id}#dictionary",
                    list(sentence.tokens),
                    spans,
                    sentence.doc_id,
                ),
                source_sentence_id=sentence.sentence_id,
                augmenter=self.name,
            )
            for sentence, spans in zip(pool, dictionary.tag(pool, counts), strict=True)
        ]
        if not self.keep_unmatched:
            tagged = [s for s in tagged if s.sentence.spans]
        counts["tagged_sentences"] = sum(bool(s.sentence.spans) for s in tagged)
        self._report_untagged_labels(context.labels, tagged, len(pool), counts)
        if self.max_sentences is not None and len(tagged) > self.max_sentences:
            kept = set(random.Random(seed).sample(range(len(tagged)), self.max_sentences))
            counts["capped_dropped"] = len(tagged) - len(kept)
            tagged = [s for index, s in enumerate(tagged) if index in kept]
        counts.setdefault("capped_dropped", 0)
        stats: dict[str, float | int] = {**describe_sentences(tagged), **counts}
        stats["pool_sentences"] = len(pool)
        return SyntheticSet(sentences=tagged, stats=stats)

    def _report_untagged_labels(
        self,
        labels: Sequence[str],
        tagged: Sequence[SyntheticSentence],
        pool_size: int,
        counts: Counter[str],
    ) -> None:
        """A label tagged nowhere is taught as O wherever it occurs in the tagged sentences,
        and nothing tagged at all leaves the run on the gold sample alone: each said at WARNING
        level with the fix (docs/generality_safety.md#distant-labels), counted as
        `labels_untagged` and `gold_only`."""
        found = {span.label for s in tagged for span in s.sentence.spans}
        counts["labels_untagged"] = sum(label not in found for label in labels)
        counts["gold_only"] = int(not found)
        if not found:
            log.warning(
                "%s: no KB name of any label occurs in the %d unlabelled sentences, so nothing "
                "is tagged: a training run trains on the gold sample alone (as "
                "augmenter=none). Fix: dataset.label_groups scopes that hold the labels' names "
                "(python -m hilgen.kb stats lists them), more unlabelled_text, or "
                "augmenter=hilgen",
                self.name,
                pool_size,
            )
            return
        for label in labels:
            if label not in found:
                log.warning(
                    "%s: label %r is tagged in none of the %d unlabelled sentences, so a "
                    "training run teaches its mentions there as O. Fix: a dataset.label_groups "
                    "scope that holds its names (python -m hilgen.kb stats lists them), or "
                    "augmenter=hilgen",
                    self.name,
                    label,
                    pool_size,
                )
