"""Taggers saved and loaded back tag exactly as before: BERT (linear and CRF heads), DANN
(fine-tuned, typed by its head, raw encoder) and an ensemble of exported members."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from hilgen.data.types import Document, Sentence
from hilgen.inference.documents import tokenise
from hilgen.inference.export import (
    ModelFormatError,
    export_ensemble,
    export_tagger,
    load_exported,
    read_card,
)
from hilgen.inference.tagger import DocumentTagger
from hilgen.models.base import Tagger, TrainingData
from hilgen.models.combine import Intersection, Union, Vote
from hilgen.models.ensemble_tagger import EnsembleTagger, rule_from_settings, rule_settings
from tests.conftest import CONF
from tests.helpers.toy_sentences import DEV, GOLD

LABELS = ["Chemical", "Disease"]


# a sentence longer than one 32-sub-token window: tagged through overlapping windows
LONG = Sentence("long", ("Cisplatin caused renal failure and deafness in children ." * 6).split())
UNSEEN = [
    Sentence("u1", ["Lithium", "toxicity", "caused", "tremor", "and", "confusion", "."]),
    Sentence("u2", ["Heparin", "induced", "thrombocytopenia", "in", "two", "patients", "."]),
    LONG,
]


def fitted(model: str, overrides: list[str], tmp_path: Path) -> Tagger:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"model={model}",
                "trainer.max_epochs=1",
                "trainer.min_epochs=1",
                "trainer.enable_progress_bar=false",
                "model.examples_per_epoch=2",
                "model.batch_size=2",
                "model.encoder.max_length=32",
                *overrides,
            ],
        )
    tagger: Tagger = instantiate(cfg.model, labels=LABELS)
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=tmp_path)
    tagger.fit(TrainingData(GOLD, [], DEV), make_trainer)
    return tagger


@pytest.mark.parametrize(
    ("model", "overrides"),
    [
        ("bert", []),
        ("bert", ["model.head=crf"]),
        ("dann", ["model.typing=classifier", "model.selection=classifier"]),
        ("dann", ["model.finetune=false", "model.outside_margins=[0.0,0.1]"]),
    ],
)
def test_an_exported_tagger_loads_back_and_tags_the_same(
    model: str, overrides: list[str], tmp_path: Path
) -> None:
    tagger = fitted(model, overrides, tmp_path)
    sentences = [*GOLD, *DEV, *UNSEEN]
    before = tagger.predict(sentences)
    card = export_tagger(tagger, tmp_path / "model", {"Disease": ["DISO"]}, "toy", {"run_id": "r"})
    assert card.kind == model and card.labels == LABELS
    assert card.label_groups == {"Chemical": [], "Disease": ["DISO"]}
    loaded, loaded_card = load_exported(tmp_path / "model")
    assert loaded_card == card
    assert type(loaded) is type(tagger)
    assert loaded.predict(sentences) == before
    assert len(before[-1]) == len(LONG.tokens)  # nothing cut from the long sentence


def test_an_ensemble_model_combines_its_members_by_the_chosen_rule(tmp_path: Path) -> None:
    members = [fitted("bert", [f"seed={seed}"], tmp_path / str(seed)) for seed in (1, 2)]
    directories = []
    for i, member in enumerate(members):
        export_tagger(member, tmp_path / f"m{i}", {}, "toy")
        directories.append(tmp_path / f"m{i}")
    export_dir = tmp_path / "ens"
    export_ensemble(export_dir, directories, Union(), [30.0, 10.0], {"run_id": "e"})
    ensemble, card = load_exported(export_dir)
    assert card.kind == "ensemble" and card.labels == LABELS and card.source == {"run_id": "e"}
    assert isinstance(ensemble, EnsembleTagger) and isinstance(ensemble.rule, Union)
    # the same rule over the members tagging on their own
    expected = EnsembleTagger(members, Union(), [30.0, 10.0]).predict(UNSEEN)
    assert ensemble.predict(UNSEEN) == expected


@pytest.mark.parametrize("rule", [Vote(), Union(), Intersection(), Intersection(2)])
def test_combination_rules_are_saved_with_their_settings(rule) -> None:
    restored = rule_from_settings(rule_settings(rule))
    assert type(restored) is type(rule) and restored.describe() == rule.describe()


def test_a_directory_without_a_model_card_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="no hilgen_model.json"):
        read_card(tmp_path)
    (tmp_path / "hilgen_model.json").write_text('{"kind": "svm", "labels": []}')
    with pytest.raises(ModelFormatError, match="unknown tagger kind 'svm'"):
        read_card(tmp_path)


def test_document_tagger_entities_match_the_text_they_point_into(tmp_path: Path) -> None:
    tagger = fitted("bert", [], tmp_path)
    export_tagger(tagger, tmp_path / "model", {}, "toy")
    document_tagger = DocumentTagger.load(tmp_path / "model")
    texts = ["Patients with breast cancer received tamoxifen daily.", "", "Aspirin (ASA)."]
    records = document_tagger.tag(texts)
    assert [r["id"] for r in records] == ["0", "1", "2"]
    assert records[1]["entities"] == []
    for record, text in zip(records, texts, strict=True):
        assert record["text"] == text
        for entity in record["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]
            assert entity["label"] in LABELS
    # the same tags as the tagger gives the tokenised sentences itself
    document = tokenise(Document("0", texts[0]))
    assert [t.tags for t in document_tagger.tag_documents([document])] == [
        tagger.predict(document.sentences)
    ]
