"""Which labels the KB may augment: the "no harm" gates (docs/generality_safety.md).

A label whose sample mentions mostly fail to link into its scope gets few or no replacements,
yet its mentions would still take KB negatives: the synthetic set then teaches "this context
is not an entity" and nothing else (a gene corpus whose sample linked 0/7 lost 5.5 F1). Such a
label falls back to gold only; when no label is left, the set is empty and the run trains on
gold alone, as with `augmenter=none`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from hilgen.augment.substitution.candidates import SampleMention

logger = logging.getLogger(__name__)


def gated_labels(
    augmenter: str,
    mentions: Sequence[SampleMention],
    min_linked_share: float,
    counts: Counter[str],
) -> set[str]:
    """Labels at least `min_linked_share` of whose sample mentions linked into their scope
    (every label at 0: the gates are off); one WARNING per label that falls back, naming its
    linked count and the fix."""
    totals: Counter[str] = Counter(m.span.label for m in mentions)
    linked: Counter[str] = Counter(m.span.label for m in mentions if m.concept is not None)
    kept = set()
    for label in sorted(totals):
        counts[f"label/{label}/mentions"] = totals[label]
        counts[f"label/{label}/linked"] = linked[label]
        if min_linked_share == 0 or (
            linked[label] and linked[label] >= min_linked_share * totals[label]
        ):
            kept.add(label)
            continue
        counts["labels_fallback"] += 1
        logger.warning(
            "%s: label %r: only %d/%d sample mentions link into its KB scope (below "
            "augmenter.min_linked_share=%.2f), so it gets no substituted sentences and no "
            "negatives: it trains on its gold sentences only. Fix: widen its scope "
            "(dataset.label_groups={%s: auto} shows the types its mentions link to) or use a "
            "KB that holds its concepts (kb=...); docs/generality_safety.md",
            augmenter,
            label,
            linked[label],
            totals[label],
            min_linked_share,
            label,
        )
    counts["labels_augmented"] = len(kept)
    return kept


def labels_with_candidates(
    augmenter: str,
    mentions: Sequence[SampleMention],
    *,
    labels: set[str],
    without_relations: set[str],
    min_linked_share: float,
    counts: Counter[str],
) -> set[str]:
    """The gated labels that got at least one replacement name, and those the dataset keeps
    from every relation (`without_relations`: NCBI-Disease's CompositeMention), whose
    mentions still take negatives beside the others' replacements. A label that linked but
    got no name (all filtered) would otherwise take negatives only, so it falls back too
    (unless `min_linked_share` is 0: gates off); with no label that got a name, the set is
    empty."""
    if min_linked_share == 0:
        return labels
    kept = {m.span.label for m in mentions if m.span.label in labels and m.candidates}
    for label in sorted(labels - kept - without_relations):
        counts["labels_fallback"] += 1
        counts["labels_augmented"] -= 1
        logger.warning(
            "%s: label %r: its sample mentions link, but no replacement name passed the "
            "filters, so it gets no synthetic sentences and no negatives (gold only). Fix: a "
            "wider dataset.label_groups scope for it; docs/generality_safety.md",
            augmenter,
            label,
        )
    if not kept:
        counts["gold_only"] = 1
        counts["labels_augmented"] = 0
        logger.warning(
            "%s: no label can be augmented from the knowledge base, so the synthetic set is "
            "empty and this run trains on the gold sample alone (as augmenter=none); "
            "docs/generality_safety.md",
            augmenter,
        )
        return kept
    return kept | (labels & without_relations)
