"""The label and type diagnoses on hand-built predictions: counts, confusions, rescored F1."""

from __future__ import annotations

import pytest

from hilgen.data.types import TaggedPrediction
from hilgen.reporting.label_diagnosis import (
    diagnose_label,
    diagnose_types,
    diagnosis_table,
    types_table,
)

PREDICTIONS = [
    # gold: one Specific mention; predicted as Composite with the same boundaries
    TaggedPrediction(
        "s1", ["breast", "cancer", "risk"], ["B-Spec", "I-Spec", "O"], ["B-Comp", "I-Comp", "O"]
    ),
    # gold: one Composite mention found; one Composite over-predicted on an O word
    TaggedPrediction(
        "s2",
        ["breast", "and", "ovarian", "cancer", "genes"],
        ["B-Comp", "I-Comp", "I-Comp", "I-Comp", "O"],
        ["B-Comp", "I-Comp", "I-Comp", "I-Comp", "B-Comp"],
    ),
    # a correct Specific mention, untouched by the diagnosis
    TaggedPrediction("s3", ["asthma", "."], ["B-Spec", "O"], ["B-Spec", "O"]),
]


def test_diagnosis_counts_a_labels_predictions_and_rescoring_without_them() -> None:
    diagnosis = diagnose_label(PREDICTIONS, "Comp")
    assert (diagnosis.predicted, diagnosis.gold) == (3, 1)
    assert diagnosis.exact_other_type == {"Spec": 1}
    # with it: 2 of 4 predicted right, 2 of 3 gold found; without it: 1 of 1, 1 of 3
    assert diagnosis.f1 == pytest.approx(100 * 2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
    assert diagnosis.f1_without_label == pytest.approx(100 * 2 * 1 * (1 / 3) / (1 + 1 / 3))
    assert diagnose_label(PREDICTIONS, "Spec").predicted == 1


def test_diagnosis_table_has_a_line_per_run_and_a_mean_per_name() -> None:
    diagnosis = diagnose_label(PREDICTIONS, "Comp")
    table = diagnosis_table([("hilgen/dann", 1, diagnosis), ("hilgen/dann", 2, diagnosis)])
    lines = table.splitlines()
    assert len(lines) == 2 + 2 + 1  # header, rule, two runs, one mean
    assert "Spec 1" in lines[2]
    assert "**hilgen/dann** mean" in lines[-1] and "2 seeds" in lines[-1]


def test_type_diagnosis_tells_found_mentions_from_right_types() -> None:
    diagnosis = diagnose_types(PREDICTIONS)
    # typed: 2 of 4 predicted spans right; untyped the mistyped mention counts: 3 of 4
    assert diagnosis.f1 == pytest.approx(100 * 2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
    assert diagnosis.untyped_f1 == pytest.approx(100 * 2 * (3 / 4) * 1 / (3 / 4 + 1))
    assert diagnosis.confusion == {("Spec", "Comp"): 1, ("Comp", "Comp"): 1, ("Spec", "Spec"): 1}
    assert (diagnosis.matched, diagnosis.right_type) == (3, 2)
    lines = types_table([("none/dann", 1, diagnosis), ("none/dann", 2, diagnosis)]).splitlines()
    assert len(lines) == 2 + 2 + 1
    assert "67%" in lines[2] and "Spec as Comp 1" in lines[2]
    # the mean line sums the spans of both seeds
    assert (
        "**none/dann** mean" in lines[-1] and "| 6 " in lines[-1] and "Spec as Comp 2" in lines[-1]
    )
