"""A hand-built in-memory knowledge base (and a simple linker) for tests.

`InMemoryKB` implements the `hilgen.kb.base.KnowledgeBase` protocol over a list of concepts,
is-a edges and explicit relatedness scores, so tests know the right answer for every query.
`demo_kb()` is a tiny MeSH-like world around breast cancer and lithium that contains the
traps a naive substitution falls into: inverted headings, NOS/qualifier variants, digits
("Lithium 7"), a supplementary-record brand name, an off-group child, a far sibling and a
cross-group name.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from hilgen.kb.base import Concept, RelatedConcept
from hilgen.kb.names import normalise_name
from hilgen.kb.semantic_groups import concept_in_scope


def _normalise(name: str) -> str:
    return " ".join(re.findall(r"\w+", name.casefold()))


class InMemoryKB:
    """A KnowledgeBase over explicit data.

    `is_a` holds ``(child_id, parent_id)`` pairs; `relatedness` maps an unordered concept pair
    to a score used to rank siblings and same-type concepts (0.1 when not given).
    """

    def __init__(
        self,
        concepts: Iterable[Concept],
        is_a: Iterable[tuple[str, str]] = (),
        relatedness: dict[frozenset[str], float] | None = None,
        version: str = "test-fixture",
    ) -> None:
        self.version = version
        self._concepts = {c.concept_id: c for c in concepts}
        self._xrefs: dict[str, str] = {}
        self._names: dict[str, list[str]] = defaultdict(list)
        for concept in self._concepts.values():
            for ids in concept.xrefs.values():
                for xref in ids:
                    self._xrefs.setdefault(xref, concept.concept_id)
            for name in concept.names:
                key = _normalise(name)
                if concept.concept_id not in self._names[key]:
                    self._names[key].append(concept.concept_id)
        self._parents: dict[str, list[str]] = defaultdict(list)
        self._children: dict[str, list[str]] = defaultdict(list)
        for child, parent in is_a:
            self._parents[child].append(parent)
            self._children[parent].append(child)
        self._relatedness = relatedness or {}

    def sample_concepts(self, groups: Iterable[str], count: int, seed: int = 0) -> list[Concept]:
        wanted = set(groups)
        pool = sorted(
            (
                c
                for c in self._concepts.values()
                if concept_in_scope(c, wanted) and not c.is_supplementary
            ),
            key=lambda c: c.concept_id,
        )
        random.Random(seed).shuffle(pool)
        return pool[:count]

    def iter_names(
        self, groups: Iterable[str] | None = None, include_supplementary: bool = True
    ) -> Iterator[tuple[str, str, str]]:
        wanted = set(groups) if groups else None
        for concept in self._concepts.values():
            if wanted is not None and concept.semantic_group not in wanted:
                continue
            if concept.is_supplementary and not include_supplementary:
                continue
            for name in concept.names:
                yield normalise_name(name), concept.concept_id, concept.semantic_group

    def concept(self, concept_id: str) -> Concept | None:
        found = self._concepts.get(concept_id) or self._concepts.get(
            self._xrefs.get(concept_id, "")
        )
        if found is None and ":" not in concept_id:
            return self.concept(f"MESH:{concept_id}")
        return found

    def find_by_name(self, name: str) -> list[Concept]:
        return [self._concepts[cid] for cid in self._names.get(_normalise(name), [])]

    def parents(self, concept_id: str) -> list[Concept]:
        return [self._concepts[p] for p in self._parents.get(concept_id, [])]

    def children(self, concept_id: str) -> list[Concept]:
        return [self._concepts[c] for c in self._children.get(concept_id, [])]

    def score(self, first: str, second: str) -> float:
        return self._relatedness.get(frozenset((first, second)), 0.1)

    def siblings(self, concept_id: str, limit: int | None = None) -> list[RelatedConcept]:
        sibling_ids: dict[str, None] = {}
        for parent in self._parents.get(concept_id, []):
            for child in self._children[parent]:
                if child != concept_id:
                    sibling_ids.setdefault(child, None)
        ranked = sorted(sibling_ids, key=lambda c: -self.score(concept_id, c))
        related = [
            RelatedConcept(self._concepts[c], "sibling", self.score(concept_id, c)) for c in ranked
        ]
        return related if limit is None else related[:limit]

    def related_same_type(self, concept_id: str, limit: int = 10) -> list[RelatedConcept]:
        source = self._concepts[concept_id]
        same_type = [
            c
            for c in self._concepts.values()
            if c.concept_id != concept_id and set(c.semantic_types) & set(source.semantic_types)
        ]
        ranked = sorted(
            same_type, key=lambda c: (-self.score(concept_id, c.concept_id), c.concept_id)
        )
        return [
            RelatedConcept(c, "same_type", self.score(concept_id, c.concept_id))
            for c in ranked[:limit]
        ]


@dataclass(frozen=True)
class FixtureLink:
    concept: Concept
    method: str
    score: float


class FixtureLinker:
    """Links by gold concept ID first, then by exact (normalised) name within `groups`; nothing
    approximate. Same call shape as `hilgen.kb.linker.Linker.link`."""

    def __init__(self, kb: InMemoryKB) -> None:
        self.kb = kb

    def link(
        self, mention: str, gold_ids: Sequence[str] = (), groups: Iterable[str] | None = None
    ) -> list[FixtureLink]:
        gold = [FixtureLink(c, "gold", 1.0) for i in gold_ids if (c := self.kb.concept(i))]
        if gold:
            return gold
        wanted = set(groups) if groups is not None else None
        by_name = [
            c
            for c in self.kb.find_by_name(mention)
            if wanted is None or concept_in_scope(c, wanted)
        ]
        return [FixtureLink(by_name[0], "exact", 1.0)] if by_name else []


def _disease(cid: str, name: str, *synonyms: str, tui: str = "T191", group: str = "DISO"):
    return Concept(f"MESH:{cid}", name, synonyms, (tui,), group, {"MESH": (cid,)}, "mesh")


def _chemical(cid: str, name: str, *synonyms: str, tui: str = "T196", source: str = "mesh"):
    return Concept(f"MESH:{cid}", name, synonyms, (tui,), "CHEM", {"MESH": (cid,)}, source)


LABEL_GROUPS = {"Disease": ["DISO"], "Chemical": ["CHEM"]}


def demo_kb() -> InMemoryKB:
    """The hand-built KB the augmenter tests use (IDs look like MeSH, names are real)."""
    concepts = [
        _disease("D009369", "Neoplasms", "Tumors", "Neoplasia"),
        _disease(
            "D001943",
            "Breast Neoplasms",
            "Breast Cancer",
            "Neoplasms, Breast",
            "Breast Tumors",
            "Cancer of Breast",
            "Breast Neoplasm NOS",
            "Breast cancer [X]",
            "Malignant neoplasm of breast (disorder)",
            "Breast Tumors",
        ),
        _disease("D018567", "Breast Neoplasms, Male", "Male Breast Cancer"),
        _disease("D018270", "Carcinoma, Ductal, Breast", "Ductal Carcinoma of the Breast"),
        _disease("D008175", "Lung Neoplasms", "Lung Cancer"),
        _disease("D010190", "Pancreatic Neoplasms", "Pancreatic Cancer"),
        _disease("D010051", "Ovarian Neoplasms", "Ovarian Cancer"),
        _disease("D011471", "Prostatic Neoplasms", "Prostate Cancer"),
        Concept(
            "MONDO:0001234",
            "developmental dysplasia of the hip",
            (),
            ("T019",),
            "DISO",
            {},
            "mondo",
        ),
        Concept("HGNC:1100", "BRCA1 Protein", ("BRCA1",), ("T116",), "GENE", {}, "hgnc"),
        Concept("MESH:D009154", "Missense Mutation", ("Mutations",), ("T045",), "PHYS", {}, "mesh"),
        _disease("D003139", "Common Cold", "Cold", "Head Cold", tui="T047"),
        Concept(
            "MESH:D003080",
            "Cold Temperature",
            ("Cold",),
            ("T070",),
            "PHEN",
            {"MESH": ("D003080",)},
            "mesh",
        ),
        _chemical("D008094", "Lithium", "Lithium 7", "Li", "Lithium-7"),
        _chemical("D000470", "Metals, Alkali", "Alkali Metals"),
        _chemical("D016651", "Lithium Carbonate", "Carbonate, Lithium", "Eskalith"),
        _chemical("C000123", "Lithobid", source="mesh_supp"),
        _chemical("D012964", "Sodium", "Sodium-23"),
        _chemical("D011188", "Potassium"),
        _chemical("D012642", "Selegiline", "Deprenyl", "Eldepryl", tui="T109"),
        _chemical("D014635", "Valproic Acid", "Valproate", tui="T109"),
    ]
    is_a = [
        ("MESH:D001943", "MESH:D009369"),
        ("MESH:D008175", "MESH:D009369"),
        ("MESH:D010190", "MESH:D009369"),
        ("MONDO:0001234", "MESH:D009369"),
        ("MESH:D018567", "MESH:D001943"),
        ("MESH:D018270", "MESH:D001943"),
        ("HGNC:1100", "MESH:D001943"),
        ("MESH:D008094", "MESH:D000470"),
        ("MESH:D012964", "MESH:D000470"),
        ("MESH:D011188", "MESH:D000470"),
        ("MESH:D016651", "MESH:D008094"),
        ("MESH:C000123", "MESH:D008094"),
    ]
    relatedness = {
        frozenset(("MESH:D001943", "MESH:D008175")): 0.8,
        frozenset(("MESH:D001943", "MESH:D010190")): 0.6,
        frozenset(("MESH:D001943", "MONDO:0001234")): 0.05,
        frozenset(("MESH:D001943", "MESH:D010051")): 0.9,
        frozenset(("MESH:D001943", "MESH:D011471")): 0.7,
        frozenset(("MESH:D008094", "MESH:D012964")): 0.7,
        frozenset(("MESH:D008094", "MESH:D011188")): 0.6,
    }
    return InMemoryKB(concepts, is_a, relatedness)
