"""A fitted tagger as a self-contained directory, and back.

The directory holds the tagger's own files (`Tagger.export`: encoder weights and tokenizer,
head, decoding settings, DANN's support vectors) and `hilgen_model.json`, the model card: which
tagger class reads the files, its labels, the semantic groups each label links to, and where
it was trained. Nothing in it refers to the training data, so it tags text on any machine with
hilgen installed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hilgen.errors import UserError
from hilgen.models.base import Tagger
from hilgen.models.combine import CombinationRule
from hilgen.models.ensemble_tagger import MEMBER_KINDS, EnsembleTagger

CARD_FILE = "hilgen_model.json"
# The taggers that can be exported, by the name the card keeps.
TAGGER_KINDS: dict[str, type[Tagger]] = {**MEMBER_KINDS, "ensemble": EnsembleTagger}


@dataclass
class ModelCard:
    """What a model's user needs beside its weights. `label_groups` are the KB semantic
    groups an entity of each label is linked within (`link=true`)."""

    kind: str
    labels: list[str]
    label_groups: dict[str, list[str]] = field(default_factory=dict)
    dataset: str = ""
    source: dict[str, str] = field(default_factory=dict)  # run id, git commit, ...


class ModelFormatError(UserError, ValueError):
    """A directory is not an exported hilgen model (or one this version cannot read)."""


def kind_of(tagger: Tagger) -> str | None:
    """The card's name for the tagger's class; None when it cannot be exported."""
    return next((k for k, cls in TAGGER_KINDS.items() if type(tagger) is cls), None)


def export_tagger(
    tagger: Tagger,
    directory: Path,
    label_groups: dict[str, list[str]],
    dataset: str = "",
    source: dict[str, str] | None = None,
) -> ModelCard:
    """Write `tagger` and its card into `directory` (created; should be empty)."""
    kind = kind_of(tagger)
    if kind is None:
        raise NotImplementedError(f"{type(tagger).__name__} cannot be exported")
    directory.mkdir(parents=True, exist_ok=True)
    tagger.export(directory)
    card = ModelCard(
        kind,
        list(tagger.labels),
        {label: list(label_groups.get(label, [])) for label in tagger.labels},
        dataset,
        dict(source or {}),
    )
    (directory / CARD_FILE).write_text(json.dumps(asdict(card), indent=2) + "\n")
    return card


def export_ensemble(
    directory: Path,
    member_directories: list[Path],
    rule: CombinationRule,
    weights: list[float],
    source: dict[str, str] | None = None,
    member_sources: list[dict[str, str]] | None = None,
) -> ModelCard:
    """An ensemble model in `directory` from its members' exported directories (copied in),
    the combination rule chosen on dev and the members' weights."""
    cards = [read_card(member) for member in member_directories]
    labels = list(dict.fromkeys(label for card in cards for label in card.labels))
    groups: dict[str, list[str]] = {}
    for card in cards:
        for label, label_groups in card.label_groups.items():
            groups.setdefault(label, label_groups)
    directory.mkdir(parents=True, exist_ok=True)
    EnsembleTagger.write(
        directory,
        member_directories,
        [card.kind for card in cards],
        rule,
        weights,
        member_sources or [],
    )
    card = ModelCard("ensemble", labels, groups, cards[0].dataset, dict(source or {}))
    (directory / CARD_FILE).write_text(json.dumps(asdict(card), indent=2) + "\n")
    return card


def read_card(directory: Path) -> ModelCard:
    path = directory / CARD_FILE
    if not path.is_file():
        raise ModelFormatError(
            f"{directory}: no {CARD_FILE}; not a tagger exported by hilgen (train one with "
            "train.py, which logs it as the run's model)"
        )
    card = ModelCard(**json.loads(path.read_text()))
    if card.kind not in TAGGER_KINDS:
        raise ModelFormatError(
            f"{path}: unknown tagger kind {card.kind!r}; expected one of {sorted(TAGGER_KINDS)} "
            "(a newer hilgen wrote it? upgrade hilgen)"
        )
    return card


def load_exported(directory: Path) -> tuple[Tagger, ModelCard]:
    """The tagger in `directory` and its card."""
    card = read_card(directory)
    tagger = TAGGER_KINDS[card.kind].from_export(directory)  # type: ignore[attr-defined]
    return tagger, card
