"""Distant supervision (augmenter=kb_dictionary) and pooled augmenters on hand-built KBs."""

from __future__ import annotations

import json
import logging

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import ListConfig

from hilgen.augment.base import AugmentContext, SyntheticSet
from hilgen.augment.combined import CombinedAugmenter
from hilgen.augment.dictionary import KBDictionaryAugmenter
from hilgen.augment.none import NoAugmenter
from hilgen.augment.substitution import KBSubstitutionAugmenter
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from hilgen.kb.base import Concept
from hilgen.kb.concept_gate import ConceptGate
from hilgen.kb.name_dictionary import DictionarySettings, mention_features
from tests.augment.test_substitution import breast_lithium
from tests.conftest import CONF
from tests.helpers.kb_fixture import LABEL_GROUPS, FixtureLinker, InMemoryKB, demo_kb

KB = demo_kb()


def unlabelled(sentence_id: str, text: str, doc_id: str = "") -> Sentence:
    return Sentence(sentence_id, tokenize(text), [], doc_id)


def context(pool: list[Sentence], kb: InMemoryKB = KB, **overrides: object) -> AugmentContext:
    values: dict[str, object] = {
        "kb": kb,
        "linker": FixtureLinker(kb),
        "labels": ["Disease", "Chemical"],
        "label_groups": LABEL_GROUPS,
        "unlabelled_sentences": pool,
        "seed": 1,
    }
    values.update(overrides)
    return AugmentContext(**values)  # type: ignore[arg-type]


def tagged(synthetic: SyntheticSet) -> dict[str, list[tuple[str, str]]]:
    """Source sentence -> (span text, label) of each tagged span."""
    return {
        s.source_sentence_id: [(s.sentence.span_text(x), x.label) for x in s.sentence.spans]
        for s in synthetic
    }


def test_names_are_tagged_longest_first_with_their_group_label() -> None:
    pool = [
        unlabelled("a:0", "Patients with lung cancer received lithium carbonate ."),
        unlabelled("a:1", "Nothing here is named ."),
    ]
    synthetic = KBDictionaryAugmenter().generate([], context(pool))
    assert tagged(synthetic) == {
        "a:0": [("lung cancer", "Disease"), ("lithium carbonate", "Chemical")]
    }
    (sentence,) = synthetic.sentences
    assert sentence.sentence.tokens == pool[0].tokens
    assert [x.concept_ids for x in sentence.sentence.spans] == [
        ("MESH:D008175",),
        ("MESH:D016651",),
    ]
    assert synthetic.stats["tagged_sentences"] == 1
    assert synthetic.stats["pool_sentences"] == 2


def test_a_label_tagged_nowhere_and_an_empty_set_are_warned_about(caplog) -> None:
    """Chemical occurs in no sentence: its mentions would be taught as O, so the run says so;
    with no name at all the run trains on the gold sample alone and says that."""
    pool = [unlabelled("w:0", "Patients with lung cancer were seen .")]
    with caplog.at_level(logging.WARNING):
        synthetic = KBDictionaryAugmenter().generate([], context(pool))
    assert synthetic.stats["labels_untagged"] == 1 and synthetic.stats["gold_only"] == 0
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "label 'Chemical' is tagged in none of the 1 unlabelled sentences" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        empty = KBDictionaryAugmenter().generate([], context([unlabelled("w:1", "Nothing .")]))
    assert len(empty) == 0 and empty.stats["gold_only"] == 1
    assert empty.stats["labels_untagged"] == 2
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "trains on the gold sample alone" in warning


def test_unmatched_sentences_are_kept_all_o_when_asked() -> None:
    pool = [
        unlabelled("u:0", "Patients with lung cancer were seen ."),
        unlabelled("u:1", "Nothing here is named ."),
    ]
    synthetic = KBDictionaryAugmenter(keep_unmatched=True).generate([], context(pool))
    assert tagged(synthetic) == {"u:0": [("lung cancer", "Disease")], "u:1": []}
    assert synthetic.stats["tagged_sentences"] == 1
    assert len(synthetic) == 2


def test_cross_group_short_and_excluded_names_stay_untagged() -> None:
    """ "cold" names a disease and a temperature; "Li" is a word-sized name written as a word;
    an excluded name is never matched."""
    pool = [
        unlabelled("b:0", "Cold weather and Li were noted with tumors ."),
        unlabelled("b:1", "Breast cancer was seen ."),
    ]
    augmenter = KBDictionaryAugmenter(exclude_names=["Breast Cancer"])
    synthetic = augmenter.generate([], context(pool))
    assert tagged(synthetic) == {"b:0": [("tumors", "Disease")]}
    assert synthetic.stats["dictionary/cross_group_names_dropped"] >= 1


def test_defined_short_forms_are_tagged_across_their_document_only() -> None:
    pool = [
        unlabelled("d1:0", "Lung cancer ( LC ) is common .", "d1"),
        unlabelled("d1:1", "Most LC patients smoke .", "d1"),
        unlabelled("d2:0", "The LC tests ran .", "d2"),
    ]
    synthetic = KBDictionaryAugmenter().generate([], context(pool))
    assert tagged(synthetic) == {
        "d1:0": [("Lung cancer", "Disease"), ("LC", "Disease")],
        "d1:1": [("LC", "Disease")],
    }
    assert synthetic.stats["dictionary/short_forms_defined"] == 1
    without = KBDictionaryAugmenter(short_forms=False).generate([], context(pool))
    assert tagged(without) == {"d1:0": [("Lung cancer", "Disease")]}


def test_a_short_form_ends_at_the_parenthesis_that_closes_its_own() -> None:
    """A formula with its own parentheses is no short form cut at the first ")"."""
    pool = [
        unlabelled("e:0", "Lithium carbonate ( LiCO ( 3 ) ) was given .", "e"),
        unlabelled("e:1", "LiCO ( 3 ) helps .", "e"),
    ]
    synthetic = KBDictionaryAugmenter().generate([], context(pool))
    assert tagged(synthetic) == {"e:0": [("Lithium carbonate", "Chemical")]}
    assert synthetic.stats["dictionary/short_forms_defined"] == 0


def test_kb_names_written_as_short_forms_are_matched_only_on_request() -> None:
    kb = InMemoryKB(
        [Concept("MESH:D005955", "G6PD Deficiency", ("G6PD",), ("T047",), "DISO", {}, "mesh")]
    )
    pool = [unlabelled("g:0", "G6PD activity was low in G6PD deficiency .")]
    default = KBDictionaryAugmenter().generate([], context(pool, kb))
    assert tagged(default) == {"g:0": [("G6PD deficiency", "Disease")]}
    on = KBDictionaryAugmenter(kb_short_forms=True).generate([], context(pool, kb))
    assert tagged(on) == {"g:0": [("G6PD", "Disease"), ("G6PD deficiency", "Disease")]}
    # A list allows the groups it names only.
    chemicals = KBDictionaryAugmenter(kb_short_forms=["CHEM"]).generate([], context(pool, kb))
    assert tagged(chemicals) == tagged(default)
    diseases = KBDictionaryAugmenter(kb_short_forms=["DISO"]).generate([], context(pool, kb))
    assert tagged(diseases) == tagged(on)


def test_test_sentences_are_never_tagged_and_the_cap_is_seeded() -> None:
    pool = [unlabelled(f"p:{i}", f"Case {i} had lung cancer .") for i in range(6)]
    test = [Sentence("t:0", list(pool[0].tokens))]
    capped = KBDictionaryAugmenter(max_sentences=3)
    first = capped.generate([], context(pool, test_sentences=test))
    again = capped.generate([], context(pool, test_sentences=test))
    assert "p:0" not in tagged(first)
    assert first.stats["leaked_dropped"] == 1
    assert len(first) == 3 and first.stats["capped_dropped"] == 2
    assert list(tagged(first)) == list(tagged(again))
    other_seed = capped.generate([], context(pool, test_sentences=test, seed=7))
    assert len(other_seed) == 3


def four_type_world() -> tuple[InMemoryKB, dict[str, list[str]], dict[str, list[str]]]:
    """NCBI-Disease's shape: four labels in one group; a class is a concept with children."""
    concepts = [
        Concept("MESH:D009369", "Neoplasms", ("Tumors", "Cancer"), ("T191",), "DISO", {}, "mesh"),
        Concept("MESH:D001943", "Breast Cancer", (), ("T191",), "DISO", {}, "mesh"),
        Concept("MESH:D008175", "Lung Cancer", (), ("T191",), "DISO", {}, "mesh"),
        Concept("MESH:D010051", "Ovarian Cancer", (), ("T191",), "DISO", {}, "mesh"),
        Concept("MESH:D012175", "Retinoblastoma", (), ("T191",), "DISO", {}, "mesh"),
    ]
    is_a = [(c.concept_id, "MESH:D009369") for c in concepts[1:]]
    labels = ["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"]
    groups = {label: ["DISO"] for label in labels}
    relations = {"CompositeMention": []}
    return InMemoryKB(concepts, is_a), groups, relations


def test_labels_sharing_a_group_are_chosen_by_a_tree_learnt_on_the_sample() -> None:
    kb, groups, relations = four_type_world()
    sample = [
        Sentence(
            "s:0",
            tokenize("Tumors and breast cancer are common ."),
            [Span(0, 1, "DiseaseClass"), Span(2, 4, "SpecificDisease")],
        ),
        Sentence("s:1", tokenize("The lung cancer gene ."), [Span(1, 3, "Modifier")]),
        Sentence("s:2", tokenize("Cancer is rare ."), [Span(0, 1, "DiseaseClass")]),
        Sentence("s:3", tokenize("Retinoblastoma is rare ."), [Span(0, 1, "SpecificDisease")]),
        Sentence("s:4", tokenize("Breast cancer patients ."), [Span(0, 2, "Modifier")]),
        Sentence("s:5", tokenize("Breast and lung cancer ."), [Span(0, 4, "CompositeMention")]),
    ]
    pool = [
        unlabelled("u:0", "Ovarian cancer caused pain ."),
        unlabelled("u:1", "Most tumors spread ."),
        unlabelled("u:2", "An ovarian cancer gene ."),
    ]
    ctx = context(pool, kb, labels=list(groups), label_groups=groups, label_relations=relations)
    synthetic = KBDictionaryAugmenter().generate(sample, ctx)
    assert tagged(synthetic) == {
        "u:0": [("Ovarian cancer", "SpecificDisease")],
        "u:1": [("tumors", "DiseaseClass")],
        "u:2": [("ovarian cancer", "Modifier")],
    }
    # the composite mention trains nothing: no single name may take its label
    assert synthetic.stats["label_tree_mentions"] == 6


def test_a_coordination_modifying_the_next_word_takes_the_trees_label() -> None:
    """NCBI-Disease tags "breast and ovarian cancer susceptibility" a Modifier, and "breast and
    ovarian cancer" alone a CompositeMention."""
    kb, groups, relations = four_type_world()
    sample = [
        Sentence("s:0", tokenize("Cancer is rare ."), [Span(0, 1, "DiseaseClass")]),
        Sentence("s:1", tokenize("Retinoblastoma is rare ."), [Span(0, 1, "SpecificDisease")]),
        Sentence("s:2", tokenize("Breast cancer patients ."), [Span(0, 2, "Modifier")]),
    ]
    pool = [
        unlabelled("u:0", "Breast and ovarian cancer were seen ."),
        unlabelled("u:1", "Breast and ovarian cancer susceptibility ."),
    ]
    ctx = context(pool, kb, labels=list(groups), label_groups=groups, label_relations=relations)
    synthetic = KBDictionaryAugmenter(coordinations=True).generate(sample, ctx)
    assert tagged(synthetic) == {
        "u:0": [("Breast and ovarian cancer", "CompositeMention")],
        "u:1": [("Breast and ovarian cancer", "Modifier")],
    }


def test_mention_features_read_the_kb_and_the_sentence() -> None:
    tokens = tokenize("DMD patients and tumors .")
    assert mention_features(tokens, 0, 1, children=0) == (0.0, 0.0, 1.0, 1.0)
    plural_class = mention_features(tokens, 3, 4, children=4)
    assert plural_class[1:] == (1.0, 0.0, 0.0) and plural_class[0] > 1.0


def test_the_word_after_a_mention_is_read_past_its_parenthesis() -> None:
    """A long form with its short form ("... ( APC ) gene"), and the short form inside it, both
    modify the noun after the parenthesis; a longer parenthesis is not read past."""
    tokens = tokenize("adenomatous polyposis coli ( APC ) gene , colitis ( in most of the cases )")
    content_after = [mention_features(tokens, s, e, children=0)[2] for s, e in [(0, 3), (4, 5)]]
    assert content_after == [1.0, 1.0]
    assert mention_features(tokens, 8, 9, children=0)[2] == 0.0


def test_a_mention_hyphenated_to_the_next_word_modifies_it() -> None:
    tokens = tokenize("anxiety - related responses and anxiety .")
    assert [mention_features(tokens, s, s + 1, children=0)[2] for s in (0, 5)] == [1.0, 0.0]


def test_bad_settings_and_missing_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="max_sentences"):
        KBDictionaryAugmenter(max_sentences=0)
    with pytest.raises(ValueError, match="got none"):
        KBDictionaryAugmenter().generate([], context([]))
    with pytest.raises(ValueError, match="knowledge base"):
        KBDictionaryAugmenter().generate([], context([unlabelled("x", "x")], kb=None))
    with pytest.raises(ValueError, match="label_groups"):
        KBDictionaryAugmenter().generate([], context([unlabelled("x", "x")], label_groups={}))


def test_combined_augmenter_pools_its_parts_and_keeps_their_stats() -> None:
    sample = [breast_lithium()]
    pool = [unlabelled("a:0", "Patients with lung cancer received lithium carbonate .")]
    substitution = KBSubstitutionAugmenter(name="umls_synonyms", relations=["synonym"])
    combined = CombinedAugmenter(
        {"substitution": substitution, "dictionary": KBDictionaryAugmenter(), "none": NoAugmenter()}
    )
    pooled = combined.generate(sample, context(pool))
    alone = substitution.generate(sample, context(pool))
    assert {s.augmenter for s in pooled} == {"umls_synonyms", "kb_dictionary"}
    assert len(pooled) == len(alone) + 1
    assert pooled.stats["sentences"] == len(pooled)
    assert pooled.stats["substitution/sentences"] == len(alone)
    assert pooled.stats["dictionary/dictionary/names"] > 0
    assert pooled.stats["leaked_dropped"] == 0
    with pytest.raises(ValueError, match="no parts"):
        CombinedAugmenter({})


def cleaning_kb() -> InMemoryKB:
    """Chemicals the way MeSH files them: proteins, a class of many, Calcium under both a
    protein branch and the metals; a disease name MeSH also gives a physiological function."""

    def chem(cid: str, name: str, *synonyms: str) -> Concept:
        return Concept(cid, name, synonyms, ("T109",), "CHEM", {}, "mesh")

    concepts = [
        chem("P", "Proteins"),
        chem("F", "Blood Coagulation Factors"),
        chem("PRL", "Prolactin"),
        chem("M", "Metals"),
        chem("CA", "Calcium"),
        chem("SALTS", "Sulfates", "Sulfate"),
        chem("S1", "Barium Sulfate"),
        chem("S2", "Zinc Sulfate"),
        chem("S3", "Calcium Sulfate"),
        chem("GM", "Gentamicins"),
        chem("NP", "Nitroprusside"),
        Concept("MAP", "Familial adenomatous polyposis 2", ("MAP",), ("T047",), "DISO"),
        Concept("MAPC", "Maps", (), ("T170",), "CONC"),
        Concept("HP:PAIN", "Pain", (), ("T184",), "DISO", {}, "hp"),
        Concept("MESH:PAIN", "Pain", (), ("T039",), "PHYS", {}, "mesh"),
        Concept("DEF", "Deficiency of glucose-6-phosphate dehydrogenase", (), ("T047",), "DISO"),
    ]
    is_a = [
        ("F", "P"),
        ("PRL", "P"),
        ("CA", "F"),
        ("CA", "M"),
        ("S1", "SALTS"),
        ("S2", "SALTS"),
        ("S3", "SALTS"),
    ]
    return InMemoryKB(concepts, is_a)


CLEANING = {
    "entity_groups": ["DISO", "CHEM"],
    "doubtful_branches": {"CHEM": ["P"]},
    "min_class_children": {"CHEM": 2},
    "number_variants": True,
    "short_kb_words": True,
}


def test_sample_vouches_for_doubtful_branches_and_classes() -> None:
    """Proteins and wide classes tag Chemical only when a sample chemical lies among them;
    Calcium, also a metal, is never only a protein."""
    kb = cleaning_kb()
    pool = [unlabelled("c:0", "Prolactin , calcium and sulfates rose .")]
    plain = KBDictionaryAugmenter().generate([], context(pool, kb))
    assert tagged(plain)["c:0"] == [
        ("Prolactin", "Chemical"),
        ("calcium", "Chemical"),
        ("sulfates", "Chemical"),
    ]
    cleaned = KBDictionaryAugmenter(**CLEANING).generate([], context(pool, kb))
    assert tagged(cleaned)["c:0"] == [("calcium", "Chemical")]
    # A sample mention of a protein and one of a class of three vouch for both.
    tokens = ["Prolactin", "and", "sulfates"]
    spans = [Span(0, 1, "Chemical", ("PRL",)), Span(2, 3, "Chemical", ("SALTS",))]
    sample = [Sentence("s:0", tokens, spans)]
    vouched = KBDictionaryAugmenter(**CLEANING).generate(sample, context(pool, kb))
    assert tagged(vouched)["c:0"] == tagged(plain)["c:0"]


def test_best_distant_leaves_chebi_roles_groups_and_particles_untagged() -> None:
    """The shipped experiment=best_distant blocks ChEBI's functional classes, molecule parts
    and particles, which ChEBI files as chemical entities but chemical corpora never tag."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=best_distant"])
    concepts = [
        Concept(cid, name, (), ("T103",), "CHEM", {}, "chebi")
        for cid, name in [
            ("CHEBI:50906", "role"),
            ("CHEBI:24432", "biological role"),
            ("CHEBI:35222", "inhibitor"),
            ("CHEBI:24433", "group"),
            ("CHEBI:36342", "subatomic particle"),
            ("CHEBI:10545", "electron"),
            ("CHEBI:27899", "cisplatin"),
        ]
    ]
    is_a = [
        ("CHEBI:24432", "CHEBI:50906"),
        ("CHEBI:35222", "CHEBI:24432"),
        ("CHEBI:10545", "CHEBI:36342"),
    ]
    kb = InMemoryKB(concepts, is_a)
    pool = [unlabelled("r:0", "An inhibitor of each group lost an electron , unlike cisplatin .")]
    plain = KBDictionaryAugmenter().generate([], context(pool, kb))
    assert [text for text, _ in tagged(plain)["r:0"]] == [
        "inhibitor",
        "group",
        "electron",
        "cisplatin",
    ]
    best = instantiate(cfg.augmenter).generate([], context(pool, kb))
    assert tagged(best)["r:0"] == [("cisplatin", "Chemical")]


def test_entity_groups_number_variants_short_words_and_sample_names() -> None:
    kb = cleaning_kb()
    pool = [unlabelled("e:0", "Pain after gentamicin and maps of renal toxicity .")]
    assert tagged(KBDictionaryAugmenter().generate([], context(pool, kb))) == {}
    sample = [Sentence("s:0", ["toxicity", "."], [Span(0, 1, "Disease")])]
    augmenter = KBDictionaryAugmenter(**CLEANING, sample_names=True)
    synthetic = augmenter.generate(sample, context(pool, kb))
    # "Pain" is DISO (its PHYS namesake does not compete), "gentamicin" the heading's singular,
    # "maps" (or "map") names no DISO concept, only a short form of one, "toxicity"
    # the sample's own mention text.
    assert tagged(synthetic)["e:0"] == [
        ("Pain", "Disease"),
        ("gentamicin", "Chemical"),
        ("toxicity", "Disease"),
    ]
    assert synthetic.stats["dictionary/sample_names"] == 1


def test_strict_short_forms_start_where_their_long_form_does() -> None:
    """G6PD abbreviates the enzyme inside the disease name, so it is no disease short form; SNP
    says its long form begins at "sodium", so the span grows to it."""
    kb = cleaning_kb()
    pool = [
        unlabelled("g:0", "Deficiency of glucose-6-phosphate dehydrogenase ( G6PD ) .", "g"),
        unlabelled("g:1", "G6PD was low after sodium nitroprusside ( SNP ) .", "g"),
        unlabelled("g:2", "SNP lowered G6PD .", "g"),
    ]
    loose = tagged(KBDictionaryAugmenter().generate([], context(pool, kb)))
    assert ("G6PD", "Disease") in loose["g:2"]
    strict = KBDictionaryAugmenter(strict_short_forms=True).generate([], context(pool, kb))
    assert tagged(strict)["g:1"] == [("sodium nitroprusside", "Chemical"), ("SNP", "Chemical")]
    assert tagged(strict)["g:2"] == [("SNP", "Chemical")]


def short_form_kb() -> InMemoryKB:
    """Diseases written with short forms; "adrenoleukodystrophy" is also a gene's name."""
    return InMemoryKB(
        [
            Concept("XALD", "X-linked adrenoleukodystrophy", (), ("T047",), "DISO"),
            Concept("ALD", "Adrenoleukodystrophy", (), ("T047",), "DISO"),
            Concept("ABCD1", "ABCD1", ("adrenoleukodystrophy",), ("T028",), "GENE"),
            Concept("AAPC", "Attenuated adenomatous polyposis coli", (), ("T047",), "DISO"),
            Concept("SJS", "Schwartz-Jampel syndrome", (), ("T047",), "DISO"),
            Concept("DMD", "Duchenne muscular dystrophy", (), ("T047",), "DISO"),
            Concept("BMD", "Becker muscular dystrophy", (), ("T047",), "DISO"),
            Concept("TDP", "Torsade de pointes", (), ("T047",), "DISO"),
            Concept("THDP", "Thiamine diphosphate", ("TDP",), ("T109",), "CHEM"),
            Concept("AZT", "Zidovudine", ("AZT",), ("T109",), "CHEM"),
            Concept("VHLD", "von Hippel-Lindau disease", (), ("T047",), "DISO"),
            Concept("G6PDD", "Glucose-6-phosphate dehydrogenase deficiency", (), ("T047",), "DISO"),
            Concept("G6PD", "Glucose-6-phosphate dehydrogenase", (), ("T126",), "CHEM"),
            Concept(
                "AVB",
                "Atrioventricular block",
                ("Complete atrioventricular block",),
                ("T047",),
                "DISO",
            ),
        ]
    )


def strictly_tagged(texts: list[str], **settings: object) -> dict[str, list[tuple[str, str]]]:
    """The texts (one document) tagged with `strict_short_forms`, by their index."""
    pool = [unlabelled(f"d:{i}", text, "d") for i, text in enumerate(texts)]
    augmenter = KBDictionaryAugmenter(strict_short_forms=True, **settings)
    return tagged(augmenter.generate([], context(pool, short_form_kb())))


def test_a_group_list_setting_survives_an_export() -> None:
    """`kb_short_forms: [CHEM]` from a config (a ListConfig) is written to an export as JSON and
    read back as the same setting."""
    settings = DictionarySettings(kb_short_forms=ListConfig(["CHEM"]))
    again = DictionarySettings(**json.loads(json.dumps(settings.to_json())))
    assert again == settings
    assert again.matches_kb_short_forms("CHEM") and not again.matches_kb_short_forms("DISO")
    with pytest.raises(ValueError, match=r"kb_short_forms: \['CHM'\] are no semantic groups"):
        DictionarySettings(kb_short_forms=["CHM"])


def test_kb_short_forms_of_chemicals_and_a_definition_that_outranks_them() -> None:
    """With `kb_short_forms: [CHEM]` the KB's chemical short forms tag ("AZT"), but where the
    document defines the same letters as another concept, its definition wins."""
    texts = ["Torsade de pointes ( TDP ) after AZT .", "TDP recurred ."]
    assert strictly_tagged(texts)["d:1"] == [("TDP", "Disease")]
    found = strictly_tagged(texts, kb_short_forms=["CHEM"])
    assert found["d:0"] == [
        ("Torsade de pointes", "Disease"),
        ("TDP", "Disease"),
        ("AZT", "Chemical"),
    ]
    assert found["d:1"] == [("TDP", "Disease")]
    other_document = strictly_tagged(["TDP was measured ."], kb_short_forms=["CHEM"])
    assert other_document["d:0"] == [("TDP", "Chemical")]


def test_strict_short_forms_read_as_schwartz_and_hearst_read_them() -> None:
    """ALD's letters lie in the last word only, but that word names a disease itself (and a
    gene: the name is ambiguous, so never matched alone); AAPC reads from "attenuated" on;
    SJS ends at the ";" in its parenthesis. G6PD (above) still defines nothing."""
    found = strictly_tagged(
        [
            "X - linked adrenoleukodystrophy ( ALD ) and ALD .",
            "It is attenuated adenomatous polyposis coli ( AAPC ) .",
            "The Schwartz - Jampel syndrome ( SJS ; myotonia ) .",
            "AAPC and SJS .",
        ]
    )
    assert found["d:0"] == [
        ("X - linked adrenoleukodystrophy", "Disease"),
        ("ALD", "Disease"),
        ("ALD", "Disease"),
    ]
    assert found["d:3"] == [("AAPC", "Disease"), ("SJS", "Disease")]


def test_longer_short_forms_match_first_and_coordinated_ones_define_nothing() -> None:
    """Where "ALD" and "X - ALD" are both defined, "X - ALD" is one mention; "( DMD / BMD )"
    names two short forms, so "DMD / BMD" is not one (each is tagged where defined alone)."""
    found = strictly_tagged(
        [
            "X - linked adrenoleukodystrophy ( ALD ) .",
            "X - linked adrenoleukodystrophy ( X - ALD ) .",
            "Cells of X - ALD patients and of ALD patients .",
            "Duchenne muscular dystrophy ( DMD ) .",
            "The Duchenne and Becker muscular dystrophy ( DMD / BMD ) .",
            "In DMD / BMD boys .",
        ]
    )
    assert found["d:2"] == [("X - ALD", "Disease"), ("ALD", "Disease")]
    assert found["d:5"] == [("DMD", "Disease")]


def test_the_concept_gate_asks_no_children_without_a_class_limit() -> None:
    """Counting is-a children costs a KB query per concept: only a configured limit pays it."""

    class NoChildren:
        def children(self, concept_id: str) -> list:
            raise AssertionError(f"children of {concept_id} asked")

    gate = ConceptGate(NoChildren(), {"CHEM": ["c1"]}, {}, {})  # type: ignore[arg-type]
    assert gate.allows("c2", "CHEM")


def test_coordinated_names_sharing_a_head_are_one_mention() -> None:
    """The text "breast and ovarian cancer" is one mention with `coordinations` (as NCBI-Disease
    and BC5CDR annotate it), labelled as the label that keeps no KB relation where there is
    one."""
    pool = [
        unlabelled("c:0", "Women with breast and ovarian cancer or lung cancer were seen ."),
        unlabelled("c:1", "Women with breast , lung and / or ovarian cancer were seen ."),
        unlabelled("c:2", "Patients with lithium and ovarian cancer were seen ."),
    ]
    plain = tagged(KBDictionaryAugmenter().generate([], context(pool)))
    assert plain["c:0"] == [("ovarian cancer", "Disease"), ("lung cancer", "Disease")]
    joined = tagged(KBDictionaryAugmenter(coordinations=True).generate([], context(pool)))
    assert joined["c:0"] == [("breast and ovarian cancer", "Disease"), ("lung cancer", "Disease")]
    assert joined["c:1"] == [("breast , lung and / or ovarian cancer", "Disease")]
    # "lithium cancer" is no name: the chemical stays apart
    assert joined["c:2"] == [("lithium", "Chemical"), ("ovarian cancer", "Disease")]
    composite = context(
        pool,
        labels=["Disease", "Composite", "Chemical"],
        label_groups={**LABEL_GROUPS, "Composite": ["DISO"]},
        label_relations={"Composite": []},
    )
    labelled = tagged(KBDictionaryAugmenter(coordinations=True).generate([], composite))
    assert labelled["c:0"] == [
        ("breast and ovarian cancer", "Composite"),
        ("lung cancer", "Disease"),
    ]
    # with one label beside the composite one, a coordination stays composite before a noun
    modifying = context(
        [unlabelled("c:3", "breast and ovarian cancer families")],
        labels=["Disease", "Composite", "Chemical"],
        label_groups={**LABEL_GROUPS, "Composite": ["DISO"]},
        label_relations={"Composite": []},
    )
    labelled = tagged(KBDictionaryAugmenter(coordinations=True).generate([], modifying))
    assert labelled["c:3"] == [("breast and ovarian cancer", "Composite")]


def test_a_name_around_a_short_form_is_one_mention() -> None:
    """ "von Hippel - Lindau ( VHL ) disease" is one mention, and "VHL disease" and "VHL" are
    defined across the document ("disease" is a bare head, "von Hippel - Lindau" no name).
    "G6PD" abbreviates an enzyme, a KB name of its own, and "AV" the word "atrioventricular"
    before "block": only "G6PD deficiency" and "AV block" are defined. The long form starts
    where the short form's letters do ("complete" is left out). Where the enzyme is a label's
    name, it and its short form are tagged instead."""
    pool = [
        unlabelled(f"d:{i}", text, "d")
        for i, text in enumerate(
            [
                "The von Hippel - Lindau ( VHL ) disease gene .",
                "Glucose - 6 - phosphate dehydrogenase ( G6PD ) deficiency is common .",
                "A complete atrioventricular ( AV ) block .",
                "VHL patients , VHL disease , G6PD deficiency , G6PD levels , AV block , AV node .",
            ]
        )
    ]
    diseases = context(
        pool, short_form_kb(), labels=["Disease"], label_groups={"Disease": ["DISO"]}
    )

    def found(setting: bool, ctx: AugmentContext) -> dict[str, list[tuple[str, str]]]:
        augmenter = KBDictionaryAugmenter(
            strict_short_forms=True, exclude_names=["disease"], interrupted_long_forms=setting
        )
        return tagged(augmenter.generate([], ctx))

    assert found(True, diseases) == {
        "d:0": [("von Hippel - Lindau ( VHL ) disease", "Disease")],
        "d:1": [("Glucose - 6 - phosphate dehydrogenase ( G6PD ) deficiency", "Disease")],
        "d:2": [("atrioventricular ( AV ) block", "Disease")],
        "d:3": [
            ("VHL", "Disease"),
            ("VHL disease", "Disease"),
            ("G6PD deficiency", "Disease"),
            ("AV block", "Disease"),
        ],
    }
    assert found(False, diseases) == {}
    both = context(pool, short_form_kb())
    assert found(True, both)["d:1"] == [
        ("Glucose - 6 - phosphate dehydrogenase", "Chemical"),
        ("G6PD", "Chemical"),
    ]


def test_a_name_holding_its_tagged_cause_is_read_apart() -> None:
    """ "heparin - induced thrombocytopenia" is the chemical and the disease apart where heparin
    is a name the dictionary tags (a Chemical label); "drug - induced hepatitis" names no
    chemical and stays whole, as does everything where no label tags chemicals."""
    kb = InMemoryKB(
        [
            Concept("HIT", "Heparin-induced thrombocytopenia", (), ("T047",), "DISO"),
            Concept("TCP", "Thrombocytopenia", (), ("T047",), "DISO"),
            Concept("HEP", "Heparin", (), ("T109",), "CHEM"),
            Concept("DIH", "Drug-induced hepatitis", (), ("T047",), "DISO"),
            Concept("HEPA", "Hepatitis", (), ("T047",), "DISO"),
        ]
    )
    pool = [
        unlabelled("i:0", "After heparin - induced thrombocytopenia or drug - induced hepatitis ."),
        unlabelled("i:1", "Heparin - induced thrombocytopenia ( HIT ) is rare .", "h"),
        unlabelled("i:2", "HIT was treated .", "h"),
    ]
    both = context(pool, kb)
    diseases = context(pool, kb, labels=["Disease"], label_groups={"Disease": ["DISO"]})

    def found(
        setting: bool, ctx: AugmentContext, strict: bool = False
    ) -> dict[str, list[tuple[str, str]]]:
        augmenter = KBDictionaryAugmenter(split_induced=setting, strict_short_forms=strict)
        return tagged(augmenter.generate([], ctx))

    # Schwartz & Hearst's reading too places HIT's letters over the whole name
    assert found(True, both, strict=True) == found(True, both)
    assert found(True, both) == {
        "i:0": [
            ("heparin", "Chemical"),
            ("thrombocytopenia", "Disease"),
            ("drug - induced hepatitis", "Disease"),
        ],
        # HIT abbreviates the whole name, the disease's
        "i:1": [("Heparin", "Chemical"), ("thrombocytopenia", "Disease"), ("HIT", "Disease")],
        "i:2": [("HIT", "Disease")],
    }
    whole = {
        "i:0": [
            ("heparin - induced thrombocytopenia", "Disease"),
            ("drug - induced hepatitis", "Disease"),
        ],
        "i:1": [("Heparin - induced thrombocytopenia", "Disease"), ("HIT", "Disease")],
        "i:2": [("HIT", "Disease")],
    }
    assert found(False, both) == whole
    assert found(True, diseases) == whole


def test_a_deficient_adjective_is_the_deficiency_it_names() -> None:
    """ "C7 - deficient" and "C7 deficient" are the name "C7 deficiency" written as an adjective
    (NCBI-Disease's Modifier); a word that names no deficiency stays untagged."""
    kb = InMemoryKB([Concept("C7D", "C7 deficiency", (), ("T047",), "DISO")])
    pool = [
        unlabelled("f:0", "C7 - deficient cells , C7 deficient mice and iron deficient diets .")
    ]
    diseases = context(pool, kb, labels=["Disease"], label_groups={"Disease": ["DISO"]})
    augmenter = KBDictionaryAugmenter(deficient_adjectives=True)
    assert tagged(augmenter.generate([], diseases)) == {
        "f:0": [("C7 - deficient", "Disease"), ("C7 deficient", "Disease")]
    }
    assert tagged(KBDictionaryAugmenter().generate([], diseases)) == {}


def test_chemical_names_ending_like_adjectives_and_research_codes() -> None:
    """ "phenobarbital" ends like an adjective and is a chemical: `adjective_like_names` lets
    a group's such names match where they are what the KB calls the concept, so neither
    "analgesic" (a synonym of "Analgesics") nor a disease qualifier ("congenital") does.
    `code_names` matches research codes with fewer letters than `min_name_letters`
    ("LY274614", "FK 506"), never one with fewer than three digits ("AB12")."""
    kb = InMemoryKB(
        [
            Concept("PB", "Phenobarbital", (), ("T109",), "CHEM"),
            Concept("CON", "Congenital", (), ("T047",), "DISO"),
            Concept("AN", "Analgesics", ("Analgesic",), ("T121",), "CHEM"),
            Concept("LY", "LY274614", (), ("T109",), "CHEM"),
            Concept("FK", "Tacrolimus", ("FK 506",), ("T109",), "CHEM"),
            Concept("AB12", "AB12", (), ("T109",), "CHEM"),
        ]
    )
    pool = [
        unlabelled("a:0", "Phenobarbital , LY274614 , FK 506 and AB12 in congenital cases ."),
        unlabelled("a:1", "An analgesic was given ."),
    ]
    ctx = context(pool, kb)
    default = tagged(KBDictionaryAugmenter(kb_short_forms=["CHEM"]).generate([], ctx))
    assert default == {}
    augmenter = KBDictionaryAugmenter(
        kb_short_forms=["CHEM"], adjective_like_names=["CHEM"], code_names=True
    )
    assert tagged(augmenter.generate([], ctx)) == {
        "a:0": [("Phenobarbital", "Chemical"), ("LY274614", "Chemical"), ("FK 506", "Chemical")]
    }
