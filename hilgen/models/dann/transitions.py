"""StructShot's abstract transitions between IO tags, estimated from the support tags."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from hilgen.data.iob import OUTSIDE


@dataclass(frozen=True)
class AbstractTransitions:
    """StructShot's label-agnostic transition probabilities between IO tags.

    Rows sum to one: (o_to_o, o_to_i), (i_to_o, i_to_same, i_to_other), (start_o, start_i).
    O->I and start->I mass is shared evenly among labels, I->other among the other labels.
    """

    start_o: float
    start_i: float
    o_to_o: float
    o_to_i: float
    i_to_o: float
    i_to_same: float
    i_to_other: float

    @classmethod
    def estimate(
        cls, io_sequences: Sequence[Sequence[str]], n_labels: int, smoothing: float = 1.0
    ) -> AbstractTransitions:
        """Counts over IO-tagged sentences plus `smoothing` per possible event; with one label
        there is no "other" label, so I->other gets no mass."""
        counts: Counter[str] = Counter()
        for tags in io_sequences:
            if not tags:
                continue
            counts["start_o" if tags[0] == OUTSIDE else "start_i"] += 1
            for previous, current in zip(tags, tags[1:], strict=False):
                if previous == OUTSIDE:
                    counts["o_to_o" if current == OUTSIDE else "o_to_i"] += 1
                elif current == OUTSIDE:
                    counts["i_to_o"] += 1
                else:
                    counts["i_to_same" if current == previous else "i_to_other"] += 1

        def normalised(events: list[str]) -> dict[str, float]:
            smoothed = {event: counts[event] + smoothing for event in events}
            total = sum(smoothed.values())
            return {event: value / total for event, value in smoothed.items()}

        from_i = ["i_to_o", "i_to_same"] + (["i_to_other"] if n_labels > 1 else [])
        probabilities = (
            normalised(["start_o", "start_i"])
            | normalised(["o_to_o", "o_to_i"])
            | {"i_to_other": 0.0}
            | normalised(from_i)
        )
        return cls(**probabilities)

    def log_scores(self, n_labels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """([from, to] transition, [to] start) log-probabilities over `io_tagset` order."""
        n_tags = n_labels + 1
        transitions = torch.empty((n_tags, n_tags))
        transitions[0, 0] = self.o_to_o
        transitions[0, 1:] = self.o_to_i / n_labels
        transitions[1:, 0] = self.i_to_o
        transitions[1:, 1:] = self.i_to_other / max(n_labels - 1, 1)
        transitions[1:, 1:].fill_diagonal_(self.i_to_same)
        start = torch.tensor([self.start_o] + [self.start_i / n_labels] * n_labels)
        return transitions.log(), start.log()
