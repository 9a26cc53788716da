"""The name dictionary as the tagger: nothing trained (`model=dictionary`).

The KB names of each label's semantic groups (and, with `sample_names`, the sample's own
mention texts), matched longest first, short forms followed through their document, labels
chosen by the tree learnt on the sample (`hilgen.kb.name_dictionary`). It is the dictionary
that made the distant labels (`augmenter=kb_dictionary`, `experiment=best_distant`), with the
same settings, so its row says how far a tagger trained on those labels gets beyond them
(AutoNER's "dictionary match" row), and it is an ensemble member like any other run.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.utils import instantiate

from hilgen.data.iob import spans_to_tags
from hilgen.data.types import Sentence
from hilgen.errors import UserError
from hilgen.kb.name_dictionary import DictionarySettings, LabelScopes, NameDictionary
from hilgen.models.base import Tagger, TrainerFactory, TrainingData

log = logging.getLogger(__name__)


class DictionaryConfigError(UserError, ValueError):
    """model=dictionary has no dictionary settings or label scopes to build from."""


def dictionary_settings(augmenter: Mapping[str, Any]) -> tuple[DictionarySettings, int | None]:
    """The dictionary settings in an augmenter's config (kb_dictionary's own, or its part in a
    pooled augmenter such as hilgen_dictionary) and its `seed`."""
    parts = augmenter.get("parts") or {}
    for config in (augmenter, *parts.values()):
        if DictionarySettings.names() <= set(config):
            settings = {name: config[name] for name in DictionarySettings.names()}
            return DictionarySettings(**settings), config.get("seed")
    raise DictionaryConfigError(
        f"model=dictionary tags with the kb_dictionary augmenter's settings, and augmenter "
        f"{augmenter.get('name', '?')!r} has none: use augmenter=kb_dictionary or "
        "experiment=best_distant"
    )


class DictionaryTagger(Tagger):
    """Tags with the dictionary the KB and the gold sample make.

    `kb` and `linker` are configs (conf/model/dictionary.yaml sets ``_recursive_: false``),
    opened on `fit`; `augmenter` is the run's augmenter config, whose dictionary settings are
    used; `seed` is the run's (the augmenter's own `seed`, when set, wins, as in the labels).
    `examples_per_epoch` is accepted so that experiments giving every model a training length
    (experiment=best_distant) compose with this one; nothing is trained.
    """

    trains = False

    def __init__(
        self,
        labels: Sequence[str],
        kb: Mapping[str, Any],
        linker: Mapping[str, Any],
        augmenter: Mapping[str, Any],
        seed: int = 0,
        examples_per_epoch: int | None = None,
    ) -> None:
        del examples_per_epoch  # nothing is trained
        self.labels = list(labels)
        self.settings, own_seed = dictionary_settings(augmenter)
        self.seed = seed if own_seed is None else own_seed
        self._kb_config = kb
        self._linker_config = linker
        self._dictionary: NameDictionary | None = None
        self.prediction_stats: Counter[str] = Counter()

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        """Build the dictionary from the KB and the gold sample; synthetic sentences are not
        read (they were tagged by this same dictionary)."""
        if not data.label_groups:
            raise DictionaryConfigError(
                "model=dictionary needs each label's semantic groups, which the run resolves "
                "when its augmenter reads the KB: use augmenter=kb_dictionary or "
                "experiment=best_distant"
            )
        kb = instantiate(self._kb_config)
        linker = instantiate(self._linker_config, kb=kb)
        scopes = LabelScopes(self.labels, data.label_groups, data.label_relations)
        counts: Counter[str] = Counter()
        self._dictionary = NameDictionary.build(
            self.settings, kb, linker, data.gold, scopes, self.seed, counts
        )
        return dict(counts)

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        if self._dictionary is None:
            raise RuntimeError("DictionaryTagger.predict before fit")
        counts: Counter[str] = Counter(sentences=len(sentences))
        found = self._dictionary.tag(sentences, counts)
        counts["entities"] = sum(len(spans) for spans in found)
        self.prediction_stats += counts
        return [
            spans_to_tags(len(s.tokens), spans) for s, spans in zip(sentences, found, strict=True)
        ]
