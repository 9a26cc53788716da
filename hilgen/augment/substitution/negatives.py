"""Negative sampling: off-label KB names that teach a tagger what is not an entity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hilgen.augment.base import AugmentContext
from hilgen.kb.base import KnowledgeBase
from hilgen.kb.label_groups import negative_names

# The pseudo-label under which the sample mentions' own groups join the scopes negatives avoid.
SAMPLE_SCOPE = "(sample mentions)"


@dataclass(frozen=True)
class NegativeSampler:
    """Off-label KB names to put in a mention's place, tagged O: `per_mention` per mention
    (0 = off), drawn from a pool of `pool_size` concepts of the semantic groups or types in
    `groups`, less any a label of the dataset covers. With `skip_sample_groups`, also less any
    group a sample mention links to (on its label's scope or not): a gene corpus whose proteins
    link to CHEM must not see CHEM names tagged O (docs/generality_safety.md#negatives).
    Without `short_forms` (the default), no negative is written as a short form: a gene's
    symbol ("ITPA") gives way to its name written out ("inosine triphosphatase"): higher on
    most corpus settings with BERT and with DANN (docs/generality.md#gene-symbols-as-negatives)."""

    per_mention: int = 0
    groups: Sequence[str] = ("ANAT", "CHEM", "GENE", "PHYS", "PROC")
    pool_size: int = 3000
    skip_sample_groups: bool = False
    short_forms: bool = False

    def pool(
        self,
        kb: KnowledgeBase,
        context: AugmentContext,
        seed: int,
        sample_groups: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        """Names of concepts from semantic groups that no label allows (genes, anatomy,
        physiology, ... for a disease task): the near-miss words a few-shot tagger confuses
        with entities (trained on synthetic copies alone, it tags gene and variant words such
        as "exon" or "allele" as diseases). `sample_groups` are the groups the sample's
        mentions link to, skipped too under `skip_sample_groups`."""
        if self.per_mention < 1:
            return []
        scopes = dict(context.label_groups)
        if self.skip_sample_groups and sample_groups:
            scopes[SAMPLE_SCOPE] = list(sample_groups)
        return negative_names(
            kb,
            self.groups,
            scopes,
            pool_size=self.pool_size,
            seed=seed,
            short_forms=self.short_forms,
        )
