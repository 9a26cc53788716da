"""The name dictionary as the tagger: nothing trained (`model=dictionary`).

The KB names of each label's semantic groups (and, with `sample_names`, the sample's own
mention texts), matched longest first, short forms followed through their document, labels
chosen by the tree learnt on the sample (`hilgen.kb.name_dictionary`). It is the dictionary
that made the distant labels (`augmenter=kb_dictionary`, `experiment=best_distant`), with the
same settings, so its row says how far a tagger trained on those labels gets beyond them
(AutoNER's "dictionary match" row), and it is an ensemble member like any other run.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hilgen.data.iob import spans_to_tags
from hilgen.data.types import Sentence
from hilgen.errors import UserError
from hilgen.kb.base import KnowledgeBase
from hilgen.kb.label_groups import resolve_label_groups
from hilgen.kb.name_dictionary import (
    DictionarySettings,
    LabelScopes,
    NameDictionary,
    SampleEvidence,
)
from hilgen.models.base import Tagger, TrainerFactory, TrainingData

log = logging.getLogger(__name__)

# The keys of conf/kb configs that name directories.
KB_DIRECTORIES = ("data_dir", "meta_dir")


class DictionaryConfigError(UserError, ValueError):
    """model=dictionary has no dictionary settings to build from."""


class DictionaryKBError(UserError, RuntimeError):
    """An exported dictionary cannot open the knowledge base it was built from."""


# What marks an augmenter config as a name dictionary's (kb_dictionary.yaml holds them all).
_DICTIONARY_KEYS = frozenset({"min_name_letters", "max_name_tokens", "tree_depth"})


def dictionary_settings(augmenter: Mapping[str, Any]) -> tuple[DictionarySettings, int | None]:
    """The dictionary settings in an augmenter's config (kb_dictionary's own, or its part in a
    pooled augmenter such as hilgen_dictionary) and its `seed`; a setting it does not name
    (an export from before the setting existed) takes `DictionarySettings`'s default."""
    parts = augmenter.get("parts") or {}
    for config in (augmenter, *parts.values()):
        if set(config) >= _DICTIONARY_KEYS:
            names = DictionarySettings.names() & set(config)
            return DictionarySettings(**{name: config[name] for name in names}), config.get("seed")
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
        self._scopes: LabelScopes | None = None
        self._kb_version = ""
        self.prediction_stats: Counter[str] = Counter()

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        """Build the dictionary from the KB and the gold sample (`auto` label scopes chosen
        from the sample, as the augmenters choose them); no synthetic sentence is read."""
        kb: KnowledgeBase = instantiate(self._kb_config)
        linker = instantiate(self._linker_config, kb=kb)
        resolved = resolve_label_groups(data.label_groups, self.labels, data.gold, kb, linker)
        for line in resolved.choices:
            log.info(line)
        for line in resolved.warnings:
            log.warning(line)
        self._scopes = LabelScopes(
            self.labels,
            resolved.groups,
            {label: list(kept) for label, kept in data.label_relations.items()},
        )
        counts: Counter[str] = Counter()
        self._dictionary = NameDictionary.build(
            self.settings, kb, linker, data.gold, self._scopes, self.seed, counts
        )
        self._kb_version = kb.version
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

    EXPORT_FILE = "dictionary.json"

    def export(self, directory: Path) -> None:
        """`dictionary.json`: the settings, the label scopes, what the sample gave (mention
        texts, linked concepts, the label tree's mentions; never its sentences) and the KB's
        config (its directories absolute) and version. The KB itself is not copied: loading
        opens it where it was, and says how to build it where it is missing."""
        if self._dictionary is None or self._scopes is None:
            raise RuntimeError("DictionaryTagger.export before fit")
        kb_config = self._kb_config
        if isinstance(kb_config, DictConfig):
            kb_config = OmegaConf.to_container(kb_config, resolve=True)
        kb_config = {  # the KB's directories as absolute paths: loading may run elsewhere
            key: str(Path(value).resolve()) if key in KB_DIRECTORIES and value else value
            for key, value in dict(kb_config).items()
        }
        settings = {
            "labels": self.labels,
            "settings": self.settings.to_json(),
            "seed": self.seed,
            "label_groups": self._scopes.groups,
            "label_relations": self._scopes.relations,
            "evidence": self._dictionary.evidence.to_json(),
            "kb": {"config": kb_config, "version": self._kb_version},
        }
        (directory / self.EXPORT_FILE).write_text(json.dumps(settings, indent=2) + "\n")

    @classmethod
    def from_export(cls, directory: Path) -> DictionaryTagger:
        """The dictionary `export` wrote, built again from the same KB (same version)."""
        stored = json.loads((directory / cls.EXPORT_FILE).read_text())
        kb_config, version = stored["kb"]["config"], stored["kb"]["version"]
        tagger = cls(stored["labels"], kb_config, {}, stored["settings"], stored["seed"])
        if "build_if_missing" in kb_config:  # loading a model never builds a KB unasked
            kb_config = {**kb_config, "build_if_missing": False}
        try:
            kb: KnowledgeBase = instantiate(kb_config)
        except InstantiationException as error:
            if not isinstance(error.__cause__, UserError | OSError):
                raise
            raise DictionaryKBError(
                f"{directory}: this dictionary model tags with the knowledge base {version}: "
                f"{error.__cause__}"
            ) from None
        if kb.version != version:
            raise DictionaryKBError(
                f"{directory}: this dictionary model was built from the knowledge base {version}, "
                f"but {kb_config} opens {kb.version}; build {version} (python -m hilgen.kb "
                "build) or train the model again"
            )
        tagger._scopes = LabelScopes(
            stored["labels"], stored["label_groups"], stored["label_relations"]
        )
        tagger._kb_version = version
        evidence = SampleEvidence.from_json(stored["evidence"])
        if evidence.tree_features_outdated:
            log.warning(
                "%s: this dictionary model's label tree was learnt on mention features of an "
                "older version, so mentions whose labels share a semantic group may be typed "
                "differently from the run that exported it; train the model again to refresh it",
                directory,
            )
        tagger._dictionary = NameDictionary(
            tagger.settings, kb, tagger._scopes, evidence, tagger.seed
        )
        return tagger
