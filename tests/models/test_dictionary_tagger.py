"""model=dictionary: the name dictionary as a tagger, fitted from the real configs on the
fixture KB, exported without the sample's sentences and loaded back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from hilgen.inference.export import export_ensemble, export_tagger, kind_of, load_exported
from hilgen.kb.name_dictionary import TREE_FEATURES_VERSION
from hilgen.models.base import TrainingData
from hilgen.models.combine import Intersection
from hilgen.models.dictionary_tagger import (
    DictionaryConfigError,
    DictionaryKBError,
    DictionaryTagger,
)
from hilgen.models.ensemble_tagger import EnsembleTagger
from tests.augment.test_substitution import breast_lithium
from tests.conftest import CONF
from tests.helpers.kb_fixture import LABEL_GROUPS

KB = {"_target_": "tests.helpers.kb_fixture.demo_kb"}
LINKER = {"_target_": "tests.helpers.kb_fixture.FixtureLinker"}
LABELS = ["Disease", "Chemical"]
TEXT = [
    Sentence("t:0", tokenize("Lung cancer ( LC ) was treated with lithium carbonate ."), [], "t"),
    Sentence("t:1", tokenize("LC recurred ."), [], "t"),
    Sentence("u:0", tokenize("LC is a word here ."), [], "u"),
]


def augmenter_config(name: str) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"augmenter={name}"])
    return dict(cfg.augmenter)


def fitted(augmenter: str = "kb_dictionary") -> DictionaryTagger:
    tagger = DictionaryTagger(LABELS, KB, LINKER, augmenter_config(augmenter), seed=1)
    summary = tagger.fit(TrainingData([breast_lithium()], label_groups=LABEL_GROUPS), None)
    assert summary["dictionary/names"] > 0
    return tagger


def test_the_dictionary_tags_names_and_the_short_forms_their_document_defines() -> None:
    tagger = fitted()
    assert tagger.predict(TEXT) == [
        ["B-Disease", "I-Disease", "O", "B-Disease", "O", "O", "O", "O"]
        + ["B-Chemical", "I-Chemical", "O"],
        ["B-Disease", "O", "O"],
        ["O"] * 6,  # another document defines no LC
    ]
    assert tagger.prediction_stats["entities"] == 4
    assert not tagger.trains


def test_an_exported_dictionary_tags_the_same_and_keeps_no_sample_sentence(
    tmp_path: Path,
) -> None:
    tagger = fitted("hilgen_dictionary")  # the dictionary part of a pooled augmenter
    assert kind_of(tagger) == "dictionary"
    export_tagger(tagger, tmp_path / "model", LABEL_GROUPS, "fixture")
    stored = (tmp_path / "model" / DictionaryTagger.EXPORT_FILE).read_text()
    assert "Women with" not in stored and "treated" not in stored
    loaded, card = load_exported(tmp_path / "model")
    assert card.kind == "dictionary" and card.labels == LABELS
    assert loaded.predict(TEXT) == tagger.predict(TEXT)

    settings = json.loads(stored)
    del settings["settings"]["coordinations"]  # an export from before the setting existed
    (tmp_path / "model" / DictionaryTagger.EXPORT_FILE).write_text(json.dumps(settings))
    assert DictionaryTagger.from_export(tmp_path / "model").predict(TEXT) == tagger.predict(TEXT)
    settings["kb"]["version"] = "another-kb"
    (tmp_path / "model" / DictionaryTagger.EXPORT_FILE).write_text(json.dumps(settings))
    with pytest.raises(DictionaryKBError, match="built from the knowledge base another-kb"):
        DictionaryTagger.from_export(tmp_path / "model")
    # a KB that is not there is named with the command that builds it, and never built unasked
    settings["kb"]["config"] = {
        "_target_": "hilgen.kb.open_builder.load_open_kb",
        "data_dir": str(tmp_path / "elsewhere"),
        "build_if_missing": True,
    }
    (tmp_path / "model" / DictionaryTagger.EXPORT_FILE).write_text(json.dumps(settings))
    with pytest.raises(DictionaryKBError, match="python -m hilgen.kb build --data-dir"):
        DictionaryTagger.from_export(tmp_path / "model")
    assert not (tmp_path / "elsewhere").exists()


def test_a_label_tree_learnt_on_older_mention_features_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An export keeps the tree's training features, not the sentences they came from, so a
    tree learnt on features computed another way cannot be relearnt: loading says so, where
    labels share a group (the tree is used) and the export predates the features' version."""
    export_tagger(fitted(), tmp_path / "model", LABEL_GROUPS, "fixture")
    path = tmp_path / "model" / DictionaryTagger.EXPORT_FILE
    settings = json.loads(path.read_text())
    assert settings["evidence"]["tree_features_version"] == TREE_FEATURES_VERSION
    del settings["evidence"]["tree_features_version"]  # an export from before the field
    path.write_text(json.dumps(settings))
    DictionaryTagger.from_export(tmp_path / "model")
    assert "older version" not in caplog.text  # one label per group: no tree to type with
    settings["evidence"]["tree_features"] = [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
    settings["evidence"]["tree_labels"] = ["Disease", "Modifier"]
    path.write_text(json.dumps(settings))
    DictionaryTagger.from_export(tmp_path / "model")
    assert "label tree was learnt on mention features of an older version" in caplog.text


def test_label_scopes_auto_are_chosen_from_the_sample() -> None:
    """No augmenter resolves the scopes for a model that trains on no synthetic sentences:
    `auto` is chosen from the sample here, as the augmenters choose it."""
    tagger = DictionaryTagger(LABELS, KB, LINKER, augmenter_config("kb_dictionary"), seed=1)
    tagger.fit(TrainingData([breast_lithium()], label_groups="auto"), None)
    assert tagger.predict(TEXT) == fitted().predict(TEXT)


def test_without_dictionary_settings_or_label_scopes_it_says_what_to_use() -> None:
    with pytest.raises(DictionaryConfigError, match="use augmenter=kb_dictionary"):
        DictionaryTagger(LABELS, KB, LINKER, augmenter_config("umls_synonyms"))
    tagger = DictionaryTagger(LABELS, KB, LINKER, augmenter_config("kb_dictionary"))
    with pytest.raises(ValueError, match="no label has semantic groups"):
        tagger.fit(TrainingData([Sentence("s", ["x"], [Span(0, 1, "Disease")])]), None)


def test_an_ensemble_model_may_hold_dictionaries(tmp_path: Path) -> None:
    """ensemble.py logs an ensemble of a dictionary run and another run as one model."""
    members = [fitted(), fitted("hilgen_dictionary")]
    for index, member in enumerate(members):
        export_tagger(member, tmp_path / f"m{index}", LABEL_GROUPS, "fixture")
    export_ensemble(
        tmp_path / "ensemble", [tmp_path / "m0", tmp_path / "m1"], Intersection(), [1.0, 1.0]
    )
    loaded, card = load_exported(tmp_path / "ensemble")
    assert card.kind == "ensemble" and isinstance(loaded, EnsembleTagger)
    expected = EnsembleTagger(members, Intersection(), [1.0, 1.0]).predict(TEXT)
    assert loaded.predict(TEXT) == expected == members[0].predict(TEXT)
