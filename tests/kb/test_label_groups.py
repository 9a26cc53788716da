"""Label scopes: groups, TUIs and type names, `auto` from the sample, negatives, bad input."""

from __future__ import annotations

import logging

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from hilgen import pipeline
from hilgen.data.types import Sentence, Span
from hilgen.errors import UserError
from hilgen.kb.base import Concept
from hilgen.kb.label_groups import (
    LabelGroupsError,
    canonical_scope,
    configured_scopes,
    negative_names,
    negative_scope,
    resolve_label_groups,
)
from hilgen.kb.semantic_groups import concept_in_scope, groups_of_scope
from tests.conftest import CONF
from tests.helpers.kb_fixture import FixtureLinker, InMemoryKB, demo_kb


def sample() -> list[Sentence]:
    return [
        Sentence("s1", ["Lithium", "and", "breast", "cancer", "."], [
            Span(0, 1, "Chemical"), Span(2, 4, "Disease")]),
        Sentence("s2", ["Sodium", ",", "valproate", "and", "lung", "cancer"], [
            Span(0, 1, "Chemical"), Span(2, 3, "Chemical"), Span(4, 6, "Disease")]),
        Sentence("s3", ["BRCA1", "in", "a", "common", "cold"], [
            Span(0, 1, "Gene"), Span(3, 5, "Disease")]),
    ]  # fmt: skip


def resolve(spec, labels=("Chemical", "Disease", "Gene")):
    kb = demo_kb()
    return resolve_label_groups(spec, list(labels), sample(), kb, FixtureLinker(kb))


def test_groups_tuis_and_type_names_are_one_vocabulary() -> None:
    assert canonical_scope("Species", ["livb", "T204", "Bacterium", "eukaryote"]) == [
        "LIVB", "T204", "T007"]  # fmt: skip
    assert canonical_scope("Disease", "DISO") == ["DISO"]
    assert groups_of_scope(["T204", "DISO", "T116"]) == ["LIVB", "DISO", "CHEM"]
    kb = demo_kb()
    lithium, valproate = kb.concept("MESH:D008094"), kb.concept("MESH:D014635")
    assert concept_in_scope(lithium, ["T196"]) and not concept_in_scope(valproate, ["T196"])
    assert concept_in_scope(valproate, ["CHEM"])
    typed = {c.preferred_name for c in kb.sample_concepts(["T109"], 10)}
    assert typed == {"Selegiline", "Valproic Acid"}


def test_unknown_name_is_one_message_naming_the_label_and_the_fix() -> None:
    with pytest.raises(LabelGroupsError) as raised:
        resolve({"Chemical": ["CHEM"], "Disease": ["DISO"], "Gene": ["GENES"]})
    message = str(raised.value)
    assert "label 'Gene'" in message and "'GENES'" in message
    assert "Did you mean 'GENE'?" in message and "dataset.label_groups={Gene:[GENE]}" in message
    assert "{Gene:auto}" in message
    with pytest.raises(LabelGroupsError, match="give a mapping"):
        resolve("everything")


def test_auto_takes_the_types_of_linked_sample_mentions() -> None:
    resolved = resolve({"Chemical": "auto", "Disease": ["DISO"], "Gene": ["GENE"]})
    # Lithium and Sodium are T196, valproate T109: both reach the 20% share.
    assert resolved.groups == {"Chemical": ["T196", "T109"], "Disease": ["DISO"], "Gene": ["GENE"]}
    assert "Chemical -> [T196, T109]" in resolved.choices[0]
    assert "T196 Element, Ion, or Isotope (2)" in resolved.choices[0]
    assert resolved.choices[-1] == (
        "label_groups auto: pin it with dataset.label_groups="
        "{Chemical:[T196,T109],Disease:[DISO],Gene:[GENE]}"
    )
    whole = resolve("auto")
    assert set(whole.groups) == {"Chemical", "Disease", "Gene"}
    assert whole.groups["Gene"] == ["T116"]


def test_auto_with_no_linked_mention_is_an_error() -> None:
    kb = demo_kb()
    unlinked = [Sentence("x", ["XYZ9"], [Span(0, 1, "Gene")])]
    with pytest.raises(LabelGroupsError, match="label 'Gene' is auto, but none of its 1"):
        resolve_label_groups({"Gene": "auto"}, ["Gene"], unlinked, kb, FixtureLinker(kb))


def test_a_warning_names_the_label_whose_scope_holds_no_concept() -> None:
    resolved = resolve({"Chemical": ["CHEM"], "Disease": ["DISO"], "Gene": ["T005"]})
    assert len(resolved.warnings) == 1
    assert "label 'Gene'" in resolved.warnings[0] and "T005 Virus" in resolved.warnings[0]
    assert "holds no concept" in resolved.warnings[0]
    # a scope its mentions miss is the substitution gate's to report (one warning, not two)
    assert resolve({"Chemical": ["CHEM"], "Disease": ["DISO"], "Gene": ["PHEN"]}).warnings == []
    assert resolve({"Chemical": ["CHEM"], "Disease": ["DISO"], "Gene": ["GENE"]}).warnings == []


def test_negative_groups_drop_whatever_a_label_covers() -> None:
    default = ["ANAT", "CHEM", "GENE", "PHYS", "PROC"]
    assert negative_scope(default, {"Disease": ["DISO"]}) == default
    assert negative_scope(default, {"Chemical": ["CHEM"]}) == ["ANAT", "GENE", "PHYS", "PROC"]
    # A type of a group removes the group; a group removes its types.
    assert negative_scope(default, {"Protein": ["T116"]}) == ["ANAT", "GENE", "PHYS", "PROC"]
    assert negative_scope(["T116", "T045", "ANAT"], {"Gene": ["CHEM"]}) == ["T045", "ANAT"]
    with pytest.raises(LabelGroupsError, match="augmenter.negatives.groups"):
        negative_scope(["NOPE"], {})
    kb = demo_kb()
    names = {
        name
        for name, _ in negative_names(
            kb, default, {"Disease": ["DISO"]}, pool_size=50, seed=0, short_forms=True
        )
    }
    assert "Missense Mutation" in names and "Lithium" in names
    assert "Breast Neoplasms" not in names
    gene_only = negative_names(
        kb, ["T116", "T045"], {"Disease": ["DISO"]}, pool_size=50, seed=0, short_forms=True
    )
    assert {name for name, _ in gene_only} == {"BRCA1 Protein", "Missense Mutation"}


def test_negatives_without_short_forms_are_written_out() -> None:
    genes = [
        Concept("HGNC:6176", "ITPA", ("inosine triphosphatase",), ("T028",), "GENE", {}, "hgnc"),
        Concept("HGNC:1", "TGDS", ("TGDS1",), ("T028",), "GENE", {}, "hgnc"),  # no long name
        Concept("HGNC:2", "Elongin", ("ELOA",), ("T116",), "GENE", {}, "hgnc"),
    ]
    kb = InMemoryKB(genes)

    def names(short_forms: bool) -> set[str]:
        pool = negative_names(
            kb, ["GENE"], {"Disease": ["DISO"]}, pool_size=10, seed=0, short_forms=short_forms
        )
        return {name for name, _ in pool}

    assert names(True) == {"ITPA", "TGDS", "Elongin"}
    assert names(False) == {"inosine triphosphatase", "Elongin"}


def test_pipeline_logs_and_prints_the_auto_choice(
    capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    class Data:
        label_groups = {"Chemical": "auto", "Disease": ["DISO"], "Gene": ["T005"]}
        corpus = type("C", (), {"labels": ["Chemical", "Disease", "Gene"]})()
        sample = type("S", (), {"sentences": sample()})()

    kb = demo_kb()
    with caplog.at_level(logging.INFO):
        groups = pipeline.resolve_labels(Data(), kb, FixtureLinker(kb))  # type: ignore[arg-type]
    assert groups["Chemical"] == ["T196", "T109"]
    assert "label_groups auto: Chemical -> [T196, T109]" in capsys.readouterr().out
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "label 'Gene'" in warnings[0]


def test_conll_label_groups_override_needs_no_plus() -> None:
    paths = ["dataset=conll", "dataset.train=a", "dataset.dev=b", "dataset.test=c"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        pinned = compose("generate", overrides=[*paths, "dataset.label_groups={Species:[T204]}"])
        auto = compose("generate", overrides=[*paths, "dataset.label_groups=auto"])
    assert pinned.dataset.label_groups == {"Species": ["T204"]}
    assert auto.dataset.label_groups == "auto"


def test_pipeline_stops_on_a_bad_scope_with_the_message_alone() -> None:
    class Data:
        label_groups = {"Species": ["Eukaryotes"]}
        corpus = type("C", (), {"labels": ["Species"]})()
        sample = type("S", (), {"sentences": []})()

    kb = demo_kb()
    with pytest.raises(UserError) as stopped:
        pipeline.resolve_labels(Data(), kb, FixtureLinker(kb))  # type: ignore[arg-type]
    assert str(stopped.value).startswith("dataset.label_groups: label 'Species'")
    assert "Did you mean 'Eukaryote'?" in str(stopped.value)


def test_configured_scopes_need_no_kb_and_leave_auto_labels_unscoped() -> None:
    """What a model card stores when no augmenter resolved the scopes (augmenter=none)."""
    assert configured_scopes("auto", ["Species"]) == {"Species": []}
    spec = {"Species": "auto", "Disease": ["Eukaryote", "diso"]}
    assert configured_scopes(spec, ["Species", "Disease"]) == {
        "Species": [],
        "Disease": ["T204", "DISO"],
    }
