"""Which KB concepts may give names to a dictionary, learnt from the few-shot sample.

A KB files more under a semantic group than a corpus annotates: MeSH puts proteins, enzymes,
receptors and dosage forms under Chemicals and Drugs, and its broad classes ("Pharmaceutical
Preparations" = "drugs", "Proteins") are names too, but BC5CDR tags none of them as Chemical.
NCBI-Disease, on the other hand, tags disease classes ("cancer", "tumours"). The sample says
which reading a corpus takes: its gold mentions are linked to concepts, and

- a *doubtful branch* (configured per semantic group, e.g. MeSH Proteins under CHEM) gives
  names only if some sample mention of that group links to a concept inside it; a concept
  that MeSH also files elsewhere (Calcium, a blood coagulation factor and an alkaline earth
  metal) is inside only if every path up from it within its group passes through a doubtful
  branch (Placebos, under Pharmaceutical Preparations and the procedure Therapeutics, is);
- a concept with more is-a children than any sample concept of its group and than the
  group's `min_class_children` is a class the corpus does not tag at that level (chemical
  corpora tag substances, not "drugs"; disease corpora do tag "cancer", so DISO has no limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hilgen.kb.base import KnowledgeBase


class ConceptGate:
    """Decides, per concept and semantic group, whether its names may tag (see module doc).

    `sample_concepts` maps a semantic group to the concepts the sample's gold mentions of
    that group link to. Answers are cached: each concept's ancestors are asked once.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        sample_concepts: Mapping[str, Iterable[str]],
        doubtful_branches: Mapping[str, Sequence[str]],
        min_class_children: Mapping[str, int],
    ) -> None:
        self._kb = kb
        self._ancestors: dict[str, frozenset[str]] = {}
        self._escapes: dict[tuple[str, frozenset[str]], bool] = {}
        self._children: dict[str, int] = {}
        self._allowed: dict[tuple[str, str], bool] = {}
        self.blocked_branches: dict[str, set[str]] = {}
        for group, branches in doubtful_branches.items():
            known = list(sample_concepts.get(group, ()))
            vouched = {b for b in branches for c in known if b in self.lineage(c)}
            self.blocked_branches[group] = set(branches) - vouched
        self._min_class_children = min_class_children
        self._widest = {
            group: max((self.children(c) for c in concepts), default=0)
            for group, concepts in sample_concepts.items()
            if group in min_class_children
        }

    def children_limit(self, group: str) -> float:
        """The most is-a children a concept of `group` may have and still give names."""
        if group not in self._min_class_children:
            return float("inf")
        return max(self._min_class_children[group], self._widest.get(group, 0))

    def children(self, concept_id: str) -> int:
        if concept_id not in self._children:
            self._children[concept_id] = len(self._kb.children(concept_id))
        return self._children[concept_id]

    def lineage(self, concept_id: str) -> frozenset[str]:
        """The concept and all its is-a ancestors."""
        if concept_id in self._ancestors:
            return self._ancestors[concept_id]
        self._ancestors[concept_id] = frozenset({concept_id})  # cycles end here
        found = {concept_id}
        for parent in self._kb.parents(concept_id):
            found |= self.lineage(parent.concept_id)
        self._ancestors[concept_id] = frozenset(found)
        return self._ancestors[concept_id]

    def allows(self, concept_id: str, group: str) -> bool:
        key = (concept_id, group)
        if key not in self._allowed:
            blocked = self.blocked_branches.get(group, set())
            limit = self.children_limit(group)
            # counting children asks the KB: only where a limit is configured
            self._allowed[key] = (limit == float("inf") or self.children(concept_id) <= limit) and (
                not blocked or self._escapes_branches(concept_id, group, frozenset(blocked))
            )
        return self._allowed[key]

    def _escapes_branches(self, concept_id: str, group: str, blocked: frozenset[str]) -> bool:
        """Whether some path up from the concept through parents of its group reaches the top
        of the group without entering `blocked`."""
        key = (concept_id, blocked)
        if key not in self._escapes:
            if concept_id in blocked:
                return False
            self._escapes[key] = False  # cycles do not escape
            parents = [p for p in self._kb.parents(concept_id) if p.semantic_group == group]
            self._escapes[key] = not parents or any(
                self._escapes_branches(p.concept_id, group, blocked) for p in parents
            )
        return self._escapes[key]
