from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hilgen.data.iob import labels_to_tagset
from hilgen.models.decoding import IOB2Decoder
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
