"""The semantic-group census behind a dataset's label_groups (hilgen.reporting.group_census)."""

from __future__ import annotations

from hilgen.data.types import Corpus, Sentence, Span
from hilgen.reporting.group_census import census_table, group_census
from tests.helpers.kb_fixture import FixtureLinker, demo_kb


def test_census_counts_every_occurrence_in_its_linked_group() -> None:
    train = [
        Sentence(
            "a:0",
            ["Lithium", "caused", "breast", "cancer"],
            [Span(0, 1, "Drug"), Span(2, 4, "Effect")],
        ),
        Sentence(
            "a:1", ["Lithium", "and", "mutations"], [Span(0, 1, "Drug"), Span(2, 3, "Effect")]
        ),
        Sentence(
            "a:2", ["xyzzy", "cold"], [Span(0, 1, "Drug"), Span(1, 2, "Effect", ("MESH:D003139",))]
        ),
    ]
    corpus = Corpus("toy", ["Drug", "Effect"], train, [], [])
    census = group_census(corpus, FixtureLinker(demo_kb()))  # type: ignore[arg-type]
    drug, effect = census["Drug"], census["Effect"]
    assert (drug.mentions, drug.unlinked, dict(drug.groups)) == (3, 1, {"CHEM": 2})
    # "cold" follows its gold ID to the disease, not the name's first (temperature) concept
    assert dict(effect.groups) == {"DISO": 2, "PHYS": 1}
    assert dict(effect.methods) == {"exact": 2, "gold": 1}
    table = census_table(census)
    assert "| Drug " in table and "66.7% of mentions" in table and "100.0% of linked" in table
