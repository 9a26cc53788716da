"""A linear-chain CRF over the BERT tagger's word scores (`model.head=crf`).

The linear head scores each word alone and Viterbi only forbids invalid IOB2 moves; a CRF also
learns how likely each move is (O -> B-X, B-X -> I-X, I-X -> O, ...), and trains the word scores
and those transitions together on whole tag sequences, so a label's mentions are scored as
spans, not as words that happen to agree. Invalid IOB2 moves keep a fixed large penalty on top
of the learnt scores, so decoding stays valid IOB2 (strict seqeval drops an I- span that has
no B-).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hilgen.models.decoding import allowed_transitions, start_scores, viterbi_decode


class LinearChainCRF(nn.Module):
    """Learnt start, transition and end scores over `tagset`, plus the IOB2 constraints.

    Emissions are per-word scores, [n_words, n_tags]; log-softmaxed scores do as well as raw
    ones, since a constant per word cancels between a path's score and the partition function.
    """

    def __init__(self, tagset: Sequence[str]) -> None:
        super().__init__()
        n_tags = len(tagset)
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))
        constraints = {"transition": allowed_transitions(tagset), "start": start_scores(tagset)}
        for name, penalties in constraints.items():
            self.register_buffer(f"{name}_constraints", penalties, persistent=False)

    def constrained_scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """([from, to] transition, [to] start, [from] end) scores with IOB2's penalties."""
        return (
            self.transitions + self.transition_constraints,
            self.start + self.start_constraints,
            self.end,
        )

    def log_likelihood(
        self, emissions: Sequence[torch.Tensor], tags: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """[n_sentences] log P(tags | emissions) of each sentence's gold tag ids; 0 for a
        sentence without words. Sentences are padded and run through the forward algorithm
        together."""
        if len(emissions) != len(tags):
            raise ValueError(f"{len(emissions)} emission matrices for {len(tags)} tag sequences")
        transitions, start, end = self.constrained_scores()
        if not any(len(e) for e in emissions):
            return transitions.new_zeros(len(emissions))
        lengths = torch.tensor([len(e) for e in emissions], device=transitions.device)
        padded = nn.utils.rnn.pad_sequence(list(emissions), batch_first=True)
        gold = nn.utils.rnn.pad_sequence([t.to(transitions.device) for t in tags], batch_first=True)
        n_sentences, n_steps, _ = padded.shape
        steps = torch.arange(n_steps, device=transitions.device)
        mask = steps[None, :] < lengths[:, None]  # [n_sentences, n_steps]
        rows = torch.arange(n_sentences, device=transitions.device)

        word_scores = padded.gather(2, gold.unsqueeze(2)).squeeze(2)
        move_scores = transitions[gold[:, :-1], gold[:, 1:]]
        last_tags = gold[rows, (lengths - 1).clamp_min(0)]
        gold_score = (
            (word_scores * mask).sum(1)
            + (move_scores * mask[:, 1:]).sum(1)
            + start[gold[:, 0]]
            + end[last_tags]
        )

        alpha = start + padded[:, 0]  # [n_sentences, n_tags]
        for step in range(1, n_steps):
            moved = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + padded[:, step]
            alpha = torch.where(mask[:, step, None], moved, alpha)
        log_partition = torch.logsumexp(alpha + end, dim=1)
        return torch.where(lengths > 0, gold_score - log_partition, 0.0)

    def decode(self, emissions: torch.Tensor) -> list[int]:
        """The best tag index path for one sentence's [n_words, n_tags] emissions."""
        transitions, start, end = (s.detach().float().cpu() for s in self.constrained_scores())
        return viterbi_decode(emissions.detach().float().cpu(), transitions, start, end)
