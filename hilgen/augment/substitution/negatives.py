"""Negative sampling: off-label KB names that teach a tagger what is not an entity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hilgen.augment.base import AugmentContext
from hilgen.kb.base import KnowledgeBase


@dataclass(frozen=True)
class NegativeSampler:
    """Off-label KB names to put in a mention's place, tagged O: `per_mention` per mention
    (0 = off), drawn from a pool of `pool_size` concepts of the semantic `groups` that no label
    of the dataset allows."""

    per_mention: int = 0
    groups: Sequence[str] = ("ANAT", "CHEM", "GENE", "PHYS", "PROC")
    pool_size: int = 3000

    def pool(self, kb: KnowledgeBase, context: AugmentContext, seed: int) -> list[tuple[str, str]]:
        """Names of concepts from semantic groups that no label allows (genes, anatomy,
        physiology, ... for a disease task): the near-miss words a few-shot tagger confuses
        with entities (trained on synthetic copies alone, it tags gene and variant words such
        as "exon" or "allele" as diseases)."""
        if self.per_mention < 1:
            return []
        allowed = {g for groups in context.label_groups.values() for g in groups}
        groups = [g for g in self.groups if g not in allowed]
        concepts = kb.sample_concepts(groups, self.pool_size, seed)
        names: list[tuple[str, str]] = []
        for concept in concepts:
            name = concept.preferred_name
            if any(c.semantic_group in allowed for c in kb.find_by_name(name)):
                continue  # also a name of an on-label concept: not a safe negative
            names.append((name, concept.concept_id))
        return names
