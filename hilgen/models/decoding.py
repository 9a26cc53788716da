"""Decoding per-word tag scores into valid IOB2 sequences.

A token classifier trained on a handful of long mentions (5-shot samples are dominated by them)
happily emits I- tags with no B- before them, which strict seqeval then drops. Viterbi search
over the allowed transitions (I-X only after B-X or I-X) returns the best *valid* sequence instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hilgen.data.iob import split_tag

NEG_INF = -1e4


def allowed_transitions(tagset: Sequence[str]) -> torch.Tensor:
    """[from, to] matrix: 0 where IOB2 allows the transition, NEG_INF where it does not."""
    n = len(tagset)
    matrix = torch.zeros((n, n))
    for j, to_tag in enumerate(tagset):
        prefix, label = split_tag(to_tag)
        if prefix != "I":
            continue
        for i, from_tag in enumerate(tagset):
            from_prefix, from_label = split_tag(from_tag)
            if from_prefix == "O" or from_label != label:
                matrix[i, j] = NEG_INF
    return matrix


def start_scores(tagset: Sequence[str]) -> torch.Tensor:
    """A sentence may not start with an I- tag."""
    return torch.tensor([NEG_INF if split_tag(t)[0] == "I" else 0.0 for t in tagset])


def viterbi_decode(
    emissions: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor | None = None,
) -> list[int]:
    """Best tag index path for [n_words, n_tags] emission scores (log-probabilities), with
    [from, to] `transitions`, [to] `start` and, optionally, [from] `end` scores.

    The search runs in NumPy on CPU copies: a step is a few dozen numbers, where each torch
    call costs more than the arithmetic. Ties go to the lowest tag index, as torch's `max`."""
    scores = emissions.detach().cpu().numpy()
    if scores.shape[0] == 0:
        return []
    steps = transitions.detach().cpu().numpy()
    score = start.detach().cpu().numpy() + scores[0]
    columns = np.arange(steps.shape[1])
    backpointers: list[np.ndarray] = []
    for t in range(1, scores.shape[0]):
        total = score[:, None] + steps  # [from, to]
        best_from = total.argmax(axis=0)
        score = total[best_from, columns] + scores[t]
        backpointers.append(best_from)
    if end is not None:
        score = score + end.detach().cpu().numpy()
    path = [int(score.argmax())]
    for best_from in reversed(backpointers):
        path.append(int(best_from[path[-1]]))
    return path[::-1]


class IOB2Decoder:
    """Turns per-word log-probabilities into IOB2 tags: `viterbi` (valid by construction) or
    `argmax` (raw, for ablations). `transitions` may add learned or abstract scores on top of
    the hard IOB2 constraints (StructShot-style)."""

    def __init__(
        self,
        tagset: Sequence[str],
        method: str = "viterbi",
        transitions: torch.Tensor | None = None,
    ) -> None:
        if method not in {"viterbi", "argmax"}:
            raise ValueError(f"unknown decoding method {method!r}; expected viterbi or argmax")
        self.tagset = list(tagset)
        self.method = method
        self.transitions = allowed_transitions(self.tagset)
        if transitions is not None:
            self.transitions = self.transitions + transitions
        self.start = start_scores(self.tagset)

    def decode(self, log_probs: torch.Tensor) -> list[str]:
        log_probs = log_probs.detach().float().cpu()
        if self.method == "argmax":
            path = log_probs.argmax(dim=-1).tolist()
        else:
            path = viterbi_decode(log_probs, self.transitions, self.start)
        return [self.tagset[i] for i in path]
