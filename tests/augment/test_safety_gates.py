"""The "no harm" gates of KB substitution (docs/generality_safety.md): a label whose sample
links poorly falls back to gold only, negatives go only where a label was augmented, and the
two specificity switches (mention types, the sample's own groups out of the negatives)."""

from __future__ import annotations

import logging

import pytest

from hilgen.augment.base import AugmentContext
from hilgen.augment.substitution import KBSubstitutionAugmenter, NegativeSampler
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from tests.augment.test_substitution import breast_lithium
from tests.helpers.augment_context import fixture_context
from tests.helpers.kb_fixture import demo_kb

KB = demo_kb()


def context(**overrides: object) -> AugmentContext:
    return fixture_context(KB, **overrides)


def selegiline() -> Sentence:
    """A Chemical the KB links by name and a Disease ("hypotension") it does not know."""
    tokens = tokenize("Selegiline induced hypotension in patients .")
    return Sentence("d2:0", tokens, [Span(0, 1, "Chemical"), Span(2, 3, "Disease")], "d2")


def breast_cancer() -> Sentence:
    """A Disease mention with its gold MeSH id: it links."""
    tokens = tokenize("Women with breast cancer were treated .")
    return Sentence("d1:0", tokens, [Span(2, 4, "Disease", ("MESH:D001943",))], "d1")


def hypotension() -> Sentence:
    tokens = tokenize("Hypotension was seen in two patients .")
    return Sentence("d5:0", tokens, [Span(0, 1, "Disease")], "d5")


def negatives_of(synthetic, mention: str) -> list[str]:
    return [
        r.replacement_text
        for s in synthetic
        for r in s.replacements
        if r.relation == "negative" and r.original_text == mention
    ]


def hilgen_like(**overrides: object) -> KBSubstitutionAugmenter:
    values: dict[str, object] = {
        "relations": ["synonym", "same_type", "sibling"],
        "name": "hilgen",
        "negatives": NegativeSampler(2, ["GENE", "PHYS"]),
        "mentions_swapped": "all",
        "min_linked_share": 0.5,
    }
    values.update(overrides)
    return KBSubstitutionAugmenter(**values)  # type: ignore[arg-type]


def test_a_label_whose_sample_does_not_link_gets_no_sentences_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        synthetic = hilgen_like().generate([selegiline()], context())
    # the Chemical is augmented and takes negatives; the unlinked Disease takes neither
    assert negatives_of(synthetic, "Selegiline")
    assert not negatives_of(synthetic, "hypotension")
    assert all(r.label == "Chemical" for s in synthetic for r in s.replacements)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'Disease'" in warnings[0] and "0/1" in warnings[0]
    assert "label_groups" in warnings[0]
    assert synthetic.stats["labels_fallback"] == 1
    assert synthetic.stats["labels_augmented"] == 1
    assert (synthetic.stats["label/Disease/linked"], synthetic.stats["label/Chemical/linked"]) == (
        0,
        1,
    )
    # without the gate the unlinked Disease mention took negatives: sentences that only say
    # "this context is no entity"
    ungated = hilgen_like(min_linked_share=0.0).generate([selegiline()], context())
    assert negatives_of(ungated, "hypotension")


def test_a_label_kept_from_every_relation_still_takes_negatives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # NCBI-Disease's CompositeMention: label_relations [] by design, so it gets no names; it
    # is no fallback (no warning), and its mention still takes negatives beside the others'
    # replacements, as without the gates
    sample = [breast_lithium()]
    kept_out = context(label_relations={"Chemical": []})
    with caplog.at_level(logging.WARNING):
        synthetic = hilgen_like().generate(sample, kept_out)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert synthetic.stats["labels_fallback"] == 0
    assert synthetic.stats["labels_augmented"] == 2
    assert negatives_of(synthetic, "lithium")
    assert {r.label for s in synthetic for r in s.replacements if r.relation != "negative"} == {
        "Disease"
    }
    ungated = hilgen_like(min_linked_share=0.0).generate(sample, kept_out)
    assert negatives_of(synthetic, "lithium") == negatives_of(ungated, "lithium")
    # a sample whose only label keeps no relation has no name to give: gold only, as before
    alone = hilgen_like().generate(sample, context(label_relations={"Chemical": [], "Disease": []}))
    assert len(alone) == 0 and alone.stats["gold_only"] == 1
    assert alone.stats["labels_augmented"] == 0


def test_no_label_left_means_an_empty_set_and_a_gold_only_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        synthetic = hilgen_like().generate([hypotension()], context())
    assert len(synthetic) == 0
    assert synthetic.stats["gold_only"] == 1
    assert any("gold sample alone" in r.getMessage() for r in caplog.records)
    ungated = hilgen_like(min_linked_share=0.0).generate([hypotension()], context())
    assert len(ungated) > 0 and all(
        r.relation == "negative" for s in ungated for r in s.replacements
    )


def test_the_share_is_per_label_and_counts_every_mention() -> None:
    # Disease: breast cancer links, hypotension does not -> 1/2 linked
    sample = [breast_cancer(), hypotension()]
    half = hilgen_like(min_linked_share=0.5).generate(sample, context())
    assert half.stats["labels_augmented"] == 1
    assert negatives_of(half, "breast cancer")
    strict = hilgen_like(min_linked_share=0.6).generate(sample, context())
    assert strict.stats["labels_fallback"] == 1 and len(strict) == 0


def test_min_linked_share_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="min_linked_share must be between 0 and 1"):
        hilgen_like(min_linked_share=1.5)


def test_match_mention_types_keeps_related_concepts_of_the_mentions_types() -> None:
    sample = [breast_cancer()]
    wide = hilgen_like(relations=["sibling"], top_k=10, negatives=NegativeSampler())
    typed = hilgen_like(
        relations=["sibling"], top_k=10, negatives=NegativeSampler(), match_mention_types=True
    )
    names = {r.replacement_text for s in wide.generate(sample, context()) for r in s.replacements}
    typed_set = typed.generate(sample, context())
    typed_names = {r.replacement_text for s in typed_set for r in s.replacements}
    # the hip dysplasia (T019) is a DISO sibling of breast cancer (T191), not of its type
    assert "developmental dysplasia of the hip" in names
    assert "developmental dysplasia of the hip" not in typed_names
    assert typed_names == names - {"developmental dysplasia of the hip"}
    assert typed_set.stats["rejected/other_type"] == 1


def test_skip_sample_groups_keeps_the_samples_own_groups_out_of_the_negatives() -> None:
    # "lithium" annotated as a Gene (scope GENE) links to CHEM: the corpus annotates CHEM names
    tokens = tokenize("Women with breast cancer were treated with lithium .")
    sample = [
        Sentence("d1:0", tokens, [Span(2, 4, "Disease", ("MESH:D001943",)), Span(7, 8, "Gene")])
    ]
    groups = {"Disease": ["DISO"], "Gene": ["GENE"]}
    kept = {}
    for skip in (False, True):
        augmenter = hilgen_like(negatives=NegativeSampler(8, ["CHEM", "PHYS"], 3000, skip))
        synthetic = augmenter.generate(
            sample, context(labels=["Disease", "Gene"], label_groups=groups)
        )
        kept[skip] = {
            KB.concept(r.replacement_concept_id).semantic_group
            for s in synthetic
            for r in s.replacements
            if r.relation == "negative"
        }
        assert synthetic.stats["sample_group/CHEM"] == 1
    assert "CHEM" in kept[False]
    assert kept[True] == {"PHYS"}


def test_match_mention_level_gives_a_leaf_mention_only_leaves() -> None:
    # lithium carbonate is a leaf; its parent lithium (a class here, with children) is not
    tokens = tokenize("Women were treated with lithium carbonate .")
    sample = [Sentence("d6:0", tokens, [Span(4, 6, "Chemical", ("MESH:D016651",))], "d6")]
    relations = ["parent", "sibling"]
    wide = hilgen_like(relations=relations, negatives=NegativeSampler())
    level = hilgen_like(relations=relations, negatives=NegativeSampler(), match_mention_level=True)
    wide_names = {
        r.replacement_text for s in wide.generate(sample, context()) for r in s.replacements
    }
    leveled = level.generate(sample, context())
    assert "lithium" in wide_names
    assert not {r.replacement_text for s in leveled for r in s.replacements} & {"lithium", "li"}
    assert leveled.stats["rejected/other_level"] >= 1
