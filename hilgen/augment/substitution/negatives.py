"""Negative sampling: off-label KB names that teach a tagger what is not an entity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hilgen.augment.base import AugmentContext
from hilgen.kb.base import KnowledgeBase
from hilgen.kb.label_groups import negative_names


@dataclass(frozen=True)
class NegativeSampler:
    """Off-label KB names to put in a mention's place, tagged O: `per_mention` per mention
    (0 = off), drawn from a pool of `pool_size` concepts of the semantic groups or types in
    `groups`, less any a label of the dataset covers."""

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
        return negative_names(kb, self.groups, context.label_groups, self.pool_size, seed)
