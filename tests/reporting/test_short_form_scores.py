"""Scoring short-form mentions apart from the rest, from a run's predictions file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hilgen.data.types import TaggedPrediction
from hilgen.evaluate.prediction_files import write_predictions_jsonl
from hilgen.reporting.short_form_scores import main, short_form_counts

TOKENS = ["Duchenne", "muscular", "dystrophy", "(", "DMD", ")", "and", "APC", "in", "mice"]
GOLD = ["B-Disease", "I-Disease", "I-Disease", "O", "B-Disease", "O", "O", "B-Disease", "O", "O"]


def prediction(predicted: list[str]) -> TaggedPrediction:
    return TaggedPrediction("s1", TOKENS, GOLD, predicted)


def test_spans_are_scored_by_their_own_shape() -> None:
    # The long form is found; of the short forms "DMD" is found and "mice" is tagged wrongly
    # (a long-shaped false positive); "APC" is missed.
    tagged = ["B-Disease", "I-Disease", "I-Disease", "O", "B-Disease", "O", "O", "O", "O"]
    counts = short_form_counts([prediction([*tagged, "B-Disease"])])
    short, other = counts["short form"], counts["other"]
    assert (short.gold, short.predicted, short.correct_gold) == (2, 1, 1)
    assert (other.gold, other.predicted, other.correct_predicted) == (1, 2, 1)
    assert (short.recall, short.precision) == (50.0, 100.0)
    assert other.precision == 50.0
    assert short.f1 == pytest.approx(100 * 2 / 3)


def test_a_short_form_with_the_wrong_label_is_not_correct() -> None:
    tagged = ["O", "O", "O", "O", "B-Gene", "O", "O", "B-Disease", "O", "O"]
    short = short_form_counts([prediction(tagged)])["short form"]
    assert (short.correct_gold, short.correct_predicted, short.predicted) == (1, 1, 2)


def test_the_command_prints_a_row_per_run_and_their_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for seed, tagged in enumerate([GOLD, ["O"] * len(TOKENS)], start=1):
        path = tmp_path / f"run-s{seed}" / "predictions" / "test.jsonl"
        path.parent.mkdir(parents=True)
        write_predictions_jsonl(path, [prediction(tagged)])
        paths.append(str(path))
    assert main(paths) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "run-s1/test" in lines[2] and "run-s2/test" in lines[3]
    mean = [cell.strip() for cell in lines[4].split("|")[1:-1]]
    assert mean[0] == "mean" and mean[2] == "50.00 ± 70.71"  # short-form recall: 100 and 0
    assert mean[3] == "100.00"  # the run that tags nothing has no precision to average


def test_a_broken_file_is_one_message_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps({"sentence_id": "s1", "tokens": ["a"]}) + "\n", encoding="utf-8")
    assert main([str(path)]) == 2
    error = capsys.readouterr().err
    assert f"{path}:1:" in error and "Traceback" not in error
