from __future__ import annotations

import itertools

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hilgen.data.iob import labels_to_tagset
from hilgen.models.decoding import IOB2Decoder, allowed_transitions, start_scores, viterbi_decode
from tests.helpers.iob import is_valid_iob2

TAGSET = labels_to_tagset(["Disease", "Chemical"])


# No per-example deadline: the property is validity, and a busy machine is no counterexample.
@settings(deadline=None)
@given(st.lists(st.lists(st.floats(-20, 0), min_size=5, max_size=5), min_size=1, max_size=30))
def test_viterbi_always_yields_valid_iob2(rows: list[list[float]]) -> None:
    decoder = IOB2Decoder(TAGSET)
    tags = decoder.decode(torch.tensor(rows))
    assert len(tags) == len(rows)
    assert is_valid_iob2(tags)


def test_viterbi_repairs_i_without_b_that_argmax_emits() -> None:
    probs = torch.tensor([[0.2, 0.3, 0.5, 0.0, 0.0], [0.1, 0.1, 0.8, 0.0, 0.0]]) + 1e-6
    log_probs = probs.log()
    assert IOB2Decoder(TAGSET, "argmax").decode(log_probs) == ["I-Disease", "I-Disease"]
    assert IOB2Decoder(TAGSET).decode(log_probs) == ["B-Disease", "I-Disease"]


@settings(deadline=None)
@given(
    st.lists(st.lists(st.floats(-5, 0), min_size=5, max_size=5), min_size=1, max_size=4),
    st.lists(st.floats(-2, 2), min_size=5, max_size=5),
)
def test_viterbi_finds_the_best_scoring_path(rows: list[list[float]], end: list[float]) -> None:
    """Against every path of a short sentence: the path found scores the most."""
    emissions, final = torch.tensor(rows), torch.tensor(end)
    transitions, start = allowed_transitions(TAGSET), start_scores(TAGSET)

    def score(path: tuple[int, ...]) -> float:
        total = start[path[0]] + emissions[0, path[0]] + final[path[-1]]
        for t in range(1, len(path)):
            total += transitions[path[t - 1], path[t]] + emissions[t, path[t]]
        return float(total)

    best = max(score(p) for p in itertools.product(range(len(TAGSET)), repeat=len(rows)))
    assert score(tuple(viterbi_decode(emissions, transitions, start, final))) >= best - 1e-4


def test_ties_go_to_the_first_tag() -> None:
    assert IOB2Decoder(TAGSET).decode(torch.zeros((3, len(TAGSET)))) == ["O", "O", "O"]
