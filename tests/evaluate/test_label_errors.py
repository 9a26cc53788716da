"""The error listing behind distant-label checks: every unmatched span lands in one kind."""

from __future__ import annotations

from pathlib import Path

from hilgen.data.types import TaggedPrediction
from hilgen.evaluate.label_errors import errors_table, label_errors, main
from hilgen.evaluate.prediction_files import write_predictions_jsonl


def test_each_unmatched_span_is_counted_in_its_kind() -> None:
    tokens = ["Drugs", "and", "renal", "injury", "with", "lithium", "or", "pain", "."]
    gold = ["O", "O", "B-D", "I-D", "O", "B-D", "O", "B-D", "O"]
    tagged = ["B-C", "O", "O", "B-D", "O", "B-C", "O", "O", "O"]
    errors = label_errors([TaggedPrediction("s", tokens, gold, tagged)] * 2)
    assert errors.by_kind["spurious"] == {("drugs", "C"): 2}
    assert errors.by_kind["boundary"] == {("injury", "D"): 2}
    assert errors.by_kind["wrong_type"] == {("lithium", "C (gold D)"): 2}
    assert errors.by_kind["missed"] == {("pain", "D"): 2}
    assert errors.as_metrics("train_labels")["train_labels_errors/missed"] == 2.0
    table = errors_table(errors, top=1)
    assert "| spurious   | (all 2)" in table and "| drugs" in table


def test_exact_matches_are_no_errors() -> None:
    tags = ["B-D", "I-D", "O"]
    errors = label_errors([TaggedPrediction("s", ["a", "b", "c"], tags, tags)])
    assert errors.totals() == {"spurious": 0, "missed": 0, "wrong_type": 0, "boundary": 0}


def test_the_command_reads_a_runs_predictions_file(tmp_path: Path, capsys) -> None:
    """`python -m hilgen.evaluate.label_errors <predictions.jsonl>` prints the table; a bad
    file is one message naming its line, and exit status 2."""
    tokens, gold, tagged = ["a", "b", "c"], ["B-D", "O", "O"], ["O", "O", "B-D"]
    path = tmp_path / "full_dev.jsonl"
    write_predictions_jsonl(path, [TaggedPrediction("s", tokens, gold, tagged)])
    assert main([str(path), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "| spurious   | (all 1)" in out and "| missed     | (all 1)" in out
    path.write_text('{"sentence_id": "s"}\n')
    assert main([str(path)]) == 2
    assert f"{path}:1:" in capsys.readouterr().err
