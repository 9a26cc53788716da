"""How far a model trained on the gold sample alone agrees with a synthetic set's tags.

This is the measurement behind consistency filtering (drop the synthetic sentences a
gold-trained model contradicts): before filtering on it, see how often the "teacher" agrees at
all. Sentences are counted apart by kind, as they teach different things: `negative` ones put
an off-label KB name in a mention's place, tagged O; every other sentence is `positive` (new
names in entity slots, or an LLM's sentence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from hilgen.augment.base import SyntheticSet
from hilgen.data.iob import tags_to_spans
from hilgen.evaluate.tables import format_table

KINDS = ("positive", "negative")


@dataclass
class TeacherAgreement:
    """Counts over the synthetic sentences of one kind.

    `agree`: the teacher's entities are exactly the synthetic ones. `extra_entity`: the teacher
    tags an entity the synthetic sentence does not have. `all_missed`: the sentence has
    entities and the teacher finds none of them exactly. A sentence can be both of the last two.
    """

    sentences: int = 0
    agree: int = 0
    extra_entity: int = 0
    all_missed: int = 0
    synthetic_entities: int = 0
    teacher_entities: int = 0
    exact_entities: int = 0

    def as_metrics(self, kind: str) -> dict[str, float]:
        return {f"teacher/{kind}/{f.name}": float(getattr(self, f.name)) for f in fields(self)}


def teacher_agreement(
    synthetic: SyntheticSet, teacher_tags: Sequence[Sequence[str]]
) -> dict[str, TeacherAgreement]:
    """Agreement counts per kind (`KINDS`) between the synthetic tags and the teacher's IOB2
    tags, one tag sequence per synthetic sentence in order."""
    if len(teacher_tags) != len(synthetic):
        raise ValueError(
            f"{len(teacher_tags)} tag sequences for {len(synthetic)} synthetic sentences"
        )
    counts = {kind: TeacherAgreement() for kind in KINDS}
    for item, tags in zip(synthetic, teacher_tags, strict=True):
        negative = any(r.negative for r in item.replacements)
        agreement = counts["negative" if negative else "positive"]
        expected = {(s.start, s.end, s.label) for s in item.sentence.spans}
        found = {(s.start, s.end, s.label) for s in tags_to_spans(tags)}
        exact = expected & found
        agreement.sentences += 1
        agreement.agree += found == expected
        agreement.extra_entity += bool(found - expected)
        agreement.all_missed += bool(expected) and not exact
        agreement.synthetic_entities += len(expected)
        agreement.teacher_entities += len(found)
        agreement.exact_entities += len(exact)
    return counts


def agreement_table(agreement: dict[str, TeacherAgreement]) -> str:
    """Markdown: one row per kind, sentence counts with their share of the kind."""
    headers = ["kind", "sentences", "agree", "extra entity", "all missed", "exact entities"]
    rows = []
    for kind, counts in agreement.items():
        share = max(counts.sentences, 1)
        rows.append(
            [
                kind,
                counts.sentences,
                *(
                    f"{n} ({100 * n / share:.0f}%)"
                    for n in (counts.agree, counts.extra_entity, counts.all_missed)
                ),
                f"{counts.exact_entities} of {counts.synthetic_entities}",
            ]
        )
    return format_table(headers, rows)
