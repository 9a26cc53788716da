"""KB substitution on a hand-built KB where the right replacements are known
(tests/helpers/kb_fixture.py)."""

from __future__ import annotations

import collections
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hilgen.augment.base import AugmentContext, SyntheticSet
from hilgen.augment.name_ranking import NameEmbeddingRanker
from hilgen.augment.substitution import (
    KB_RELATIONS,
    KBSubstitutionAugmenter,
    NegativeSampler,
    ReplacementFilter,
    is_supplementary,
)
from hilgen.augment.substitution.casing import apply_case, case_style
from hilgen.data.iob import tags_to_spans
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from hilgen.kb.base import Concept
from hilgen.kb.names import looks_like_abbreviation
from tests.helpers.augment_context import fixture_context
from tests.helpers.kb_fixture import LABEL_GROUPS, InMemoryKB, demo_kb

KB = demo_kb()


def breast_lithium() -> Sentence:
    """A Disease mention with a gold ID (2 tokens) before a Chemical mention linked by name."""
    tokens = tokenize("Women with breast cancer were treated with lithium .")
    spans = [Span(2, 4, "Disease", ("MESH:D001943",)), Span(7, 8, "Chemical")]
    return Sentence("d1:0", tokens, spans, "d1")


def selegiline() -> Sentence:
    """A Chemical linked by name and a Disease the KB does not know."""
    tokens = tokenize("Selegiline induced hypotension in patients .")
    return Sentence("d2:0", tokens, [Span(0, 1, "Chemical"), Span(2, 3, "Disease")], "d2")


def context(**overrides: object) -> AugmentContext:
    return fixture_context(KB, **overrides)


def replaced(synthetic: SyntheticSet, original: str) -> list[str]:
    """Replacement texts used for the mention `original`, in output order."""
    return [
        r.replacement_text for s in synthetic for r in s.replacements if r.original_text == original
    ]


def test_synonyms_layer_keeps_natural_names_in_the_mentions_casing() -> None:
    augmenter = KBSubstitutionAugmenter(["synonym"], name="umls_synonyms")
    synthetic = augmenter.generate([breast_lithium()], context())
    # "Breast Cancer" is the mention itself; "Neoplasms, Breast" is an inverted heading;
    # NOS, [X] and (disorder) variants are qualifiers; "Breast Tumors" appears twice in the KB.
    assert replaced(synthetic, "breast cancer") == [
        "breast neoplasms",
        "breast tumors",
        "cancer of breast",
    ]
    # "Lithium 7" and "Lithium-7" bring digits the mention lacks; "Li" is a symbol, kept as is.
    assert replaced(synthetic, "lithium") == ["Li"]
    assert {r.relation for s in synthetic for r in s.replacements} == {"synonym"}
    assert {r.layer for s in synthetic for r in s.replacements} == {1}
    assert synthetic.stats["rejected/inverted_heading"] == 1
    assert synthetic.stats["rejected/qualifier"] == 3
    assert synthetic.stats["rejected/numbers_or_units"] == 2
    assert synthetic.stats["link/gold"] == 1 and synthetic.stats["link/exact"] == 1


def test_related_layer_adds_same_type_concepts_closest_first() -> None:
    augmenter = KBSubstitutionAugmenter(["synonym", "same_type"], top_k=3, name="umls_related")
    synthetic = augmenter.generate([breast_lithium()], context())
    same_type = [
        r.replacement_text
        for s in synthetic
        for r in s.replacements
        if r.relation == "same_type" and r.label == "Disease"
    ]
    assert same_type == ["ovarian neoplasms", "lung neoplasms", "prostatic neoplasms"]
    assert {r.layer for s in synthetic for r in s.replacements if r.relation == "same_type"} == {2}
    # Layer 2 includes layer 1.
    assert "breast neoplasms" in replaced(synthetic, "breast cancer")


def test_name_ranker_takes_related_concepts_closest_in_name_first() -> None:
    """The KB ranks breast cancer's same-type concepts by shared ancestry (ovarian, lung, ...);
    by name the breast neoplasms come first. Synonyms keep the KB's order."""
    plain, ranked = (
        KBSubstitutionAugmenter(
            ["synonym", "same_type"], top_k=2, max_sentences_per_source=None, name_ranker=ranker
        ).generate([breast_lithium()], context())
        for ranker in (None, NameEmbeddingRanker())
    )

    def names(synthetic: SyntheticSet, relation: str) -> list[str]:
        return [
            r.replacement_text
            for s in synthetic
            for r in s.replacements
            if r.relation == relation and r.original_text == "breast cancer"
        ]

    assert names(plain, "same_type") == ["ovarian neoplasms", "lung neoplasms"]
    assert names(ranked, "same_type") == ["ductal carcinoma of the breast", "male breast cancer"]
    assert names(ranked, "synonym") == names(plain, "synonym")
    assert names(plain, "synonym") == ["breast neoplasms", "breast tumors"]


def test_name_embedding_similarity_is_cosine_of_pooled_vectors() -> None:
    ranker = NameEmbeddingRanker(batch_size=2)  # several batches
    names = ["breast cancer", "breast carcinoma", "lithium carbonate"]
    same, close, far = ranker.similarities("breast cancer", ["lung cancer"], names)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert 1.0 > close > far
    assert ranker.similarities("breast cancer", [], ["lithium carbonate"]) == [far]
    with pytest.raises(ValueError, match="batch_size"):
        NameEmbeddingRanker(batch_size=0)
    with pytest.raises(ValueError, match="anchor must be one of"):
        NameEmbeddingRanker(anchor="concept")


def test_label_anchor_ranks_by_the_centroid_of_the_labels_sample_mentions() -> None:
    by_label = NameEmbeddingRanker(anchor="label")
    names = ["ovarian cancer", "lithium carbonate", "sodium"]
    # One label mention: the same as anchoring on it; the mention replaced plays no part.
    assert by_label.similarities("lithium", ["breast cancer"], names) == pytest.approx(
        NameEmbeddingRanker().similarities("breast cancer", [], names), abs=1e-6
    )
    # Several: the cosine to their normalised mean; none: the mention itself.
    diseases = by_label.similarities("lithium", ["breast cancer", "lung tumours"], names)
    assert diseases[0] == max(diseases)
    assert by_label.similarities("lithium", [], names) == pytest.approx(
        NameEmbeddingRanker().similarities("lithium", [], names), abs=1e-6
    )


def test_parents_children_layer_skips_off_group_and_supplementary_concepts() -> None:
    augmenter = KBSubstitutionAugmenter(["parent", "child"], name="umls_parents_children")
    synthetic = augmenter.generate([breast_lithium()], context())
    by_relation = {(r.relation, r.replacement_text) for s in synthetic for r in s.replacements}
    assert by_relation == {
        ("parent", "neoplasms"),
        # Inverted preferred names fall back to the concept's next natural name.
        ("child", "male breast cancer"),
        ("child", "ductal carcinoma of the breast"),
        ("parent", "alkali metals"),
        ("child", "lithium carbonate"),
    }
    # "BRCA1 Protein" is a GENE child of a disease; "Lithobid" a supplementary record.
    assert synthetic.stats["rejected/other_group"] == 1
    assert synthetic.stats["rejected/supplementary"] == 1


def test_siblings_layer_ranks_by_relatedness_and_top_k_cuts_far_ones() -> None:
    augmenter = KBSubstitutionAugmenter(["sibling"], top_k=2, name="umls_siblings")
    synthetic = augmenter.generate([breast_lithium()], context())
    assert replaced(synthetic, "breast cancer") == ["lung neoplasms", "pancreatic neoplasms"]
    assert replaced(synthetic, "lithium") == ["sodium", "potassium"]
    wide = KBSubstitutionAugmenter(["sibling"], top_k=10).generate([breast_lithium()], context())
    assert replaced(wide, "breast cancer")[-1] == "developmental dysplasia of the hip"
    strict = KBSubstitutionAugmenter(
        ["sibling"], filters=ReplacementFilter(min_relation_score=0.5)
    ).generate([breast_lithium()], context())
    assert "developmental dysplasia of the hip" not in replaced(strict, "breast cancer")
    assert strict.stats["rejected/low_score"] == 1


def test_all_layers_is_the_union_without_duplicate_names_or_concepts() -> None:
    augmenter = KBSubstitutionAugmenter(list(KB_RELATIONS), max_sentences_per_source=None)
    synthetic = augmenter.generate([breast_lithium()], context())
    names = replaced(synthetic, "breast cancer")
    assert len(names) == len(set(names))
    concepts = [
        r.replacement_concept_id
        for s in synthetic
        for r in s.replacements
        if r.relation != "synonym" and r.label == "Disease"
    ]
    assert len(concepts) == len(set(concepts))
    # The is-a parent is claimed by the more specific relation, not by same_type.
    relation_of = {r.replacement_text: r.relation for s in synthetic for r in s.replacements}
    assert relation_of["neoplasms"] == "parent"
    assert relation_of["breast neoplasms"] == "synonym"
    layers_used = {r.layer for s in synthetic for r in s.replacements}
    assert layers_used == {1, 2, 3}


def test_replacements_stay_within_the_labels_semantic_groups() -> None:
    sample = [breast_lithium(), selegiline()]
    augmenter = KBSubstitutionAugmenter(list(KB_RELATIONS), max_sentences_per_source=None)
    synthetic = augmenter.generate(sample, context())
    assert len(synthetic) > 10
    for sentence in synthetic:
        for replacement in sentence.replacements:
            concept = KB.concept(replacement.replacement_concept_id)
            assert concept is not None
            assert concept.semantic_group in LABEL_GROUPS[replacement.label]
            span = sentence.sentence.spans[replacement.span_index]
            assert span.label == replacement.label
            assert sentence.sentence.span_text(span) == replacement.replacement_text


def test_label_relations_keep_only_the_relations_that_preserve_a_label() -> None:
    augmenter = KBSubstitutionAugmenter(list(KB_RELATIONS), max_sentences_per_source=None)
    # Disease: no parents (a parent of a specific disease is a class); Chemical: nothing.
    policy = {"Disease": ["synonym", "child", "sibling", "same_type"], "Chemical": []}
    synthetic = augmenter.generate([breast_lithium()], context(label_relations=policy))
    unrestricted = augmenter.generate([breast_lithium()], context())
    relations: dict[str, set[str]] = collections.defaultdict(set)
    for sentence in synthetic:
        for r in sentence.replacements:
            relations[r.label].add(r.relation)
    assert set(relations) == {"Disease"}
    assert "parent" not in relations["Disease"] and "synonym" in relations["Disease"]
    assert "parent" in {r.relation for s in unrestricted for r in s.replacements}
    assert synthetic.stats["mentions_label_keeps_no_relation"] == 1
    with pytest.raises(ValueError, match=r"label_relations: \{'Disease': \['cousin'\]\}"):
        augmenter.generate([breast_lithium()], context(label_relations={"Disease": ["cousin"]}))


def test_relation_labels_give_a_relations_names_another_label() -> None:
    augmenter = KBSubstitutionAugmenter(list(KB_RELATIONS), max_sentences_per_source=None)
    groups = {**LABEL_GROUPS, "DiseaseClass": LABEL_GROUPS["Disease"]}
    relabel = context(
        labels=["Disease", "DiseaseClass", "Chemical"],
        label_groups=groups,
        label_relations={"Disease": ["synonym", "child", "sibling"]},
        relation_labels={"Disease": {"parent": "DiseaseClass"}},
    )
    synthetic = augmenter.generate([breast_lithium()], relabel)
    labels_by_relation: dict[str, set[str]] = collections.defaultdict(set)
    for sentence in synthetic:
        for r in sentence.replacements:
            span = sentence.sentence.spans[r.span_index]
            assert span.label == r.label
            if r.original_text == "breast cancer":
                labels_by_relation[r.relation].add(r.label)
    # A parent of "breast cancer" stands in its place as a class; the kept relations keep it.
    assert labels_by_relation["parent"] == {"DiseaseClass"}
    assert labels_by_relation["synonym"] == labels_by_relation["sibling"] == {"Disease"}
    # Counted per accepted name (a name may stand in several sentences); Chemical keeps its own.
    parents = {"neoplasms"}
    assert synthetic.stats["relabelled/parent"] == len(parents)
    lithium = {r.label for s in synthetic for r in s.replacements if r.original_text == "lithium"}
    assert lithium == {"Chemical"}
    assert {
        r.replacement_text
        for s in synthetic
        for r in s.replacements
        if r.relation == "parent" and r.label == "DiseaseClass"
    } == parents
    for bad_policy, where in [
        ({"Disease": {"parent": "Class"}}, "Disease.parent: 'Class'"),
        ({"Disease": {"cousin": "DiseaseClass"}}, "Disease.cousin: 'DiseaseClass'"),
        ({"Diseases": {"parent": "DiseaseClass"}}, "Diseases.parent: 'DiseaseClass'"),
    ]:
        bad = dataclasses.replace(relabel, relation_labels=bad_policy)
        with pytest.raises(ValueError, match=rf"relation_labels.{where}"):
            augmenter.generate([breast_lithium()], bad)


def test_a_name_shared_with_another_groups_concept_is_rejected() -> None:
    sentence = Sentence("d3:0", tokenize("He had a common cold ."), [Span(3, 5, "Disease")])
    synthetic = KBSubstitutionAugmenter(["synonym"]).generate([sentence], context())
    # "Cold" also names the PHEN concept "Cold Temperature".
    assert replaced(synthetic, "common cold") == ["head cold"]
    assert synthetic.stats["rejected/other_label_name"] == 1
    lenient = KBSubstitutionAugmenter(
        ["synonym"], filters=ReplacementFilter(drop_cross_group_names=False)
    ).generate([sentence], context())
    assert "cold" in replaced(lenient, "common cold")


def test_a_link_to_a_concept_of_another_group_is_not_augmented() -> None:
    # A (wrong) gold ID points to a GENE concept; a Disease mention must not use it.
    sentence = Sentence(
        "d4:0", tokenize("Carriers of BRCA1 ."), [Span(2, 3, "Disease", ("HGNC:1100",))]
    )
    synthetic = KBSubstitutionAugmenter(list(KB_RELATIONS)).generate([sentence], context())
    assert len(synthetic) == 0
    assert synthetic.stats["mentions_off_label_link"] == 1


def test_multi_token_replacement_retags_and_shifts_the_other_entities() -> None:
    synthetic = KBSubstitutionAugmenter(["synonym"]).generate([breast_lithium()], context())
    [longer] = [s for s in synthetic if s.replacements[0].replacement_text == "cancer of breast"]
    assert longer.sentence.tokens == tokenize(
        "Women with cancer of breast were treated with lithium ."
    )
    assert longer.sentence.tags == [
        "O", "O", "B-Disease", "I-Disease", "I-Disease", "O", "O", "O", "B-Chemical", "O",
    ]  # fmt: skip
    assert longer.sentence.spans[0].concept_ids == ("MESH:D001943",)
    assert longer.source_sentence_id == "d1:0" and longer.sentence.doc_id == "d1"


def test_sentence_style_casing_and_digit_filter_switch() -> None:
    synthetic = KBSubstitutionAugmenter(["synonym", "same_type"]).generate(
        [selegiline()], context()
    )
    names = replaced(synthetic, "Selegiline")
    assert "Deprenyl" in names and "Valproic acid" in names
    digits_allowed = KBSubstitutionAugmenter(
        ["synonym"], filters=ReplacementFilter(drop_numbers_and_units=False)
    ).generate([breast_lithium()], context())
    assert "lithium 7" in replaced(digits_allowed, "lithium")
    [seven] = [s for s in digits_allowed if s.replacements[0].replacement_text == "lithium 7"]
    assert seven.sentence.tags[7:9] == ["B-Chemical", "I-Chemical"]


def test_inverted_headings_can_be_rewritten() -> None:
    augmenter = KBSubstitutionAugmenter(
        ["child"], filters=ReplacementFilter(inverted_headings="rewrite")
    )
    synthetic = augmenter.generate([breast_lithium()], context())
    assert replaced(synthetic, "breast cancer") == [
        "male breast neoplasms",
        "breast ductal carcinoma",
    ]
    # A serial list is no inversion: rewritten, it reads as written.
    rewrite = ReplacementFilter(inverted_headings="rewrite")
    assert rewrite.check_name("Hand, Foot, and Mouth Disease", "herpes zoster virus infection")[
        0
    ] == ("Hand, Foot, and Mouth Disease")
    with pytest.raises(ValueError, match="inverted_headings"):
        ReplacementFilter(inverted_headings="flip")


def test_too_long_names_are_rejected_relative_to_the_mention() -> None:
    checker = ReplacementFilter()
    assert checker.check_name("ductal carcinoma of the breast", "breast cancer")[0]
    assert checker.check_name("a b c d e f", "cancer") == (None, "too_long")
    assert checker.check_name("a b c d e f g h i", "a b c d e f g h i j")[0]  # not below own
    assert checker.check_name("Cancer (disorder)", "cancer") == (None, "qualifier")
    assert checker.check_name("Cancer (malignant)", "cancer") == (None, "brackets")
    assert checker.check_name("Cancer (malignant)", "cancer ( APC )")[0]
    assert checker.check_name("5 mg", "dose") == (None, "numbers_or_units")
    assert checker.check_name("1,2-dichloroethane", "3-MC")[0]  # locant commas are no heading


def test_leaked_sentences_are_dropped_and_counted() -> None:
    augmenter = KBSubstitutionAugmenter(["synonym"])
    clean = augmenter.generate([breast_lithium()], context())
    leaked_tokens = [t.upper() for t in clean.sentences[0].sentence.tokens]
    test_sentence = Sentence("test:0", leaked_tokens)
    synthetic = augmenter.generate([breast_lithium()], context(test_sentences=[test_sentence]))
    assert synthetic.stats["leaked_dropped"] == 1
    assert len(synthetic) == len(clean) - 1
    keys = {tuple(t.casefold() for t in s.sentence.tokens) for s in synthetic}
    assert tuple(t.casefold() for t in leaked_tokens) not in keys


def test_cap_per_source_and_seeded_determinism() -> None:
    sample = [breast_lithium(), selegiline()]
    capped = KBSubstitutionAugmenter(list(KB_RELATIONS), max_sentences_per_source=3)
    synthetic = capped.generate(sample, context())
    per_source = [s.source_sentence_id for s in synthetic]
    assert per_source.count("d1:0") == 3 and per_source.count("d2:0") == 3
    assert synthetic.stats["capped_dropped"] > 0
    # Round one offers every mention its best name before any mention gets a second.
    first_round = synthetic.sentences[:2]
    assert {s.replacements[0].original_text for s in first_round} == {"breast cancer", "lithium"}
    again = capped.generate(sample, context())
    assert [s.sentence.tokens for s in again] == [s.sentence.tokens for s in synthetic]
    one = KBSubstitutionAugmenter(list(KB_RELATIONS), max_sentences_per_source=1)
    picks = {one.generate(sample, context(seed=seed)).sentences[0].sentence.text
             for seed in range(12)}  # fmt: skip
    assert len(picks) == 2  # which mention gets the only slot depends on the seed
    fixed = KBSubstitutionAugmenter(list(KB_RELATIONS), max_sentences_per_source=1, seed=7)
    assert len({fixed.generate(sample, context(seed=s)).sentences[0].sentence.text
                for s in range(5)}) == 1  # fmt: skip


def test_context_diversity_borrows_mentions_of_the_same_label() -> None:
    sample = [breast_lithium(), selegiline()]
    off = KBSubstitutionAugmenter(["synonym"], max_sentences_per_source=None)
    assert not any(r.borrowed_from for s in off.generate(sample, context()) for r in s.replacements)
    on = KBSubstitutionAugmenter(["synonym"], max_sentences_per_source=None,
                                 context_diversity=True)  # fmt: skip
    synthetic = on.generate(sample, context())
    borrowed = {(r.original_text, r.replacement_text, r.relation, r.borrowed_from)
                for s in synthetic for r in s.replacements if r.borrowed_from}  # fmt: skip
    assert ("lithium", "Selegiline", "sample_mention", "d2:0") in borrowed
    assert ("lithium", "Deprenyl", "synonym", "d2:0") in borrowed
    assert ("Selegiline", "lithium", "sample_mention", "d1:0") in borrowed
    # The unlinked "hypotension" may still take "breast cancer" from the other sentence.
    assert ("hypotension", "breast cancer", "sample_mention", "d1:0") in borrowed
    for sentence in synthetic:
        for replacement in sentence.replacements:
            span = sentence.sentence.spans[replacement.span_index]
            assert span.label == replacement.label


def test_shuffle_context_permutes_only_the_words_between_mentions() -> None:
    source = breast_lithium()
    plain, shuffled = (
        KBSubstitutionAugmenter(["synonym"], max_sentences_per_source=None, **option).generate(
            [source], context()
        )
        for option in ({}, {"shuffle_context": True})
    )
    assert len(plain) == len(shuffled)
    moved = 0
    for before, after in zip(plain, shuffled, strict=True):
        old, new = before.sentence, after.sentence
        # mentions keep their place, words and labels; replacements their spans
        assert [(s.start, s.end, s.label) for s in new.spans] == [
            (s.start, s.end, s.label) for s in old.spans
        ]
        assert [new.tokens[s.start : s.end] for s in new.spans] == [
            old.tokens[s.start : s.end] for s in old.spans
        ]
        assert after.replacements == before.replacements
        # each run of context words is a permutation of the source's run
        edges = [0, *(i for s in new.spans for i in (s.start, s.end)), len(new.tokens)]
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            assert sorted(new.tokens[start:end]) == sorted(old.tokens[start:end])
        moved += new.tokens != old.tokens
    assert moved > 0
    # seeded: the same sentences again
    again = KBSubstitutionAugmenter(
        ["synonym"], max_sentences_per_source=None, shuffle_context=True
    ).generate([source], context())
    assert [s.sentence.tokens for s in again] == [s.sentence.tokens for s in shuffled]


def test_all_mentions_swapped_puts_new_names_in_every_slot_of_a_round() -> None:
    one = KBSubstitutionAugmenter(["synonym"], max_sentences_per_source=None)
    every = KBSubstitutionAugmenter(
        ["synonym"], max_sentences_per_source=None, mentions_swapped="all"
    )
    singles, joint = (
        one.generate([breast_lithium()], context()),
        every.generate([breast_lithium()], context()),
    )
    # "breast cancer" has 3 synonyms and "lithium" 1: one mode makes 3 + 1 sentences, all mode
    # one per round, the first swapping both mentions, later rounds only breast cancer.
    assert len(singles) == 4 and len(joint) == 3
    assert [[r.original_text for r in s.replacements] for s in joint] == [
        ["breast cancer", "lithium"],
        ["breast cancer"],
        ["breast cancer"],
    ]
    first = joint.sentences[0].sentence
    assert first.tokens == tokenize("Women with breast neoplasms were treated with Li .")
    assert first.tags == ["O", "O", "B-Disease", "I-Disease", "O", "O", "O", "B-Chemical", "O"]
    assert [r.span_index for r in joint.sentences[0].replacements] == [0, 1]
    assert set(replaced(joint, "breast cancer")) == set(replaced(singles, "breast cancer"))
    with pytest.raises(ValueError, match="mentions_swapped"):
        KBSubstitutionAugmenter(["synonym"], mentions_swapped="some")


def test_all_mentions_swapped_negatives_also_rename_the_other_mentions() -> None:
    augmenter = KBSubstitutionAugmenter(
        ["synonym"], negatives=NegativeSampler(1, ["PHYS"]), mentions_swapped="all"
    )
    synthetic = augmenter.generate([breast_lithium()], context())
    [negative] = [
        s for s in synthetic
        if ("breast cancer", "negative") in [(r.original_text, r.relation) for r in s.replacements]
    ]  # fmt: skip
    assert [(r.original_text, r.relation) for r in negative.replacements] == [
        ("breast cancer", "negative"),
        ("lithium", "synonym"),
    ]
    # the negative's place holds no entity; lithium's place holds its synonym, still Chemical,
    # and is the synthetic sentence's first span now
    assert [(negative.sentence.span_text(s), s.label) for s in negative.sentence.spans] == [
        ("Li", "Chemical")
    ]
    assert [r.span_index for r in negative.replacements] == [0, 0]


def test_missing_kb_or_label_groups_are_explained() -> None:
    augmenter = KBSubstitutionAugmenter(["synonym"])
    with pytest.raises(ValueError, match="knowledge base and a linker"):
        augmenter.generate([breast_lithium()], context(kb=None))
    with pytest.raises(ValueError, match=r"no semantic groups for labels \['Chemical'\]"):
        augmenter.generate([breast_lithium()], context(label_groups={"Disease": ["DISO"]}))
    with pytest.raises(ValueError, match="relations"):
        KBSubstitutionAugmenter(["cousin"])


def test_supplementary_records_are_recognised_by_source_or_id() -> None:
    assert is_supplementary(Concept("MESH:C000123", "Lithobid"))
    assert is_supplementary(Concept("X1", "Donnatal", xrefs={"MESH": ("C012345",)}))
    assert is_supplementary(Concept("X2", "Brand", source="mesh_supp"))
    assert is_supplementary(Concept("X3", "Brand", is_supplementary=True))
    assert not is_supplementary(Concept("MESH:D008094", "Lithium"))
    assert not is_supplementary(Concept("MONDO:1", "disease"))


# Property-based: any sentence, any mention layout, any layers -> valid, consistent IOB2.
KB_NAMES = sorted({name for concept in KB._concepts.values() for name in concept.names})
WORDS = ["the", "patients", "with", "and", "were", "(", ")", ",", ".", "treated", "of"]


@st.composite
def sentences(draw: st.DrawFn) -> Sentence:
    tokens: list[str] = []
    spans: list[Span] = []
    for _ in range(draw(st.integers(1, 6))):
        tokens += draw(st.lists(st.sampled_from(WORDS), max_size=3))
        if draw(st.booleans()):
            name = draw(st.sampled_from(KB_NAMES))
            name_tokens = [
                t.lower() if draw(st.booleans()) else t for t in name.replace(",", " ,").split()
            ]
            label = draw(st.sampled_from(["Disease", "Chemical"]))
            spans.append(Span(len(tokens), len(tokens) + len(name_tokens), label))
            tokens += name_tokens
            initials = "".join(t[0].upper() for t in name_tokens if t[:1].isalpha())
            if len(initials) > 1 and draw(st.booleans()):  # defined after it: "Lung Cancer ( LC )"
                spans.append(Span(len(tokens) + 1, len(tokens) + 2, label))
                tokens += ["(", initials, ")"]
    tokens.append(".")
    return Sentence(f"s{draw(st.integers(0, 10**6))}", tokens, spans)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.lists(sentences(), min_size=1, max_size=4, unique_by=lambda s: s.sentence_id),
    relations=st.lists(st.sampled_from(KB_RELATIONS), min_size=1, unique=True),
    cap=st.one_of(st.none(), st.integers(1, 8)),
    diversity=st.booleans(),
    swapped=st.sampled_from(["one", "all"]),
    abbreviations=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_every_synthetic_sentence_is_valid_iob2_with_consistent_provenance(
    sample: list[Sentence],
    relations: list[str],
    cap: int | None,
    diversity: bool,
    swapped: str,
    abbreviations: bool,
    seed: int,
) -> None:
    augmenter = KBSubstitutionAugmenter(
        relations,
        max_sentences_per_source=cap,
        context_diversity=diversity,
        mentions_swapped=swapped,
        abbreviations=abbreviations,
    )
    synthetic = augmenter.generate(sample, context(seed=seed))
    by_id = {s.sentence_id: s for s in sample}
    seen: set[tuple[str, ...]] = set()
    for item in synthetic:
        sentence, source = item.sentence, by_id[item.source_sentence_id]
        tags = sentence.tags
        assert len(tags) == len(sentence.tokens)
        assert [(s.start, s.end, s.label) for s in tags_to_spans(tags)] == [
            (s.start, s.end, s.label) for s in sorted(sentence.spans, key=lambda s: s.start)
        ]
        by_index = {r.span_index: r for r in item.replacements}
        # One mention differs ("one", with abbreviations plus the short forms that follow it)
        # or at least one ("all"); every other entity keeps its text and label.
        assert len(by_index) == len(item.replacements) >= 1
        # (the short forms take the swapped name's initials, so the same concept)
        assert swapped == "all" or len({r.replacement_concept_id for r in item.replacements}) == 1
        assert swapped == "all" or len(by_index) == 1 or abbreviations
        if abbreviations:
            for replacement in item.replacements:
                if looks_like_abbreviation(tokenize(replacement.original_text)):
                    assert " " not in replacement.replacement_text
        assert len(sentence.spans) == len(source.spans)
        source_spans = sorted(source.spans, key=lambda s: s.start)
        for index, (new, old) in enumerate(zip(sentence.spans, source_spans, strict=True)):
            assert new.label == old.label
            if index in by_index:
                assert sentence.span_text(new) == by_index[index].replacement_text
                assert source.span_text(old) == by_index[index].original_text
            else:
                assert sentence.span_text(new) == source.span_text(old)
        for replacement in item.replacements:
            if replacement.relation != "sample_mention":
                concept = KB.concept(replacement.replacement_concept_id)
                assert concept is not None
                assert concept.semantic_group in LABEL_GROUPS[replacement.label]
        key = tuple(t.casefold() for t in sentence.tokens)
        assert key not in seen
        seen.add(key)
    if cap is not None:
        for source in sample:
            assert sum(s.source_sentence_id == source.sentence_id for s in synthetic) <= cap


def test_fixture_kb_satisfies_the_protocol() -> None:
    from hilgen.kb.base import KnowledgeBase

    assert isinstance(KB, KnowledgeBase)
    assert isinstance(InMemoryKB([]), KnowledgeBase)
    assert KB.concept("D001943") == KB.concept("MESH:D001943")
    assert dataclasses.is_dataclass(KB.siblings("MESH:D001943")[0])


@pytest.mark.parametrize(
    ("name", "mention", "expected"),
    [
        ("Breast Neoplasms", "breast cancer", "breast neoplasms"),
        ("Abnormal emotion", "anxiety", "abnormal emotion"),
        ("Parkinson Disease", "autism", "Parkinson disease"),
        ("Kanner's syndrome", "autism", "Kanner ' s syndrome"),
        ("Metabolic Syndrome", "obesity", "metabolic syndrome"),
        ("Abnormal ECG", "arrhythmia", "abnormal ECG"),
        ("Lung Neoplasms", "Breast cancer", "Lung neoplasms"),
        ("Lung Neoplasms", "NSCLC", "Lung Neoplasms"),
        ("Li", "lithium", "Li"),
    ],
)
def test_replacement_names_take_the_mentions_casing(name: str, mention: str, expected: str) -> None:

    assert " ".join(apply_case(name, case_style(mention))) == expected


def test_negatives_put_off_label_concepts_in_the_mentions_place_tagged_o() -> None:
    augmenter = KBSubstitutionAugmenter(
        ["synonym"], name="umls_synonyms", negatives=NegativeSampler(2, ["GENE", "PHYS"])
    )
    synthetic = augmenter.generate([breast_lithium()], context())
    negatives = [s for s in synthetic if s.replacements[0].relation == "negative"]
    assert negatives, "the PHYS concept of the demo KB should serve as a negative"
    for negative in negatives:
        replacement = negative.replacements[0]
        # "BRCA1 Protein" (GENE) is refused by the digit filter; "Missense Mutation" is not
        assert KB.concept(replacement.replacement_concept_id).semantic_group == "PHYS"
        assert replacement.replacement_text in {"missense mutation", "Missense Mutation"}
        # the replaced mention is gone; the other entity keeps its label and text
        assert [s.label for s in negative.sentence.spans] == ["Disease"] or [
            s.label for s in negative.sentence.spans
        ] == ["Chemical"]
        assert synthetic.stats["relation/negative"] == len(negatives)


def test_negative_groups_allowed_for_a_label_are_never_used() -> None:
    augmenter = KBSubstitutionAugmenter(
        ["synonym"], name="umls_synonyms", negatives=NegativeSampler(3, ["CHEM"])
    )
    synthetic = augmenter.generate([breast_lithium()], context())
    assert not [s for s in synthetic if s.replacements[0].relation == "negative"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("DM", True), ("A-T", True), ("FK506", True), ("MPS IVA", True), ("5-AzC", True),
     ("Li", False), ("AV block", False), ("CETP deficiency", False), ("tumour", False)],
)  # fmt: skip
def test_abbreviations_are_recognised_by_their_shape(text: str, expected: bool) -> None:
    assert looks_like_abbreviation(tokenize(text)) is expected


def abbreviation_sentence() -> Sentence:
    """A long form defining its short form, the short form used again, and a lone one."""
    tokens = tokenize("Women with breast cancer ( BC ) and BC relatives took lithium .")
    spans = [Span(2, 4, "Disease", ("MESH:D001943",)), Span(5, 6, "Disease", ("MESH:D001943",)),
             Span(8, 9, "Disease", ("MESH:D001943",)), Span(11, 12, "Chemical")]  # fmt: skip
    return Sentence("d3:0", tokens, spans, "d3")


def test_defined_short_forms_follow_their_long_forms_new_name() -> None:
    augmenter = KBSubstitutionAugmenter(
        ["synonym"], mentions_swapped="all", abbreviations=True, max_sentences_per_source=None
    )
    synthetic = augmenter.generate([abbreviation_sentence()], context())
    texts = [" ".join(s.sentence.tokens) for s in synthetic]
    # "cancer of breast" skips the function word: CB
    assert texts == [
        "Women with breast neoplasms ( BN ) and BN relatives took Li .",
        "Women with breast tumors ( BT ) and BT relatives took lithium .",
        "Women with cancer of breast ( CB ) and CB relatives took lithium .",
    ]
    first = synthetic.sentences[0]
    assert [s.label for s in first.sentence.spans] == ["Disease"] * 3 + ["Chemical"]
    assert [(r.original_text, r.replacement_text) for r in first.replacements][1:3] == [
        ("BC", "BN"),
        ("BC", "BN"),
    ]
    assert synthetic.stats["abbreviations/defined_short_forms"] == 2
    # without the option a short form takes full names of its own
    plain = KBSubstitutionAugmenter(["synonym"], mentions_swapped="all").generate(
        [abbreviation_sentence()], context()
    )
    assert "BN" not in " ".join(plain.sentences[0].sentence.tokens)


def test_lone_short_forms_take_initials_and_negatives_stay_outside() -> None:
    tokens = tokenize("BC patients took lithium .")
    lone = Sentence("d4:0", tokens, [Span(0, 1, "Disease", ("MESH:D001943",))], "d4")
    augmenter = KBSubstitutionAugmenter(
        ["synonym"], abbreviations=True, negatives=NegativeSampler(1, ["PHYS"])
    )
    synthetic = augmenter.generate([lone], context())
    assert replaced(synthetic, "BC") == ["BN", "BT", "CB", "MM"]
    [negative] = [s for s in synthetic if s.replacements[0].relation == "negative"]
    assert negative.sentence.tokens[0] == "MM" and negative.sentence.spans == []
    assert synthetic.stats["abbreviations/lone_short_forms"] == 1
    # a long form with a short form only takes names of 2+ initials, negatives too
    pair = KBSubstitutionAugmenter(
        ["synonym"], abbreviations=True, negatives=NegativeSampler(1, ["PHYS"])
    ).generate([abbreviation_sentence()], context())
    [pair_negative] = [
        s for s in pair
        if ("breast cancer", "negative") in [(r.original_text, r.relation) for r in s.replacements]
    ]  # fmt: skip
    assert pair_negative.sentence.tokens[2:7] == ["missense", "mutation", "(", "MM", ")"]
    assert [pair_negative.sentence.span_text(s) for s in pair_negative.sentence.spans] == [
        "lithium"
    ]


def test_a_short_form_under_another_label_is_not_the_long_forms() -> None:
    """The text "Breast Cancer ( BC )" twice in one sentence, as Disease and as Chemical (found
    by Hypothesis): the Chemical "BC" follows its own long form, so no Disease name renames it."""
    tokens = tokenize("Breast Cancer ( BC ) Breast Cancer ( BC ) .")
    spans = [
        Span(0, 2, "Disease"),
        Span(3, 4, "Disease"),
        Span(5, 7, "Chemical"),
        Span(8, 9, "Chemical"),
    ]
    augmenter = KBSubstitutionAugmenter(["synonym"], abbreviations=True, mentions_swapped="one")
    synthetic = augmenter.generate([Sentence("s0", tokens, spans, "")], context(seed=0))
    assert synthetic.sentences
    for item in synthetic:
        for replacement in item.replacements:
            if replacement.relation != "sample_mention":
                concept = KB.concept(replacement.replacement_concept_id)
                assert concept is not None
                assert concept.semantic_group in LABEL_GROUPS[replacement.label]
