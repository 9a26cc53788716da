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


def test_io_scores_collapse_boundaries_like_the_papers_code() -> None:
    # An entity that starts with I- counts in IO scoring (strict drops it) ...
    lone_inside = score_tags([["B-D", "I-D", "O"]], [["I-D", "I-D", "O"]])
    assert (lone_inside.f1, lone_inside.io_f1) == (0.0, 100.0)
    # ... two adjacent same-type mentions are one IO entity, so a merged prediction matches ...
    merged = score_tags([["B-D", "B-D", "O", "B-C"]], [["B-D", "I-D", "O", "O"]])
    assert merged.f1 == 0.0
    assert (merged.io_precision, merged.io_recall) == (100.0, 50.0)
    # ... but a wrong extent or type is still wrong.
    assert score_tags([["B-D", "I-D", "O"]], [["O", "B-D", "O"]]).io_f1 == 0.0
    assert score_tags([["B-D", "I-D"]], [["B-C", "I-C"]]).io_f1 == 0.0
    assert {"test_io_f1", "test_io_precision", "test_io_recall"} <= set(merged.as_metrics("test"))
