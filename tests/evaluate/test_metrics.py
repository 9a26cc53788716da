from __future__ import annotations

from hilgen.evaluate.metrics import score_tags


def test_seqeval_strict_scores() -> None:
    gold = [["B-D", "I-D", "O", "B-C"]]
    pred = [["B-D", "I-D", "O", "O"]]
    scores = score_tags(gold, pred)
    assert scores.precision == 100.0
    assert scores.recall == 50.0
    assert scores.n_gold == 2 and scores.n_predicted == 1
    assert scores.per_type["C"].f1 == 0.0
    # strict mode: an entity starting with I- is not an entity
    assert score_tags([["B-D", "I-D"]], [["I-D", "I-D"]]).f1 == 0.0
