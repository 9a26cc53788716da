"""Decoding per-word tag scores into valid IOB2 sequences.

A token classifier trained on a handful of long mentions (5-shot samples are dominated by them)
happily emits I- tags with no B- before them, which strict seqeval then drops. Viterbi search
over the allowed transitions (I-X only after B-X or I-X) returns the best *valid* sequence instead.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    [from, to] `transitions`, [to] `start` and, optionally, [from] `end` scores."""
    if emissions.shape[0] == 0:
        return []
    score = start + emissions[0]
    backpointers: list[torch.Tensor] = []
    for t in range(1, emissions.shape[0]):
        total = score.unsqueeze(1) + transitions  # [from, to]
        score, best_from = total.max(dim=0)
        score = score + emissions[t]
        backpointers.append(best_from)
    if end is not None:
        score = score + end
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
