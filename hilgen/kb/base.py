"""The knowledge-base interface that augmenters use, whatever the source (open build or UMLS)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Concept:
    """A concept with its names, semantic grouping and cross-references.

    `semantic_types` are UMLS TUIs (e.g. ``T047``) where known; `semantic_group` is the coarse
    UMLS group (``DISO``, ``CHEM``, ...) that augmenters use to keep a replacement within the
    entity's label. `synonyms` are in reading order: inverted MeSH headings ("Neoplasms,
    Breast") are rewritten ("Breast Neoplasms") or dropped when that repeats a name, though the
    inverted forms still match in `find_by_name`. `xrefs` maps a vocabulary (``UMLS``, ``MESH``,
    ``OMIM``, ``SNOMEDCT_US``, ``DOID``, ``MONDO``, ``HP``) to its identifiers for this concept.
    """

    concept_id: str
    preferred_name: str
    synonyms: tuple[str, ...] = ()
    semantic_types: tuple[str, ...] = ()
    semantic_group: str = ""
    xrefs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""
    # A MeSH supplementary record (a chemical, brand name or mixture filed under headings):
    # augmenters should not offer these as children of their headings.
    is_supplementary: bool = False
    definition: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Preferred name first, then synonyms, without duplicates."""
        seen: dict[str, None] = {self.preferred_name: None}
        for name in self.synonyms:
            seen.setdefault(name, None)
        return tuple(seen)


@dataclass(frozen=True)
class RelatedConcept:
    """A concept related to another, with how it is related and a relatedness score in [0, 1]."""

    concept: Concept
    relation: str  # "synonym", "same_type", "parent", "child", "sibling"
    score: float = 1.0


@runtime_checkable
class KnowledgeBase(Protocol):
    """What augmenters and linkers may ask of a knowledge base."""

    version: str

    def concept(self, concept_id: str) -> Concept | None:
        """The concept with this ID, or one whose cross-reference is this ID (e.g. MESH:D003924,
        OMIM:114480, a bare MeSH ``D003924``)."""
        ...

    def find_by_name(self, name: str) -> list[Concept]:
        """Concepts with this name after normalisation (case, punctuation, whitespace)."""
        ...

    def parents(self, concept_id: str) -> list[Concept]: ...

    def children(self, concept_id: str) -> list[Concept]: ...

    def siblings(self, concept_id: str, limit: int | None = None) -> list[RelatedConcept]:
        """Other children of the concept's parents, closest first."""
        ...

    def related_same_type(self, concept_id: str, limit: int = 10) -> list[RelatedConcept]:
        """Concepts of the same semantic type ranked by relatedness to `concept_id`."""
        ...

    def sample_concepts(self, groups: Iterable[str], count: int, seed: int = 0) -> list[Concept]:
        """Up to `count` concepts of the given semantic groups (no supplementary records), in a
        seeded pseudo-random order: the pool of negative examples for augmenters."""
        ...

    def iter_names(
        self, groups: Iterable[str] | None = None, include_supplementary: bool = True
    ) -> Iterator[tuple[str, str, str]]:
        """(normalised name, concept ID, semantic group) for every name: what name matching
        (the linker's index, the dictionary augmenter) searches."""
        ...


@runtime_checkable
class LinkedConcept(Protocol):
    """What a linker returns for a mention: the concept, how it was found, and how sure."""

    @property
    def concept(self) -> Concept: ...

    @property
    def method(self) -> str: ...  # "gold", "exact" or "approximate"

    @property
    def score(self) -> float: ...


@runtime_checkable
class MentionLinker(Protocol):
    """Links a mention to KB concepts (`hilgen.kb.linker.Linker` has this shape).

    `gold_ids` are the corpus's concept IDs for the mention, tried first; `groups` restricts
    name matches to the label's semantic groups. Several links come back for a composite
    mention with several gold IDs; none when nothing matches well enough.
    """

    def link(
        self, mention: str, gold_ids: Sequence[str] = (), groups: Iterable[str] | None = None
    ) -> Sequence[LinkedConcept]: ...
