"""Entity-level combination of several runs' predictions on the same sentences.

Each run's IOB2 tags become spans; a span `(start, end, label)` is scored by the summed weights
of the runs that predicted it exactly; a rule decides which spans are accepted; overlapping
accepted spans are resolved greedily (highest score, then longest, then leftmost), so the result
is always flat, valid IOB2 whatever the inputs looked like.

The protocol is honest by construction: a rule is *chosen* from dev predictions only
(`Ensembler.choose` never sees test predictions) and then *applied* to dev and test alike.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from hilgen.data.iob import spans_to_tags, tags_to_spans
from hilgen.data.types import Span, TaggedPrediction
from hilgen.evaluate.metrics import score_predictions

Members = Sequence[Sequence[TaggedPrediction]]


def align(members: Members, names: Sequence[str]) -> list[list[TaggedPrediction]]:
    """The members' predictions in the first member's sentence order.

    Every member must cover the same sentences with the same tokens and gold tags (runs of one
    seed share their dev sample and test split); a mismatch names the member so that the user can
    drop it from the selection.
    """
    if len(members) != len(names):
        raise ValueError(f"{len(members)} members but {len(names)} names")
    if not members:
        raise ValueError("nothing to combine: no member predictions")
    reference = members[0]
    order = [p.sentence_id for p in reference]
    aligned: list[list[TaggedPrediction]] = [list(reference)]
    for member, name in zip(members[1:], names[1:], strict=True):
        by_id = {p.sentence_id: p for p in member}
        if set(by_id) != set(order) or len(by_id) != len(member):
            missing = sorted(set(order) - set(by_id))[:3]
            extra = sorted(set(by_id) - set(order))[:3]
            raise ValueError(
                f"{name}: its sentences differ from those of {names[0]} (missing {missing}, "
                f"extra {extra}); combine only runs evaluated on the same sentences (same seed, "
                "dev_set and limit_test_sentences)"
            )
        for first in reference:
            other = by_id[first.sentence_id]
            if other.tokens != first.tokens or other.gold != first.gold:
                raise ValueError(
                    f"{name}: sentence {first.sentence_id} has other tokens or gold tags than "
                    f"in {names[0]}; the runs were not evaluated on the same data"
                )
        aligned.append([by_id[sentence_id] for sentence_id in order])
    return aligned


def dev_f1_weights(dev_members: Members) -> list[float]:
    """Each member's F1 (%) on the dev predictions: the votes' weights, never from test."""
    return [score_predictions(member).f1 for member in dev_members]


def usable_weights(weights: Sequence[float]) -> list[float]:
    """The weights, or equal weights where they carry no information (all zero)."""
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must not be negative, got {list(weights)}")
    if sum(weights) <= 0:
        return [1.0] * len(weights)
    return [float(w) for w in weights]


@dataclass(frozen=True)
class Support:
    """How strongly the members back one span."""

    weight: float  # summed weights of the members that predicted it
    count: int  # number of members that predicted it


def resolve_overlaps(candidates: dict[Span, Support]) -> list[Span]:
    """A flat set of spans: greedily keep the best-supported, then longest, then leftmost."""
    ranked = sorted(
        candidates,
        key=lambda s: (-candidates[s].weight, -(s.end - s.start), s.start, s.label),
    )
    taken: set[int] = set()
    kept: list[Span] = []
    for span in ranked:
        positions = range(span.start, span.end)
        if taken.isdisjoint(positions):
            taken.update(positions)
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


class CombinationRule(ABC):
    """Which spans a combination accepts, given their support among the members."""

    name: str

    @abstractmethod
    def accepts(self, support: Support, total_weight: float, n_members: int) -> bool: ...

    def applicable(self, n_members: int) -> bool:
        """Whether the rule can be applied to this many members."""
        return n_members >= 1

    def describe(self) -> str:
        return self.name

    def combine(self, members: Members, weights: Sequence[float]) -> list[TaggedPrediction]:
        """One prediction per sentence: the accepted spans as valid IOB2 tags.

        `members` must be aligned (same sentences in the same order, see `align`).
        """
        if len(members) != len(weights):
            raise ValueError(f"{len(members)} members but {len(weights)} weights")
        if not self.applicable(len(members)):
            raise ValueError(f"{self.describe()} cannot combine {len(members)} members")
        weights = usable_weights(weights)
        total = sum(weights)
        combined: list[TaggedPrediction] = []
        for sentence_predictions in zip(*members, strict=True):
            first = sentence_predictions[0]
            support: dict[Span, Support] = {}
            for prediction, weight in zip(sentence_predictions, weights, strict=True):
                for span in set(tags_to_spans(prediction.predicted)):
                    seen = support.get(span, Support(0.0, 0))
                    support[span] = Support(seen.weight + weight, seen.count + 1)
            accepted = {
                span: s
                for span, s in support.items()
                if self.accepts(s, total, len(sentence_predictions))
            }
            tags = spans_to_tags(len(first.tokens), resolve_overlaps(accepted))
            combined.append(TaggedPrediction(first.sentence_id, first.tokens, first.gold, tags))
        return combined


class Vote(CombinationRule):
    """Weighted majority: a span needs more than half of the total weight."""

    name = "vote"

    def accepts(self, support: Support, total_weight: float, n_members: int) -> bool:
        return support.weight > total_weight / 2


class Intersection(CombinationRule):
    """Spans that at least `min_agree` members predicted (all of them when None)."""

    name = "intersection"

    def __init__(self, min_agree: int | None = None) -> None:
        if min_agree is not None and min_agree < 1:
            raise ValueError(f"intersection.min_agree must be at least 1, got {min_agree}")
        self.min_agree = min_agree

    def accepts(self, support: Support, total_weight: float, n_members: int) -> bool:
        needed = n_members if self.min_agree is None else self.min_agree
        return support.count >= needed

    def applicable(self, n_members: int) -> bool:
        return n_members >= (self.min_agree or 1)

    def describe(self) -> str:
        return self.name if self.min_agree is None else f"{self.name}>={self.min_agree}"


class Union(CombinationRule):
    """Every span any member predicted (overlaps resolved by support)."""

    name = "union"

    def accepts(self, support: Support, total_weight: float, n_members: int) -> bool:
        return True


@dataclass(frozen=True)
class Choice:
    """A rule and the members (indices into the selected runs) it combines."""

    rule: CombinationRule
    member_indices: tuple[int, ...]
    dev_f1: float

    def apply(self, members: Members, weights: Sequence[float]) -> list[TaggedPrediction]:
        chosen = [members[i] for i in self.member_indices]
        return self.rule.combine(chosen, [weights[i] for i in self.member_indices])

    def describe(self, names: Sequence[str]) -> str:
        return f"{self.rule.describe()}({', '.join(names[i] for i in self.member_indices)})"


class Ensembler(ABC):
    """Chooses, from dev predictions only, what to combine and how."""

    name: str

    @abstractmethod
    def choose(self, dev_members: Members, weights: Sequence[float]) -> Choice: ...


class AllMembers(Ensembler):
    """One rule over all selected runs (`ensemble=vote|intersection|union`)."""

    def __init__(self, rule: CombinationRule) -> None:
        self.rule = rule
        self.name = rule.describe()

    def choose(self, dev_members: Members, weights: Sequence[float]) -> Choice:
        indices = tuple(range(len(dev_members)))
        dev = self.rule.combine(dev_members, weights)
        return Choice(self.rule, indices, score_predictions(dev).f1)


class BestCombination(Ensembler):
    """The paper's Best-Ensemble: every rule over every subset of the runs, the best on dev.

    Ties on dev F1 go to fewer members, then to the earlier runs and rule, so the choice is
    deterministic. Test predictions are not an input: the chosen combination is only applied
    to them afterwards.
    """

    name = "best"

    def __init__(
        self,
        rules: Sequence[CombinationRule],
        min_members: int = 2,
        max_members: int | None = None,
    ) -> None:
        if not rules:
            raise ValueError("ensemble=best needs at least one rule in ensemble.rules")
        if min_members < 1:
            raise ValueError(f"ensemble.min_members must be at least 1, got {min_members}")
        self.rules = list(rules)
        self.min_members = min_members
        self.max_members = max_members

    def candidates(self, n_members: int) -> list[tuple[CombinationRule, tuple[int, ...]]]:
        largest = n_members if self.max_members is None else min(self.max_members, n_members)
        return [
            (rule, subset)
            for size in range(self.min_members, largest + 1)
            for subset in itertools.combinations(range(n_members), size)
            for rule in self.rules
            if rule.applicable(size)
        ]

    def choose(self, dev_members: Members, weights: Sequence[float]) -> Choice:
        candidates = self.candidates(len(dev_members))
        if not candidates:
            raise ValueError(
                f"ensemble=best: no combination of {len(dev_members)} runs has at least "
                f"{self.min_members} members; select more runs or lower ensemble.min_members"
            )
        best: Choice | None = None
        for rule, subset in tqdm(candidates, desc="ensemble=best on dev", unit="combination"):
            dev = rule.combine([dev_members[i] for i in subset], [weights[i] for i in subset])
            f1 = score_predictions(dev).f1
            if best is None or f1 > best.dev_f1:
                best = Choice(rule, subset, f1)
        assert best is not None
        return best
