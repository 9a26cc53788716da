"""An ensemble run as a model: its members' exported taggers and the rule chosen on dev.

`ensemble.py` chooses, from dev predictions, which runs to combine and how (vote, union,
intersection); this tagger applies that choice to new text. Every member tags the sentences,
then `CombinationRule.combine` (the ensemble stage's own code) keeps the spans the rule accepts,
weighted by the members' dev F1, so the result is always flat, valid IOB2.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hilgen.data.iob import OUTSIDE
from hilgen.data.types import Sentence, TaggedPrediction
from hilgen.models.base import Tagger, TrainerFactory, TrainingData
from hilgen.models.bert_tagger import BertTagger
from hilgen.models.combine import CombinationRule, Intersection, Union, Vote
from hilgen.models.dann import DannTagger
from hilgen.models.dictionary_tagger import DictionaryTagger

ENSEMBLE_FILE = "ensemble.json"
MEMBER_KINDS: dict[str, type[Tagger]] = {
    "bert": BertTagger,
    "dann": DannTagger,
    "dictionary": DictionaryTagger,
}


def rule_settings(rule: CombinationRule) -> dict[str, Any]:
    return {"rule": rule.name, "min_agree": getattr(rule, "min_agree", None)}


def rule_from_settings(settings: dict[str, Any]) -> CombinationRule:
    name = settings["rule"]
    if name == "intersection":
        return Intersection(settings.get("min_agree"))
    rules: dict[str, type[CombinationRule]] = {"vote": Vote, "union": Union}
    if name not in rules:
        raise ValueError(f"unknown combination rule {name!r}; expected vote, union, intersection")
    return rules[name]()


class EnsembleTagger(Tagger):
    """Fitted member taggers whose span predictions `rule` combines with `weights`."""

    def __init__(
        self, members: Sequence[Tagger], rule: CombinationRule, weights: Sequence[float]
    ) -> None:
        if not members or len(members) != len(weights):
            raise ValueError(f"{len(members)} members and {len(weights)} weights")
        self.members = list(members)
        self.rule = rule
        self.weights = list(weights)
        self.labels = list(dict.fromkeys(label for m in members for label in m.labels))

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        raise NotImplementedError("an ensemble combines fitted taggers; train its members")

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        by_member = [
            [
                TaggedPrediction(s.sentence_id, s.tokens, [OUTSIDE] * len(s.tokens), tags)
                for s, tags in zip(sentences, member.predict(sentences), strict=True)
            ]
            for member in self.members
        ]
        return [p.predicted for p in self.rule.combine(by_member, self.weights)]

    def close(self) -> None:
        for member in self.members:
            member.close()

    @staticmethod
    def write(
        directory: Path,
        member_directories: Sequence[Path],
        member_kinds: Sequence[str],
        rule: CombinationRule,
        weights: Sequence[float],
        member_sources: Sequence[dict[str, str]] = (),
    ) -> None:
        """An ensemble model from its members' exported directories (copied in)."""
        members = []
        for i, (source, kind) in enumerate(zip(member_directories, member_kinds, strict=True)):
            if kind not in MEMBER_KINDS:
                raise ValueError(f"member {source}: a {kind!r} tagger cannot join an ensemble")
            shutil.copytree(source, directory / f"member_{i}")
            origin = member_sources[i] if i < len(member_sources) else {}
            members.append({"directory": f"member_{i}", "kind": kind, **origin})
        settings = rule_settings(rule) | {"weights": list(weights), "members": members}
        (directory / ENSEMBLE_FILE).write_text(json.dumps(settings, indent=2) + "\n")

    @classmethod
    def from_export(cls, directory: Path) -> EnsembleTagger:
        settings = json.loads((directory / ENSEMBLE_FILE).read_text())
        members = [
            MEMBER_KINDS[m["kind"]].from_export(directory / m["directory"])  # type: ignore[attr-defined]
            for m in settings["members"]
        ]
        return cls(members, rule_from_settings(settings), settings["weights"])
